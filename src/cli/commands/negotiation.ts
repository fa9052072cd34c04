import { setTimeout as sleep } from 'node:timers/promises';
import { defineCommand, intOption, stringOption, type CommandIo } from '../command';
import { UsageError } from '../../errors';
import { NEGOTIATION_STATES } from '../../statemachine/negotiation';
import { formatTable, MANAGEMENT_DESCRIPTION, MANAGEMENT_HELP, MANAGEMENT_OPTIONS, managementClient, seg, type ManagementClient } from '../management-client';
import { dspUrlArgument, providerIdOption } from './catalog';

interface ApiNegotiation {
  id: string;
  role: 'provider' | 'consumer';
  providerPid: string | null;
  consumerPid: string | null;
  counterpartyId: string;
  counterpartyAddress: string | null;
  state: string;
  assetId: string | null;
  offerId: string | null;
  agreementId: string | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
}

interface TimelineEvent {
  seq: number;
  at: string;
  kind: string;
  messageType: string | null;
  fromState: string | null;
  toState: string | null;
  detail: unknown;
}

interface ApiNegotiationDetail extends ApiNegotiation {
  pendingMessages?: Array<{ messageType: string; attempts: number; lastError: string | null }>;
  timeline?: TimelineEvent[];
}

const TERMINAL = new Set(['FINALIZED', 'TERMINATED']);
/** Exit code of `negotiate` when the negotiation did not end in time (as timeout(1)). */
export const TIMEOUT_EXIT_CODE = 124;

const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

/** What an event's detail says, in a few words: reasons, the policy decision, delivery problems. */
export function describeDetail(detail: unknown): string {
  if (detail === null || detail === undefined || typeof detail !== 'object') return detail == null ? '' : text(detail);
  const d = detail as Record<string, unknown>;
  const parts: string[] = [];
  if (typeof d.allowed === 'boolean') parts.push(d.allowed ? 'policy: allowed' : 'policy: DENIED');
  if (typeof d.code === 'string') parts.push(`code ${d.code}`);
  if (d.reason !== undefined && d.reason !== null) parts.push(`reason: ${text(d.reason)}`);
  if (Array.isArray(d.reasons) && d.reasons.length) parts.push(`reasons: ${d.reasons.map(text).join('; ')}`);
  if (d.rejected !== undefined) parts.push(`rejected: ${text(d.rejected)}`);
  if (d.skipped !== undefined) parts.push(`skipped: ${text(d.skipped)}`);
  if (typeof d.status === 'number') parts.push(`HTTP ${d.status}`);
  if (d.gaveUp) parts.push('gave up');
  if (d.error !== undefined && d.error !== null) parts.push(`error: ${text(d.error)}`);
  if (typeof d.offer === 'string') parts.push(`offer ${d.offer}`);
  if (typeof d.agreement === 'string') parts.push(`agreement ${d.agreement}`);
  if (typeof d.provider === 'string') parts.push(`provider ${d.provider}`);
  return parts.join(', ').slice(0, 1000);
}

/** Whether an event explains something (a reason, a decision, a refusal), for the termination summary. */
function explains(e: TimelineEvent): boolean {
  const d = (e.detail ?? {}) as Record<string, unknown>;
  return typeof d === 'object' && ['reason', 'reasons', 'rejected', 'allowed', 'error', 'code'].some((k) => d[k] !== undefined && d[k] !== null);
}

export function timelineLine(e: TimelineEvent): string {
  const transition = e.toState ? `${e.fromState ?? '-'}→${e.toState}` : e.fromState ? `in ${e.fromState}` : '';
  return [e.at, e.kind.padEnd(11), (e.messageType ?? '').padEnd(36), transition.padEnd(22), describeDetail(e.detail)].join('  ').trimEnd();
}

function printNegotiation(n: ApiNegotiationDetail, io: CommandIo): void {
  const row = (k: string, v: string | null | undefined) => {
    if (v) io.out(`${`${k}:`.padEnd(15)}${v}`);
  };
  row('negotiation', n.id);
  row('role', n.role);
  row('state', n.state);
  row('counterparty', `${n.counterpartyId}${n.counterpartyAddress ? ` at ${n.counterpartyAddress}` : ''}`);
  row('asset', n.assetId);
  row('offer', n.offerId);
  row('agreement', n.agreementId);
  row('error', n.error);
  row('provider pid', n.providerPid);
  row('consumer pid', n.consumerPid);
  row('created', n.createdAt);
  row('updated', n.updatedAt);
  for (const p of n.pendingMessages ?? []) row('pending', `${p.messageType} (${p.attempts} attempt${p.attempts === 1 ? '' : 's'}${p.lastError ? `, last error: ${p.lastError}` : ''})`);
  const timeline = n.timeline ?? [];
  io.out(`timeline (${timeline.length} event${timeline.length === 1 ? '' : 's'}):`);
  for (const e of timeline) io.out(`  ${timelineLine(e)}`);
}

async function getNegotiation(client: ManagementClient, id: string): Promise<ApiNegotiationDetail> {
  return client.get<ApiNegotiationDetail>(`/negotiations/${seg(id)}`);
}

export const negotiateCommand = defineCommand(
  {
    name: 'negotiate',
    summary: "negotiate a contract for one of a provider's offers and wait for the outcome",
    args: '<dsp-url> <offer-id>',
    positionals: [2, 2],
    description:
      MANAGEMENT_DESCRIPTION +
      '\nStarts the negotiation as consumer, then follows it until FINALIZED (exit 0, prints the agreement),\n' +
      'TERMINATED (exit 1, prints the reasons) or the timeout (exit 124; the negotiation goes on:\n' +
      'follow it with "hedgerow negotiations <id>"). Offer ids are listed by "hedgerow catalog <dsp-url>".',
    options: {
      'provider-id': { type: 'string' },
      dataset: { type: 'string' },
      purpose: { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      ...MANAGEMENT_OPTIONS,
    },
    async run({ values, positionals }, io) {
      const address = dspUrlArgument(positionals[0]!);
      const offerId = positionals[1]!;
      if (!offerId.trim()) throw new UsageError('the offer id must not be empty');
      const providerId = providerIdOption(values, 'negotiate');
      const timeoutSeconds = intOption(values, 'timeout', 1, 86_400) ?? 60;
      const client = managementClient(values, io);

      const started = await client.post<ApiNegotiation>('/negotiations', {
        counterPartyAddress: address,
        counterPartyId: providerId,
        offerId,
        datasetId: stringOption(values, 'dataset'),
        purpose: stringOption(values, 'purpose'),
      });
      if (!values.json) io.out(`negotiation ${started.id} started with ${providerId} for offer ${offerId}`);

      const deadline = Date.now() + timeoutSeconds * 1000;
      let n: ApiNegotiationDetail = started;
      let delay = 200;
      while (!TERMINAL.has(n.state)) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        await sleep(Math.min(delay, left));
        delay = Math.min(delay * 1.5, 2000);
        n = await getNegotiation(client, started.id);
      }
      if (!n.timeline) n = await getNegotiation(client, started.id);

      if (n.state === 'FINALIZED') {
        const agreement = n.agreementId ? await client.get<Record<string, unknown>>(`/agreements/${seg(n.agreementId)}`) : null;
        if (values.json) {
          io.out(JSON.stringify({ outcome: 'FINALIZED', negotiation: n, agreement }, null, 2));
          return 0;
        }
        io.out(`negotiation ${n.id} FINALIZED`);
        io.out(`agreement ${n.agreementId ?? '(none recorded)'}`);
        if (agreement) io.out(JSON.stringify((agreement as { agreement?: unknown }).agreement ?? agreement, null, 2));
        return 0;
      }

      if (n.state === 'TERMINATED') {
        const explaining = (n.timeline ?? []).filter(explains).slice(-5);
        if (values.json) {
          io.out(JSON.stringify({ outcome: 'TERMINATED', negotiation: n }, null, 2));
        } else {
          io.out(`negotiation ${n.id} TERMINATED`);
          io.out(`reason: ${n.error ?? '(none given)'}`);
          for (const e of explaining) io.out(`  ${timelineLine(e)}`);
        }
        io.err(`hedgerow: negotiation ${n.id} was terminated: ${n.error ?? 'no reason given'}`);
        return 1;
      }

      if (values.json) io.out(JSON.stringify({ outcome: 'TIMEOUT', negotiation: n }, null, 2));
      else {
        io.out(`negotiation ${n.id} is still ${n.state} after ${timeoutSeconds} s`);
        for (const p of n.pendingMessages ?? []) io.out(`  pending ${p.messageType}: ${p.attempts} attempt${p.attempts === 1 ? '' : 's'}${p.lastError ? `, last error: ${p.lastError}` : ''}`);
      }
      io.err(`hedgerow: negotiation ${n.id} still ${n.state} after ${timeoutSeconds} s; it goes on (follow it with "hedgerow negotiations ${n.id}")`);
      return TIMEOUT_EXIT_CODE;
    },
  },
  {
    ...MANAGEMENT_HELP,
    'provider-id': "the provider's participant id, e.g. did:web:coop.example; required",
    dataset: 'the dataset of the offer (saves searching the whole catalog)',
    purpose: 'the purpose we declare; bound into the agreement ("purpose eq <purpose>")',
    timeout: 'seconds to wait for FINALIZED or TERMINATED (default 60)',
    json: 'print the outcome (negotiation, timeline, agreement) as JSON',
  },
);

export const negotiationsCommand = defineCommand(
  {
    name: 'negotiations',
    summary: 'list negotiations, or show one with its timeline (messages, reasons, policy decisions)',
    args: '[id]',
    positionals: [0, 1],
    description: MANAGEMENT_DESCRIPTION,
    options: {
      state: { type: 'string' },
      role: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      ...MANAGEMENT_OPTIONS,
    },
    async run({ values, positionals }, io) {
      const id = positionals[0];
      const state = stringOption(values, 'state')?.toUpperCase();
      const role = stringOption(values, 'role')?.toLowerCase();
      if (state !== undefined && !(NEGOTIATION_STATES as readonly string[]).includes(state)) {
        throw new UsageError(`--state must be one of ${NEGOTIATION_STATES.join(', ')}`);
      }
      if (role !== undefined && role !== 'provider' && role !== 'consumer') throw new UsageError('--role must be provider or consumer');
      const limit = intOption(values, 'limit', 1, 500) ?? 50;
      if (id !== undefined && (state || role || values.limit !== undefined)) throw new UsageError('--state, --role and --limit apply to the list, not to one negotiation');
      const client = managementClient(values, io);

      if (id !== undefined) {
        const n = await getNegotiation(client, id);
        if (values.json) io.out(JSON.stringify(n, null, 2));
        else printNegotiation(n, io);
        return 0;
      }
      const list = await client.get<ApiNegotiation[]>('/negotiations', { state, role, limit });
      if (values.json) {
        io.out(JSON.stringify(list, null, 2));
        return 0;
      }
      if (!list.length) {
        io.out(state || role ? 'no negotiations match' : 'no negotiations yet');
        return 0;
      }
      for (const line of formatTable(
        ['id', 'role', 'state', 'counterparty', 'asset', 'updated'],
        list.map((n) => [n.id, n.role, n.state, n.counterpartyId, n.assetId ?? '', n.updatedAt]),
      ))
        io.out(line);
      if (list.length === limit) io.out(`(first ${limit}; use --limit to see more)`);
      return 0;
    },
  },
  {
    ...MANAGEMENT_HELP,
    state: `only negotiations in this state (${NEGOTIATION_STATES.join(', ')})`,
    role: 'only negotiations where this connector is provider or consumer',
    limit: 'how many to list, newest first (default 50, at most 500)',
    json: 'print as JSON',
  },
);

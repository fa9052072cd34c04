import { setTimeout as sleep } from 'node:timers/promises';
import { defineCommand, intOption, stringOption, type CommandIo } from '../command';
import { UsageError } from '../../errors';
import { NEGOTIATION_STATES } from '../../statemachine/negotiation';
import { listFilters, printProcess, timelineLine, type ProcessDetail, type TimelineEvent } from '../process-view';
import { printList, MANAGEMENT_DESCRIPTION, MANAGEMENT_HELP, MANAGEMENT_OPTIONS, managementClient, seg, type ManagementClient } from '../management-client';
import { dspUrlArgument, providerIdOption } from './catalog';
import type { Negotiation as ApiNegotiation } from '../../store/repositories/negotiations';

type ApiNegotiationDetail = ApiNegotiation & ProcessDetail;

const TERMINAL = new Set(['FINALIZED', 'TERMINATED']);
/** Exit code of `negotiate` when the negotiation did not end in time (as timeout(1)). */
export const TIMEOUT_EXIT_CODE = 124;

/** Whether an event explains something (a reason, a decision, a refusal), for the termination summary. */
function explains(e: TimelineEvent): boolean {
  const d = (e.detail ?? {}) as Record<string, unknown>;
  return typeof d === 'object' && ['reason', 'reasons', 'rejected', 'allowed', 'error', 'code'].some((k) => d[k] !== undefined && d[k] !== null);
}

function printNegotiation(n: ApiNegotiationDetail, io: CommandIo): void {
  printProcess(
    [
      ['negotiation', n.id],
      ['role', n.role],
      ['state', n.state],
      ['counterparty', `${n.counterpartyId}${n.counterpartyAddress ? ` at ${n.counterpartyAddress}` : ''}`],
      ['asset', n.assetId],
      ['offer', n.offerId],
      ['agreement', n.agreementId],
      ['error', n.error],
      ['provider pid', n.providerPid],
      ['consumer pid', n.consumerPid],
      ['created', n.createdAt],
      ['updated', n.updatedAt],
    ],
    n,
    io,
  );
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
      const { state, role, limit } = listFilters(values, NEGOTIATION_STATES, { one: id !== undefined, noun: 'negotiation' });
      const client = managementClient(values, io);

      if (id !== undefined) {
        const n = await getNegotiation(client, id);
        if (values.json) io.out(JSON.stringify(n, null, 2));
        else printNegotiation(n, io);
        return 0;
      }
      const list = await client.get<ApiNegotiation[]>('/negotiations', { state, role, limit });
      return printList(io, list, {
        json: values.json,
        empty: state || role ? 'no negotiations match' : 'no negotiations yet',
        headers: ['id', 'role', 'state', 'counterparty', 'asset', 'updated'],
        rows: (items) => items.map((n) => [n.id, n.role, n.state, n.counterpartyId, n.assetId ?? '', n.updatedAt]),
        limit,
      });
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

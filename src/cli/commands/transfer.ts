import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { configFrom, defineCommand, intOption, stringOption, type CommandIo } from '../command';
import { HedgerowError, UsageError } from '../../errors';
import { lazy } from '../../lazy';
import { TRANSFER_STATES } from '../../statemachine/transfer';
import { printList, MANAGEMENT_DESCRIPTION, MANAGEMENT_HELP, MANAGEMENT_OPTIONS, managementClient, seg, type ManagementClient } from '../management-client';
import { TIMEOUT_EXIT_CODE } from './negotiation';
import { printProcess, listFilters, type ProcessDetail } from '../process-view';
import { dspUrlArgument } from './catalog';
import type { PublicTransfer as ApiTransfer } from '../../management/api';

/**
 * Transfers from the command line, through the management API of the running connector:
 *   hedgerow transfer start <agreement-id>       request a transfer (pull, or push with --push) and wait until it starts
 *   hedgerow transfer suspend|resume|complete|terminate <id>
 *   hedgerow transfers [id]                      list, or one with its timeline
 *   hedgerow fetch <transfer-id> --out FILE      pull the data: resumable, digest-verified, renamed only when complete
 * `transfer` takes subcommands only (the CLI matches the longest command name first, so a bare
 * `transfer <agreement-id>` would shadow an agreement id that happens to read "suspend").
 */

type ApiTransferDetail = ApiTransfer & ProcessDetail;

/** What GET /transfers/:id/data-address and POST /transfers/:id/token return. The token is a secret. */
type PullTarget = import('../../transfer/consumer-data').PullTarget;

/** Refresh a pull token this long before it expires. */
const REFRESH_MARGIN_SECONDS = 60;
const PUSH = 'HttpData-PUSH';

const getTransfer = (client: ManagementClient, id: string) => client.get<ApiTransferDetail>(`/transfers/${seg(id)}`);

function printTransfer(t: ApiTransferDetail, io: CommandIo): void {
  printProcess(
    [
      ['transfer', t.id],
      ['role', t.role],
      ['state', t.state],
      ['format', t.format],
      ['counterparty', `${t.counterpartyId}${t.counterpartyAddress ? ` at ${t.counterpartyAddress}` : ''}`],
      ['agreement', t.agreementId],
      ['asset', t.assetId],
      ['data address', typeof t.dataAddress?.endpoint === 'string' ? t.dataAddress.endpoint : null],
      ['data', t.dataStatus ? `${t.dataStatus}${t.bytes !== null ? `, ${t.bytes} bytes` : ''}` : null],
      ['sha256', t.sha256],
      ['error', t.error],
      ['provider pid', t.providerPid],
      ['consumer pid', t.consumerPid],
      ['created', t.createdAt],
      ['updated', t.updatedAt],
    ],
    t,
    io,
  );
}

function nonEmpty(raw: string | undefined, what: string): string {
  if (raw === undefined || !raw.trim()) throw new UsageError(`${what} must not be empty`);
  return raw.trim();
}

// ------------------------------------------------------------------------------------------------- transfer start

export const transferStartCommand = defineCommand(
  {
    name: 'transfer start',
    summary: 'start a transfer under an agreement (pull, or push with --push) and wait until it is STARTED',
    args: '<agreement-id>',
    positionals: [1, 1],
    description:
      MANAGEMENT_DESCRIPTION +
      '\nRequests the transfer as consumer, then follows it until STARTED (exit 0; fetch pulled data with\n' +
      '"hedgerow fetch <id> --out FILE"), COMPLETED (a push already delivered, exit 0), TERMINATED (exit 1,\n' +
      'prints the reason) or the timeout (exit 124; the transfer goes on: "hedgerow transfers <id>").',
    options: {
      push: { type: 'string' },
      'push-authorization-file': { type: 'string' },
      'provider-address': { type: 'string' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      ...MANAGEMENT_OPTIONS,
    },
    async run({ values, positionals }, io) {
      const agreementId = nonEmpty(positionals[0], 'the agreement id');
      const push = stringOption(values, 'push');
      const authFile = stringOption(values, 'push-authorization-file');
      if (authFile !== undefined && push === undefined) throw new UsageError('--push-authorization-file needs --push URL');
      if (push !== undefined) {
        let url: URL;
        try {
          url = new URL(push);
        } catch {
          throw new UsageError(`--push "${push}" is not a URL`);
        }
        if (url.protocol !== 'https:') throw new UsageError(`--push must be an https:// URL (got ${push})`);
      }
      let authorization: string | undefined;
      if (authFile !== undefined) {
        try {
          authorization = fs.readFileSync(authFile, 'utf8').trim();
        } catch (err) {
          throw new HedgerowError('FILE_UNREADABLE', `cannot read --push-authorization-file ${authFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { exitCode: 66 });
        }
        if (!authorization || /[\r\n]/.test(authorization)) throw new UsageError(`--push-authorization-file ${authFile} must hold one non-empty line (the Authorization value)`);
      }
      const providerAddress = stringOption(values, 'provider-address');
      const timeoutSeconds = intOption(values, 'timeout', 1, 86_400) ?? 60;
      const client = managementClient(values, io);

      const started = await client.post<ApiTransfer>('/transfers', {
        agreementId,
        ...(providerAddress !== undefined ? { providerAddress: dspUrlArgument(providerAddress) } : {}),
        ...(push !== undefined ? { pushTo: { url: push, ...(authorization ? { authorization } : {}) } } : {}),
      });
      if (!values.json) io.out(`transfer ${started.id} requested from ${started.counterpartyId} under agreement ${agreementId} (${started.format})`);

      const deadline = Date.now() + timeoutSeconds * 1000;
      const settled = new Set(['STARTED', 'COMPLETED', 'TERMINATED']);
      let t: ApiTransferDetail = started;
      let delay = 100;
      while (!settled.has(t.state)) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        await sleep(Math.min(delay, left));
        delay = Math.min(delay * 1.5, 2000);
        t = await getTransfer(client, started.id);
      }
      if (!t.timeline) t = await getTransfer(client, started.id);

      if (t.state === 'STARTED' || t.state === 'COMPLETED') {
        if (values.json) {
          io.out(JSON.stringify({ outcome: t.state, transfer: t }, null, 2));
          return 0;
        }
        io.out(`transfer ${t.id} ${t.state}`);
        if (t.format === PUSH) io.out(t.state === 'COMPLETED' ? `the provider pushed the data to ${push ?? 'the push address'}` : `the provider is pushing the data to ${push ?? 'the push address'}`);
        else if (t.state === 'STARTED') io.out(`fetch the data with: hedgerow fetch ${t.id} --out FILE`);
        return 0;
      }
      if (t.state === 'TERMINATED') {
        if (values.json) io.out(JSON.stringify({ outcome: 'TERMINATED', transfer: t }, null, 2));
        else {
          io.out(`transfer ${t.id} TERMINATED`);
          io.out(`reason: ${t.error ?? '(none given)'}`);
        }
        io.err(`hedgerow: transfer ${t.id} was terminated: ${t.error ?? 'no reason given'}`);
        return 1;
      }
      if (values.json) io.out(JSON.stringify({ outcome: 'TIMEOUT', transfer: t }, null, 2));
      else {
        io.out(`transfer ${t.id} is still ${t.state} after ${timeoutSeconds} s`);
        for (const p of t.pendingMessages ?? []) io.out(`  pending ${p.messageType}: ${p.attempts} attempt${p.attempts === 1 ? '' : 's'}${p.lastError ? `, last error: ${p.lastError}` : ''}`);
      }
      io.err(`hedgerow: transfer ${t.id} still ${t.state} after ${timeoutSeconds} s; it goes on (follow it with "hedgerow transfers ${t.id}")`);
      return TIMEOUT_EXIT_CODE;
    },
  },
  {
    ...MANAGEMENT_HELP,
    push: 'ask the provider to push the data to this https:// URL (PUT) instead of pulling it',
    'push-authorization-file': 'file holding the Authorization value the provider sends with the pushed data (kept out of shell history)',
    'provider-address': "the provider's DSP base URL (default: the one the agreement was negotiated with)",
    timeout: 'seconds to wait for STARTED or TERMINATED (default 60)',
    json: 'print the outcome (transfer and timeline) as JSON',
  },
);

// ------------------------------------------------------------------------------------------------- operator actions

type Action = 'suspend' | 'resume' | 'complete' | 'terminate';
const ACTION_HELP: Record<Action, string> = {
  suspend: 'suspend a STARTED transfer (the peer is told, with the reason; pull tokens stop working at once)',
  resume: 'resume a SUSPENDED transfer (as provider: also start a REQUESTED one)',
  complete: 'complete a STARTED transfer (the peer is told)',
  terminate: 'terminate a transfer that has not ended (the peer is told, with the reason)',
};

function actionCommand(action: Action) {
  const withReason = action === 'suspend' || action === 'terminate';
  return defineCommand(
    {
      name: `transfer ${action}`,
      summary: ACTION_HELP[action],
      args: '<transfer-id>',
      positionals: [1, 1],
      description: MANAGEMENT_DESCRIPTION,
      options: { ...(withReason ? { reason: { type: 'string' as const } } : {}), json: { type: 'boolean' }, ...MANAGEMENT_OPTIONS },
      async run({ values, positionals }, io) {
        const id = nonEmpty(positionals[0], 'the transfer id');
        const reason = stringOption(values, 'reason');
        if (reason !== undefined && !reason.trim()) throw new UsageError('--reason must not be empty');
        const client = managementClient(values, io);
        const t = await client.post<ApiTransfer>(`/transfers/${seg(id)}/${action}`, reason !== undefined ? { reason } : {});
        if (values.json) io.out(JSON.stringify(t, null, 2));
        else io.out(`transfer ${t.id} ${t.state}${reason ? ` (reason: ${reason})` : ''}`);
        return 0;
      },
    },
    { ...MANAGEMENT_HELP, ...(withReason ? { reason: 'why, in a few words (sent to the peer)' } : {}), json: 'print the transfer as JSON' },
  );
}

export const transferSuspendCommand = actionCommand('suspend');
export const transferResumeCommand = actionCommand('resume');
export const transferCompleteCommand = actionCommand('complete');
export const transferTerminateCommand = actionCommand('terminate');

// ------------------------------------------------------------------------------------------------- transfers

export const transfersCommand = defineCommand(
  {
    name: 'transfers',
    summary: 'list transfers, or show one with its timeline (messages, reasons, data)',
    args: '[id]',
    positionals: [0, 1],
    description: MANAGEMENT_DESCRIPTION,
    options: {
      state: { type: 'string' },
      role: { type: 'string' },
      agreement: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      ...MANAGEMENT_OPTIONS,
    },
    async run({ values, positionals }, io) {
      const id = positionals[0];
      const agreementId = stringOption(values, 'agreement');
      const { state, role, limit } = listFilters(values, TRANSFER_STATES, { one: id !== undefined, noun: 'transfer', extra: ['agreement'] });
      const client = managementClient(values, io);

      if (id !== undefined) {
        const t = await getTransfer(client, nonEmpty(id, 'the transfer id'));
        if (values.json) io.out(JSON.stringify(t, null, 2));
        else printTransfer(t, io);
        return 0;
      }
      const list = await client.get<ApiTransfer[]>('/transfers', { state, role, agreementId, limit });
      return printList(io, list, {
        json: values.json,
        empty: state || role || agreementId ? 'no transfers match' : 'no transfers yet',
        headers: ['id', 'role', 'state', 'format', 'counterparty', 'agreement', 'updated'],
        rows: (items) => items.map((t) => [t.id, t.role, t.state, t.format, t.counterpartyId, t.agreementId, t.updatedAt]),
        limit,
      });
    },
  },
  {
    ...MANAGEMENT_HELP,
    state: `only transfers in this state (${TRANSFER_STATES.join(', ')})`,
    role: 'only transfers where this connector is provider or consumer',
    agreement: 'only transfers under this agreement',
    limit: 'how many to list, newest first (default 50, at most 500)',
    json: 'print as JSON',
  },
);

// ------------------------------------------------------------------------------------------------- fetch

/** "500000", "512k", "2M", "1G" (1024-based) → bytes per second. */
export function parseRate(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kKmMgG]?)(?:i?B?(?:\/s)?)?$/.exec(raw.trim());
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m?.[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g'];
  const n = m ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isFinite(n) || n < 1024 || n > 10 * 1024 ** 3) throw new UsageError(`--limit-rate must be bytes per second between 1024 and 10G, e.g. 500000, 512k or 2M (got "${raw}")`);
  return n;
}

/**
 * The connection pool for the provider's data endpoint: system roots plus the trust anchors of our
 * certificates directory (the dataspace CA), peer addresses through the SSRF guard. Created on first
 * use: undici stays out of CLI start-up.
 */
function dataDispatcher(config: ReturnType<typeof configFrom>['config']): { dispatcher: () => Dispatcher; guard: import('../../net/address-guard').AddressGuard } {
  const { AddressGuard } = require('../../net/address-guard') as typeof import('../../net/address-guard');
  const guard = new AddressGuard({
    allow: config.dsp.allowedAddresses,
    deny: [{ host: config.managementApi.host, port: config.managementApi.port }],
    allowHttp: config.conformance.enabled,
  });
  const dispatcher = lazy(() => {
    const tls = require('node:tls') as typeof import('node:tls');
    const { CertStore } = require('../../pki/cert-store') as typeof import('../../pki/cert-store');
    const anchors = new CertStore(config.certsDir).trustAnchors().map((c) => c.toString());
    const { Agent } = require('undici') as typeof import('undici');
    return new Agent({ connect: { ca: [...tls.rootCertificates, ...anchors], lookup: guard.lookup(), timeout: 15_000 } });
  });
  return { dispatcher, guard };
}

export const fetchCommand = defineCommand(
  {
    name: 'fetch',
    summary: 'download the data of a STARTED pull transfer into a file (resumable, SHA-256 verified), then complete it',
    args: '<transfer-id>',
    positionals: [1, 1],
    description:
      MANAGEMENT_DESCRIPTION +
      '\nGets the pull endpoint and token from the connector (refreshed through the provider when close to\n' +
      'expiry), downloads into FILE.part, resumes after interruptions (also a later run of the same command),\n' +
      "verifies the provider's SHA-256 and only then renames to FILE. Refuses to start when free disk would\n" +
      'drop below health.diskFloorMb. Then completes the transfer (the provider is told) unless --no-complete.',
    options: {
      out: { type: 'string', short: 'o' },
      'limit-rate': { type: 'string' },
      'no-complete': { type: 'boolean' },
      json: { type: 'boolean' },
      ...MANAGEMENT_OPTIONS,
    },
    async run({ values, positionals }, io) {
      const id = nonEmpty(positionals[0], 'the transfer id');
      const outRaw = stringOption(values, 'out');
      if (!outRaw) throw new UsageError('--out FILE is required: where to write the data (see "hedgerow fetch --help")');
      const out = path.resolve(outRaw);
      if (!fs.existsSync(path.dirname(out))) throw new UsageError(`--out ${outRaw}: directory ${path.dirname(out)} does not exist`);
      if (fs.existsSync(out) && fs.statSync(out).isDirectory()) throw new UsageError(`--out ${outRaw} is a directory: give a file name`);
      const rateRaw = stringOption(values, 'limit-rate');
      const rate = rateRaw !== undefined ? parseRate(rateRaw) : undefined;
      const client = managementClient(values, io);
      const { config } = configFrom(values, io);

      let target = await client.get<PullTarget>(`/transfers/${seg(id)}/data-address`);
      let tokenRefreshes = 0;
      const refresh = async (): Promise<PullTarget> => {
        try {
          target = await client.post<PullTarget>(`/transfers/${seg(id)}/token`);
          tokenRefreshes++;
        } catch (err) {
          // Not STARTED any more, or gone: stop (the .part stays for a later resume). A provider we
          // cannot reach right now: keep the token; the attempt fails and is retried with backoff.
          if (err instanceof HedgerowError && (err.httpStatus === 404 || err.httpStatus === 409 || err.httpStatus === 401)) throw err;
        }
        return target;
      };
      const nearExpiry = () => target.expiresAt !== null && target.expiresAt - REFRESH_MARGIN_SECONDS < Date.now() / 1000;
      let attempts = 0;
      const headers = async (): Promise<Record<string, string>> => {
        attempts++;
        // Before every retry: a refused token (401/403 after a provider key change) is refreshed too.
        if (nearExpiry() || attempts > 1) await refresh();
        return { authorization: target.authorization };
      };

      const { downloadToFile } = require('../../dataplane/download') as typeof import('../../dataplane/download');
      const { ProgressBar } = require('../../dataplane/progress') as typeof import('../../dataplane/progress');
      const { dispatcher, guard } = dataDispatcher(config);
      const bar = process.stderr.isTTY ? new ProgressBar({ mode: 'bar', label: path.basename(out) }) : null;
      const abort = new AbortController();
      const onSignal = () => abort.abort(new Error('interrupted'));
      process.once('SIGINT', onSignal);
      let result;
      try {
        result = await downloadToFile({
          url: target.endpoint,
          out,
          headers,
          ...(target.sha256 ? { expectedSha256: target.sha256 } : {}),
          ...(rate ? { bandwidthBytesPerSecond: rate } : {}),
          minFreeBytes: config.health.diskFloorMb * 1024 * 1024,
          dispatcher: dispatcher(),
          policy: guard,
          signal: abort.signal,
          ...(bar ? { onProgress: bar.onDownloadProgress } : {}),
        });
        bar?.done();
      } catch (err) {
        bar?.fail((err as Error).message);
        if (abort.signal.aborted) {
          io.err(`hedgerow: download of transfer ${id} interrupted; ${path.basename(out)}.part is kept: run the same command again to resume`);
          return 130;
        }
        throw err;
      } finally {
        process.removeListener('SIGINT', onSignal);
        await dispatcher().close().catch(() => undefined);
      }

      const verified = result.verifiedAgainst === 'expected' ? "verified against the provider's DataAddress" : result.verifiedAgainst === 'server' ? "verified against the provider's digest header" : 'not verified: the provider published no digest';
      // The connector records the copy and applies the agreement's duties (log, notify, delete on time).
      await client.post(`/transfers/${seg(id)}/received`, { path: out, bytes: result.bytes, sha256: result.sha256 });
      let completed = false;
      let completeError: unknown;
      if (!values['no-complete']) {
        try {
          await client.post(`/transfers/${seg(id)}/complete`);
          completed = true;
        } catch (err) {
          completeError = err;
        }
      }
      if (values.json) {
        io.out(JSON.stringify({ transfer: id, file: out, bytes: result.bytes, sha256: result.sha256, verifiedAgainst: result.verifiedAgainst, resumed: result.resumed, attempts: result.attempts, tokenRefreshes, seconds: result.seconds, completed }, null, 2));
      } else {
        io.out(`fetched ${result.bytes} bytes into ${outRaw}${result.resumed ? ` (resumed ${result.resumed} time${result.resumed === 1 ? '' : 's'})` : ''}`);
        io.out(`sha256 ${result.sha256} (${verified})`);
        if (completed) io.out(`transfer ${id} COMPLETED`);
        else if (!completeError) io.out(`transfer ${id} left STARTED (--no-complete): complete it with "hedgerow transfer complete ${id}"`);
      }
      if (completeError) {
        const e = completeError instanceof HedgerowError ? completeError : new HedgerowError('COMPLETE_FAILED', (completeError as Error).message);
        throw new HedgerowError(e.code, `the data is in ${outRaw} and verified, but completing transfer ${id} failed: ${e.message}`, { exitCode: e.exitCode });
      }
      return 0;
    },
  },
  {
    ...MANAGEMENT_HELP,
    out: 'the file to write (FILE.part and FILE.part.json while downloading)',
    'limit-rate': 'bandwidth cap in bytes per second (suffixes k, M, G: 1024-based), e.g. 512k on a shared rural link',
    'no-complete': 'leave the transfer STARTED after the download (e.g. to fetch again)',
    json: 'print the result (bytes, sha256, attempts) as JSON',
  },
);

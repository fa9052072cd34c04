import { undiciLib } from '../lazy';
import { HedgerowError, UsageError } from '../errors';
import { configFrom, type CommandIo, type Options, type OptionHelp, type Values } from './command';

/**
 * A small client of the local management API for the CLI commands that drive a running connector
 * (asset, policy, offer, catalog, negotiate, negotiations). The connector must be running: these
 * commands never open the database themselves.
 */

/** The option every management command accepts, with its help line. */
export const MANAGEMENT_OPTIONS: Options = { 'management-url': { type: 'string' } };
export const MANAGEMENT_HELP: OptionHelp = {
  'management-url': 'management API base URL (also HEDGEROW_MANAGEMENT_URL; default from managementApi.host/port)',
};
/** Extra help text shared by the management commands. */
export const MANAGEMENT_DESCRIPTION =
  'Talks to the running connector through its management API, with the API key from HEDGEROW_API_KEY\n' + '(create one with "hedgerow apikey create").';

export type Query = Record<string, string | number | undefined>;

export interface ManagementClient {
  readonly baseUrl: string;
  get<T = unknown>(path: string, query?: Query): Promise<T>;
  post<T = unknown>(path: string, body?: unknown): Promise<T>;
  delete(path: string): Promise<void>;
}

/** Exit code for an HTTP error status of the management API. */
export function exitCodeForStatus(status: number): number {
  if (status === 400 || status === 413 || status === 415 || status === 422) return 65;
  if (status === 401 || status === 403) return 77;
  if (status === 404) return 66;
  if (status === 409) return 73;
  if (status >= 400 && status < 500) return 65;
  return 1;
}

function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** The management API base URL (without /api/v1): flag, then environment, then configuration. */
export function managementBaseUrl(values: Values, io: CommandIo): string {
  const given = (typeof values['management-url'] === 'string' ? values['management-url'] : undefined) ?? (io.env.HEDGEROW_MANAGEMENT_URL || undefined);
  if (given !== undefined) {
    let url: URL;
    try {
      url = new URL(given);
    } catch {
      throw new UsageError(`management URL "${given}" is not a URL (expected e.g. http://127.0.0.1:8181)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`management URL "${given}" must start with http:// or https://`);
    return url.toString().replace(/\/+$/, '').replace(/\/api\/v1$/, '');
  }
  const { config } = configFrom(values, io);
  return `http://${hostForUrl(config.managementApi.host)}:${config.managementApi.port}`;
}

/** The API key from HEDGEROW_API_KEY (required). */
export function managementApiKey(io: CommandIo): string {
  const key = io.env.HEDGEROW_API_KEY?.trim();
  if (!key) throw new UsageError('HEDGEROW_API_KEY is not set: export the management API key printed by "hedgerow init", or create one with "hedgerow apikey create"');
  return key;
}

interface ErrorBody {
  error?: { code?: unknown; message?: unknown; details?: { path?: unknown } & Record<string, unknown> };
}

/** The HedgerowError for an error answer of the management API, with the server's message. */
export function errorFromResponse(status: number, body: unknown): HedgerowError {
  const e = (body as ErrorBody | null)?.error;
  const code = typeof e?.code === 'string' ? e.code : `HTTP_${status}`;
  let message = typeof e?.message === 'string' && e.message ? e.message : `the management API answered HTTP ${status}`;
  const path = typeof e?.details?.path === 'string' ? e.details.path : undefined;
  // Validation errors carry the field path; make sure it is shown even if the message lacks it.
  if (path && !message.includes(path)) message = `${path}: ${message}`;
  if (status === 401) message += ' (check HEDGEROW_API_KEY; create a key with "hedgerow apikey create")';
  return new HedgerowError(code, message, { exitCode: exitCodeForStatus(status), httpStatus: status, details: path ? { path } : undefined });
}

function connectionError(err: unknown, baseUrl: string): HedgerowError {
  const codeOf = (e: unknown) => (e as NodeJS.ErrnoException | undefined)?.code;
  const code = codeOf(err) ?? codeOf((err as { cause?: unknown })?.cause);
  const errors = (err as { errors?: unknown[] })?.errors; // AggregateError (IPv4 + IPv6 attempts)
  const refused = code === 'ECONNREFUSED' || (Array.isArray(errors) && errors.length > 0 && errors.every((e) => codeOf(e) === 'ECONNREFUSED'));
  if (refused) return new HedgerowError('NOT_RUNNING', `no hedgerow running at ${baseUrl} (start it with "hedgerow start")`, { cause: err });
  const why = code ?? (err as Error)?.message ?? String(err);
  return new HedgerowError('UNREACHABLE', `cannot reach the management API at ${baseUrl}: ${why}`, { cause: err });
}

export function createManagementClient(baseUrl: string, apiKey: string): ManagementClient {
  const call = async (method: 'GET' | 'POST' | 'DELETE', path: string, opts: { query?: Query; body?: unknown } = {}): Promise<unknown> => {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const search = qs.toString();
    const url = `${baseUrl}/api/v1${path}${search ? `?${search}` : ''}`;
    const hasBody = method === 'POST';
    let res;
    try {
      res = await undiciLib().request(url, {
        method,
        headers: { authorization: `Bearer ${apiKey}`, accept: 'application/json', ...(hasBody ? { 'content-type': 'application/json' } : {}) },
        body: hasBody ? JSON.stringify(opts.body ?? {}) : undefined,
        headersTimeout: 300_000,
        bodyTimeout: 300_000,
      });
    } catch (err) {
      throw connectionError(err, baseUrl);
    }
    const text = await res.body.text();
    let parsed: unknown;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
        if (res.statusCode < 400) throw new HedgerowError('BAD_RESPONSE', `${baseUrl} did not answer ${method} ${path} with JSON: is it a hedgerow management API?`);
      }
    }
    if (res.statusCode >= 400) throw errorFromResponse(res.statusCode, parsed);
    return parsed;
  };
  return {
    baseUrl,
    get: async <T>(path: string, query?: Query) => (await call('GET', path, { query })) as T,
    post: async <T>(path: string, body?: unknown) => (await call('POST', path, { body })) as T,
    delete: async (path: string) => {
      await call('DELETE', path);
    },
  };
}

/** The client for a command: API key first (cheapest, clearest error), then the base URL. */
export function managementClient(values: Values, io: CommandIo): ManagementClient {
  const key = managementApiKey(io);
  return createManagementClient(managementBaseUrl(values, io), key);
}

/** `encodeURIComponent` for a path segment. */
export const seg = (s: string) => encodeURIComponent(s);

/** Fetch every page of an id-ordered list (`after` + `limit`). */
export async function allPages<T extends { id: string }>(client: ManagementClient, path: string, pageSize = 500): Promise<T[]> {
  const items: T[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await client.get<T[]>(path, { after, limit: pageSize });
    items.push(...page);
    if (page.length < pageSize) return items;
    after = page[page.length - 1]!.id;
  }
}

/** A plain text table: header row, then rows, columns padded to the widest cell. */
export function formatTable(headers: string[], rows: string[][]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...rows.map(line)];
}

/**
 * How every list command prints: the items as JSON with --json, `empty` when there are none, else a table;
 * with `limit`, a note when the page is full. Returns the exit code.
 */
export function printList<T>(io: CommandIo, items: T[], opts: { json: unknown; empty: string; headers: string[]; rows: (items: T[]) => string[][]; limit?: number }): number {
  if (opts.json) io.out(JSON.stringify(items, null, 2));
  else if (!items.length) io.out(opts.empty);
  else {
    for (const line of formatTable(opts.headers, opts.rows(items))) io.out(line);
    if (items.length === opts.limit) io.out(`(first ${opts.limit}; use --limit to see more)`);
  }
  return 0;
}

/** Parse a JSON text given on the command line or in a file, naming where it came from on failure. */
export function parseJsonArgument(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HedgerowError('INVALID_JSON', `${where} is not valid JSON: ${(err as Error).message}`, { exitCode: 65, httpStatus: 400 });
  }
}

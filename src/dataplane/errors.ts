import { HedgerowError } from '../errors';

/**
 * Typed data-plane failures. `code` is stable and says what went wrong, `reason` is one human line fit for a
 * TransferTerminationMessage, `retryable` tells the caller whether trying again later may help (the downloader
 * uses it internally; the transfer layer can use it to choose between suspension and termination).
 */
export type DataPlaneErrorCode =
  /** The HTTP backend of an asset could not be reached (refused, reset, DNS, TLS). */
  | 'BACKEND_UNREACHABLE'
  /** The backend did not answer (connect, headers or body idle timeout). */
  | 'BACKEND_TIMEOUT'
  /** The backend answered with a status we cannot serve (5xx, 4xx, redirect). */
  | 'BACKEND_STATUS'
  /** The backend stream broke after the response to our client had started. */
  | 'BACKEND_STREAM_FAILED'
  /** A source could not be read (I/O error while streaming a file). */
  | 'SOURCE_READ_FAILED'
  /** The source file changed while it was being hashed or served (replace asset files atomically, by rename). */
  | 'SOURCE_CHANGED'
  /** The download peer could not be reached or the connection broke, after all retries. */
  | 'DOWNLOAD_UNREACHABLE'
  /** The download peer answered with a status that ends the download (4xx, or 5xx after all retries). */
  | 'DOWNLOAD_STATUS'
  /** The download peer answered something that breaks HTTP range semantics (bad Content-Range, short body). */
  | 'DOWNLOAD_PROTOCOL'
  /** The downloaded bytes do not have the expected SHA-256. */
  | 'DIGEST_MISMATCH'
  /** Free disk minus the remaining bytes would drop below the configured floor. */
  | 'DISK_FLOOR'
  /** Writing the local file failed (ENOSPC, EIO, permissions). */
  | 'LOCAL_WRITE_FAILED'
  /** The caller aborted (AbortSignal). The `.part` file is kept for a later resume. */
  | 'ABORTED'
  /** Push: the destination could not be reached or the connection broke. */
  | 'PUSH_UNREACHABLE'
  /** Push: the destination answered with a non-2xx status. */
  | 'PUSH_STATUS'
  /** Push: the destination did not answer in time. */
  | 'PUSH_TIMEOUT';

const HTTP_STATUS: Record<DataPlaneErrorCode, number> = {
  BACKEND_UNREACHABLE: 502,
  BACKEND_TIMEOUT: 504,
  BACKEND_STATUS: 502,
  BACKEND_STREAM_FAILED: 502,
  SOURCE_READ_FAILED: 500,
  SOURCE_CHANGED: 503,
  DOWNLOAD_UNREACHABLE: 502,
  DOWNLOAD_STATUS: 502,
  DOWNLOAD_PROTOCOL: 502,
  DIGEST_MISMATCH: 502,
  DISK_FLOOR: 507,
  LOCAL_WRITE_FAILED: 500,
  ABORTED: 499,
  PUSH_UNREACHABLE: 502,
  PUSH_STATUS: 502,
  PUSH_TIMEOUT: 504,
};

export class DataPlaneError extends HedgerowError {
  declare readonly code: DataPlaneErrorCode;
  /** Whether trying again later may succeed (network trouble, 5xx) as opposed to a definite refusal. */
  readonly retryable: boolean;
  /** The upstream HTTP status, when one was received. */
  readonly status?: number;
  /**
   * Where it happened (a redacted backend or peer URL), for the provider's own logs only: never put it in a
   * message to a peer (backend host names are internal).
   */
  readonly internal?: string;

  constructor(
    code: DataPlaneErrorCode,
    message: string,
    opts: { retryable?: boolean; status?: number; cause?: unknown; details?: Record<string, unknown>; internal?: string } = {},
  ) {
    super(code, message, {
      exitCode: code === 'DIGEST_MISMATCH' ? 65 : 1,
      httpStatus: HTTP_STATUS[code],
      cause: opts.cause,
      details: { ...(opts.status !== undefined ? { status: opts.status } : {}), ...opts.details },
    });
    this.retryable = opts.retryable ?? false;
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.internal !== undefined) Object.defineProperty(this, 'internal', { value: opts.internal, enumerable: false });
  }

  /** One line for a TransferTerminationMessage / TransferError reason. */
  get reason(): string {
    return `${this.code}: ${this.message}`;
  }
}

/** Node system error codes that mean "the network failed", as opposed to a local or programming error. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_HAS_EXPIRED',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const TLS_CODES = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'CERT_HAS_EXPIRED',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

export type NetworkFailureKind = 'timeout' | 'tls' | 'network' | 'other';

/** Walk an error and its causes (undici wraps system errors) and classify the first recognised code. */
export function classifyNetworkError(err: unknown): { kind: NetworkFailureKind; code: string | undefined; hedgerow?: HedgerowError } {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e; depth++) {
    if (e instanceof HedgerowError) return { kind: 'other', code: e.code, hedgerow: e };
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (TIMEOUT_CODES.has(code)) return { kind: 'timeout', code };
      if (TLS_CODES.has(code)) return { kind: 'tls', code };
      if (NETWORK_CODES.has(code)) return { kind: 'network', code };
    }
    e = (e as { cause?: unknown }).cause;
  }
  const code = (err as { code?: unknown })?.code;
  return { kind: 'other', code: typeof code === 'string' ? code : undefined };
}

/** A URL safe for messages and logs: origin and path, never the query (signed URLs carry secrets there) or userinfo. */
export function redactUrl(raw: string | URL): string {
  try {
    const u = typeof raw === 'string' ? new URL(raw) : raw;
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** A one-line description of a lower-level error, without stack or secrets. */
export function briefError(err: unknown): string {
  const { code } = classifyNetworkError(err);
  const msg = err instanceof Error ? err.message : String(err);
  return code && !msg.includes(code) ? `${code} ${msg}` : msg;
}

/**
 * Stop reading a response body we do not want. Small bodies are drained (the connection can be reused), larger
 * ones cut; the abort error undici emits when a body is destroyed is swallowed instead of becoming unhandled.
 */
export function discardBody(body: { dump(opts?: { limit?: number }): Promise<void> } | NodeJS.ReadableStream | null | undefined): void {
  if (!body) return;
  const b = body as { dump?: (opts?: { limit?: number }) => Promise<void>; on?: (e: string, f: () => void) => void; destroy?: () => void };
  b.on?.('error', () => undefined);
  if (typeof b.dump === 'function') void b.dump({ limit: 64 * 1024 }).catch(() => undefined);
  else b.destroy?.();
}

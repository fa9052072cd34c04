/**
 * Typed errors with stable codes. Every layer throws these; the CLI maps them to an exit code and a
 * one-line message, the HTTP layers map them to a status and a JSON (or DSP) error body. Nothing else
 * decides how an error is shown.
 */
export class HedgerowError extends Error {
  /** Stable, machine-readable code, e.g. `CONFIG_INVALID`. */
  readonly code: string;
  /** Process exit code when this error ends a CLI command. */
  readonly exitCode: number;
  /** HTTP status when this error ends an API request. */
  readonly httpStatus: number;
  /** Optional structured details safe to show to the caller (never secrets). */
  readonly details?: Record<string, unknown>;

  constructor(
    code: string,
    message: string,
    opts: { exitCode?: number; httpStatus?: number; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = opts.exitCode ?? 1;
    this.httpStatus = opts.httpStatus ?? 500;
    if (opts.details) this.details = opts.details;
  }
}

/** Invalid configuration: unknown key, wrong type, missing file. Exit code 2 as documented. */
export class ConfigError extends HedgerowError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('CONFIG_INVALID', message, { exitCode: 2, httpStatus: 500, details });
  }
}

/** Bad command-line usage. */
export class UsageError extends HedgerowError {
  constructor(message: string) {
    super('USAGE', message, { exitCode: 64, httpStatus: 400 });
  }
}

/** Input that failed validation; `path` names the offending field (JSON pointer-ish, e.g. `/policy/permission/0`). */
export class ValidationError extends HedgerowError {
  readonly path: string;
  constructor(message: string, path = '', details?: Record<string, unknown>) {
    super('VALIDATION_FAILED', path ? `${path}: ${message}` : message, {
      exitCode: 65,
      httpStatus: 400,
      details: { path, ...details },
    });
    this.path = path;
  }
}

export class NotFoundError extends HedgerowError {
  constructor(message: string, code = 'NOT_FOUND') {
    super(code, message, { exitCode: 66, httpStatus: 404 });
  }
}

/** Refusal because something already exists or the current state forbids the action. */
export class ConflictError extends HedgerowError {
  constructor(message: string, code = 'CONFLICT') {
    super(code, message, { exitCode: 73, httpStatus: 409 });
  }
}

export class AuthenticationError extends HedgerowError {
  constructor(message: string, code = 'UNAUTHENTICATED') {
    super(code, message, { exitCode: 77, httpStatus: 401 });
  }
}

export class ForbiddenError extends HedgerowError {
  constructor(message: string, code = 'FORBIDDEN') {
    super(code, message, { exitCode: 77, httpStatus: 403 });
  }
}

/**
 * A peer reached a limit on what it may keep open with this connector (HTTP 429): it must finish or
 * end some of its processes first. `pids` are echoed in DSP error bodies.
 */
export class QuotaExceededError extends HedgerowError {
  constructor(
    message: string,
    readonly pids: { providerPid?: string | null; consumerPid?: string | null } = {},
    details?: Record<string, unknown>,
  ) {
    super('PEER_QUOTA_EXCEEDED', message, { httpStatus: 429, details });
  }
}

/** The request was refused before any handler looked at it: unreadable body, wrong media type. */
export class RequestBodyError extends HedgerowError {
  constructor(code: string, message: string, httpStatus: number) {
    super(code, message, { exitCode: 65, httpStatus });
  }
}

/**
 * body-parser rejects with a plain error carrying a `type` and a 4xx `status` (malformed JSON, too
 * large, unsupported charset or Content-Encoding): the client's fault, so its status is kept.
 */
export function bodyParserError(err: unknown): RequestBodyError | undefined {
  const e = err as { type?: unknown; status?: unknown; message?: unknown } | null | undefined;
  if (typeof e?.type !== 'string' || typeof e.status !== 'number' || e.status < 400 || e.status >= 500) return undefined;
  if (e.type === 'entity.parse.failed') return new RequestBodyError('MALFORMED_JSON', 'request body is not valid JSON', 400);
  if (e.type === 'entity.too.large') return new RequestBodyError('PAYLOAD_TOO_LARGE', 'request body too large', 413);
  const message = typeof e.message === 'string' ? e.message : 'bad request';
  return new RequestBodyError(e.status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'BAD_REQUEST', message, e.status);
}

/**
 * PKI failures. Codes are distinct per cause so that callers (doctor, tests, peers' logs) can tell an
 * expired certificate from an untrusted one.
 */
export type PkiErrorCode =
  | 'CERT_EXPIRED'
  | 'CERT_NOT_YET_VALID'
  | 'CERT_UNTRUSTED'
  | 'CERT_BAD_SIGNATURE'
  | 'ISSUER_NOT_CA'
  | 'ISSUER_NO_KEY_CERT_SIGN'
  | 'LEAF_IS_CA'
  | 'LEAF_NO_DIGITAL_SIGNATURE'
  | 'PATH_LENGTH_EXCEEDED'
  | 'KEY_MISMATCH'
  | 'CERT_INVALID'
  | 'KEY_INVALID'
  | 'CSR_INVALID'
  | 'P12_BAD_PASSWORD'
  | 'P12_INVALID'
  | 'KEYS_EXIST'
  | 'PARTICIPANT_MISMATCH';

export class PkiError extends HedgerowError {
  declare readonly code: PkiErrorCode;
  constructor(code: PkiErrorCode, message: string, cause?: unknown) {
    super(code, message, { exitCode: code === 'KEYS_EXIST' ? 73 : 1, httpStatus: 400, cause });
  }
}

export type StoreErrorCode = 'DB_OPEN_FAILED' | 'DB_CORRUPT' | 'DB_TOO_NEW' | 'DB_MIGRATION_FAILED' | 'DISK_FULL';

export class StoreError extends HedgerowError {
  declare readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, cause?: unknown) {
    super(code, message, { exitCode: 1, httpStatus: 503, cause });
  }
}

/** Turn anything thrown into a single human line, without stack traces. */
export function describeError(err: unknown): string {
  if (err instanceof HedgerowError) return err.message;
  if (err instanceof Error) {
    const sys = err as NodeJS.ErrnoException;
    if (sys.code === 'EADDRINUSE') return `address already in use: ${sys.message.replace(/^listen EADDRINUSE: address already in use /, '')}`;
    if (sys.code === 'ENOSPC') return `no space left on device${sys.path ? `: ${sys.path}` : ''}`;
    if (sys.code === 'EACCES') return `permission denied${sys.path ? `: ${sys.path}` : ''}`;
    if (sys.code === 'ENOENT') return `no such file or directory${sys.path ? `: ${sys.path}` : ''}`;
    return err.message;
  }
  return String(err);
}

import { HedgerowError, NotFoundError, QuotaExceededError, bodyParserError } from '../../errors';
import { PeerAuthError } from '../../identity/peer-token';
import { dspContext } from './schema-validator';

/**
 * Protocol errors and the ONE place that turns any error into a DSP error response. Routes throw;
 * `dspErrorResponse` decides status and body for the endpoint family (catalog, negotiation, transfer).
 */
export type DspArea = 'catalog' | 'negotiation' | 'transfer';

/** A message that is well-formed JSON but not acceptable (schema, content, or an illegal transition). */
export class DspBadRequestError extends HedgerowError {
  constructor(code: string, readonly reasons: string[], pids?: { providerPid?: string | null; consumerPid?: string | null }) {
    super(code, reasons.join('; '), { httpStatus: 400, details: { reasons, ...(pids ?? {}) } });
    this.pids = pids ?? {};
  }
  readonly pids: { providerPid?: string | null; consumerPid?: string | null };
}

/** The transition table refused a message. */
export class InvalidTransitionError extends DspBadRequestError {
  constructor(reason: string, pids: { providerPid?: string | null; consumerPid?: string | null }) {
    super('INVALID_TRANSITION', [reason], pids);
  }
}

/** Unknown process, or one that belongs to another participant: both are 404 by the spec. */
export class UnknownProcessError extends NotFoundError {
  constructor(what: string) {
    super(`${what} not found`, 'PROCESS_NOT_FOUND');
  }
}

const ERROR_TYPE: Record<DspArea, string> = {
  catalog: 'CatalogError',
  negotiation: 'ContractNegotiationError',
  transfer: 'TransferError',
};

/** pids echoed in error bodies: schema requires both, so echo what the client sent or a placeholder. */
export interface EchoPids {
  providerPid?: string | null;
  consumerPid?: string | null;
}

const UNKNOWN_PID = 'urn:hedgerow:unknown';

export function dspErrorBody(area: DspArea, code: string, reasons: string[], pids: EchoPids = {}): Record<string, unknown> {
  const body: Record<string, unknown> = { '@context': dspContext(), '@type': ERROR_TYPE[area] };
  if (area !== 'catalog') {
    body.providerPid = pids.providerPid || UNKNOWN_PID;
    body.consumerPid = pids.consumerPid || UNKNOWN_PID;
  }
  body.code = code;
  body.reason = reasons.length ? reasons : ['request refused'];
  return body;
}

/**
 * Map an error to status + body. Authentication failures: 401 with a CatalogError on catalog
 * endpoints, 404 on negotiation and transfer endpoints (the spec forbids revealing the process).
 * A peer over its open-process quota: 429. Internal errors never leak their message.
 */
export function dspErrorResponse(area: DspArea, thrown: unknown, pids: EchoPids = {}): { status: number; body: Record<string, unknown> } {
  const err = bodyParserError(thrown) ?? thrown;
  if (err instanceof PeerAuthError) {
    if (area === 'catalog') return { status: 401, body: dspErrorBody(area, 'UNAUTHORIZED', ['request not authenticated']) };
    return NOT_FOUND(area, pids);
  }
  if (err instanceof DspBadRequestError) {
    return { status: 400, body: dspErrorBody(area, err.code, err.reasons, { ...pids, ...stripNull(err.pids) }) };
  }
  if (err instanceof QuotaExceededError) {
    // 429: the peer may retry once some of its open processes have ended (outboxes retry 429).
    return { status: 429, body: dspErrorBody(area, err.code, [err.message], { ...pids, ...stripNull(err.pids) }) };
  }
  if (err instanceof HedgerowError && err.httpStatus < 500) {
    if (err.httpStatus === 404 && area !== 'catalog') return NOT_FOUND(area, pids);
    return { status: err.httpStatus, body: dspErrorBody(area, err.code, [err.message], pids) };
  }
  return { status: 500, body: dspErrorBody(area, 'INTERNAL', ['internal error'], pids) };
}

/** Unknown and unauthorised look the same from outside: nothing tells a prober which it was. */
function NOT_FOUND(area: DspArea, pids: EchoPids) {
  return { status: 404, body: dspErrorBody(area, 'NOT_FOUND', ['not found'], pids) };
}

function stripNull(p: EchoPids): EchoPids {
  const out: EchoPids = {};
  if (p.providerPid) out.providerPid = p.providerPid;
  if (p.consumerPid) out.consumerPid = p.consumerPid;
  return out;
}

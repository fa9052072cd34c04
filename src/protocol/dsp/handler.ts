import type { Request, Response, NextFunction, RequestHandler } from 'express';
import type { Logger } from '../../log/logger';
import type { PeerVerifier, VerifiedPeer } from '../../identity/peer-token';
import { PeerAuthError } from '../../identity/peer-token';
import { RequestBodyError } from '../../errors';
import type { AuditTrail } from '../../audit/audit-trail';
import { validateDspMessage, type DspMessageType } from './schema-validator';
import { DspBadRequestError, dspErrorResponse, type DspArea, type EchoPids } from './errors';

/** The media types DSP bodies are parsed from (JSON and JSON-LD). */
export const DSP_JSON_TYPES = ['application/json', 'application/ld+json', 'application/*+json'];

export interface DspContext {
  verifier: PeerVerifier;
  /** Our participant id: the audience every peer token must name. */
  participantId: () => string;
  logger: Logger;
  /** Authentication failures are recorded in the audit trail (reason code, never the token). */
  audit?: AuditTrail;
}

export interface DspRequest {
  peer: VerifiedPeer;
  body: Record<string, unknown>;
  params: Record<string, string>;
  query: Record<string, unknown>;
}

export interface DspResult {
  status: number;
  body: Record<string, unknown> | null;
  headers?: Record<string, string>;
  /** Runs once the response has been sent (follow-up messages must not overtake it). */
  after?: () => void;
}

type Action = (req: DspRequest) => DspResult | Promise<DspResult>;

function echoPids(req: Request): EchoPids {
  const b = (req.body ?? {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    providerPid: str(req.params.providerPid) ?? str(b.providerPid),
    consumerPid: str(req.params.consumerPid) ?? str(b.consumerPid),
  };
}

/**
 * Run `fn` exactly once when the response has gone out or the connection is gone. The action has
 * already committed the owed message, so a peer hanging up (before or after this point: then
 * 'finish' never fires) must not hold it back until a restart.
 */
function whenResponseDone(res: Response, fn: () => void): void {
  if (res.destroyed || res.closed) return fn();
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    res.off('finish', once);
    res.off('close', once);
    fn();
  };
  res.once('finish', once);
  res.once('close', once);
}

/**
 * Every DSP endpoint goes through here: authenticate the peer, validate the body against its
 * official schema (before it touches any state), run the action, map errors to DSP error bodies.
 */
export function dspEndpoint(ctx: DspContext, area: DspArea, expect: DspMessageType[] | null, action: Action): RequestHandler {
  return async (req: Request, res: Response, _next: NextFunction) => {
    try {
      const peer = await ctx.verifier.verify(req.get('authorization'), { audience: ctx.participantId() });
      let body: Record<string, unknown> = {};
      if (expect) {
        // A body declared as something else was skipped by the JSON parser: that is not a schema violation.
        const contentType = req.get('content-type');
        if (contentType && req.is(DSP_JSON_TYPES) === false) {
          throw new RequestBodyError('UNSUPPORTED_MEDIA_TYPE', `Content-Type ${contentType} is not JSON; send application/json`, 415);
        }
        const check = validateDspMessage(req.body, expect);
        if (!check.ok) {
          throw new DspBadRequestError('SCHEMA_VIOLATION', check.errors.slice(0, 5).map((e) => `${e.path || '/'}: ${e.message}`), echoPids(req));
        }
        body = req.body as Record<string, unknown>;
      }
      const result = await action({ peer, body, params: req.params as Record<string, string>, query: req.query as Record<string, unknown> });
      if (result.after) whenResponseDone(res, result.after);
      if (result.headers) res.set(result.headers);
      if (result.body === null) res.status(result.status).end();
      else res.status(result.status).json(result.body);
    } catch (err) {
      if (err instanceof PeerAuthError) {
        ctx.logger.warn('peer authentication failed', { area, method: req.method, path: req.path, reason: err.code, detail: err.message, remote: req.socket.remoteAddress });
        ctx.audit?.authFailure({ area, reason: err.code, method: req.method, path: req.path, ...(req.socket.remoteAddress ? { remote: req.socket.remoteAddress } : {}) });
      } else if (!(err instanceof DspBadRequestError)) {
        const status = (err as { httpStatus?: number }).httpStatus;
        if (!status || status >= 500) ctx.logger.error('DSP request failed', { area, path: req.path, error: (err as Error).message, stack: (err as Error).stack });
      }
      const { status, body } = dspErrorResponse(area, err, echoPids(req));
      res.status(status).json(body);
    }
  };
}

/** Body-parser and other pre-handler failures on DSP routes still answer with a DSP error body. */
export function dspParseErrorHandler(area: DspArea) {
  return (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(err);
    const { status, body } = dspErrorResponse(area, err, echoPids(req));
    res.status(status).json(body);
  };
}

import type { NextFunction, Request, Response } from 'express';
import { HedgerowError, bodyParserError, describeError } from '../errors';
import type { Logger } from '../log/logger';

/** The JSON error body of the management API: `{ error: { code, message, details? } }`. */
export function errorBody(code: string, message: string, details?: Record<string, unknown>) {
  return { error: { code, message, ...(details ? { details } : {}) } };
}

/** Map anything thrown to a status and a JSON body. 5xx bodies never carry internals. */
export function toHttpError(err: unknown): { status: number; body: ReturnType<typeof errorBody> } {
  const typed = err instanceof HedgerowError ? err : bodyParserError(err);
  if (typed) {
    return { status: typed.httpStatus, body: errorBody(typed.code, typed.message, typed.details) };
  }
  const e = err as { status?: number; statusCode?: number; message?: string };
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, body: errorBody('BAD_REQUEST', e.message ?? 'bad request') };
  }
  return { status: 500, body: errorBody('INTERNAL', 'internal error') };
}

export function jsonErrorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const { status, body } = toHttpError(err);
    if (status >= 500) logger.error('request failed', { method: req.method, path: req.path, error: describeError(err) });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(status).json(body);
  };
}

export function notFoundHandler(req: Request, res: Response) {
  res.status(404).json(errorBody('NOT_FOUND', `no route for ${req.method} ${req.path}`));
}

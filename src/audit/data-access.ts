/**
 * Audit entries of the provider data plane: one `data.access` per data request once its response has finished
 * (served, cut, or refused after authentication), written in its own small transaction; refused tokens become
 * `auth.failure` entries (reason code only). Keeps the bookkeeping out of the data plane's code.
 */
import type { IncomingMessage } from 'node:http';
import type { ServeResult } from '../dataplane/serve';
import { toHttpError } from '../server/errors';
import type { AuditTrail } from './audit-trail';

interface Authorised {
  id: string;
  agreementId: string;
  counterpartyId: string;
}

export class DataAccessRecorder {
  private readonly authorised = new WeakMap<object, Authorised>();

  constructor(private readonly audit: AuditTrail | undefined) {}

  /** The request passed authorisation for this transfer (remembered until its outcome is recorded). */
  allowed(req: IncomingMessage, t: Authorised): void {
    if (this.audit) this.authorised.set(req, { id: t.id, agreementId: t.agreementId, counterpartyId: t.counterpartyId });
  }

  served(result: ServeResult, req: IncomingMessage): void {
    const t = this.authorised.get(req);
    if (!this.audit || !t) return;
    this.audit.dataAccess({
      transferId: t.id,
      agreementId: t.agreementId,
      consumerId: t.counterpartyId,
      method: req.method ?? 'GET',
      status: result.status,
      bytes: result.bytesSent,
      range: result.range ?? null,
      complete: result.complete,
      ...(result.aborted ? { aborted: result.aborted } : {}),
    });
  }

  /** A request that failed. 401s are left to `authFailure` (the error handler sees every one of them). */
  failed(err: unknown, req: IncomingMessage): void {
    if (!this.audit) return;
    const { status, body } = toHttpError(err);
    if (status === 401) return;
    const t = this.authorised.get(req);
    const params = (req as IncomingMessage & { params?: Record<string, string> }).params;
    const write = () =>
      this.audit!.dataAccess({
        transferId: t?.id ?? null,
        agreementId: t?.agreementId ?? null,
        consumerId: t?.counterpartyId ?? null,
        method: req.method ?? 'GET',
        status,
        code: body.error.code,
        ...(t ? {} : { requested: params?.providerPid ?? null }),
      });
    // After the error response went out (express sets req.res).
    const res = (req as IncomingMessage & { res?: NodeJS.EventEmitter & { writableFinished?: boolean } }).res;
    if (res && !res.writableFinished) res.once('close', write);
    else write();
  }

  /** A refused pull or refresh token. */
  authFailure(err: unknown, req: IncomingMessage, path: string): void {
    const code = (err as { code?: unknown }).code;
    this.audit?.authFailure({
      area: 'data',
      reason: typeof code === 'string' ? code : 'UNAUTHENTICATED',
      method: req.method ?? 'GET',
      path,
      ...(req.socket?.remoteAddress ? { remote: req.socket.remoteAddress } : {}),
    });
  }
}

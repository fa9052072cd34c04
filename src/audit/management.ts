/** Management API routes of the audit trail: verification report and signed export bundle. */
import type { ApiRoute } from '../management/route-table';
import { ValidationError } from '../errors';
import type { AuditTrail } from './audit-trail';

function instant(value: string | undefined, field: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new ValidationError('must be an ISO 8601 date or instant', `query:/${field}`);
  return new Date(t).toISOString();
}

export function auditManagementRoutes(audit: () => AuditTrail): ApiRoute[] {
  return [
    {
      method: 'get',
      path: '/audit/verify',
      tag: 'audit',
      summary: 'Recompute the audit hash chain and check every signed head; the report names the first broken entry',
      handler: () => audit().verify(),
    },
    {
      method: 'get',
      path: '/audit/export',
      tag: 'audit',
      summary: 'A signed audit bundle (contiguous entries, head signed now, certificate chain) for offline verification',
      query: {
        from: { type: 'string', description: 'first instant, ISO 8601 (inclusive)' },
        to: { type: 'string', description: 'last instant, ISO 8601 (inclusive)' },
        process: { type: 'string', description: 'only entries of this negotiation, transfer or agreement id (plus those between them)' },
      },
      handler: ({ query }) => {
        const from = instant(query.from, 'from');
        const to = instant(query.to, 'to');
        if (from && to && from > to) throw new ValidationError('is before from', 'query:/to');
        return audit().exportBundle({ ...(from ? { from } : {}), ...(to ? { to } : {}), ...(query.process ? { processId: query.process } : {}) });
      },
    },
  ];
}

/**
 * The audit event names. They are part of the exported bundle format: never rename one, only add. The README
 * ("Audit trail") lists the same table.
 */
export const AUDIT_EVENTS = {
  'negotiation.received': 'a contract negotiation message from the peer, with the transition it caused or why it was refused',
  'negotiation.transition': 'a contract negotiation transition we made (a message queued to the peer, or the process ended locally)',
  'negotiation.sent': 'a contract negotiation message the peer acknowledged',
  'negotiation.send-failed': 'a contract negotiation message the peer refused, or that could not be delivered in time',
  'transfer.received': 'a transfer process message from the peer, with the transition it caused or why it was refused',
  'transfer.transition': 'a transfer process transition we made',
  'transfer.sent': 'a transfer process message the peer acknowledged',
  'transfer.send-failed': 'a transfer process message the peer refused, or that could not be delivered in time',
  'policy.decision': 'a policy evaluation (allow or deny) with its scope, reason and trace',
  'auth.failure': 'a request whose peer or data token was refused: area, reason code, path, remote address (never the token)',
  'data.access': 'a data request served or refused by the data plane: transfer, agreement, method, status, bytes, range',
  'consent.changed': 'a consent status change (requested, granted, refused, revoked, expired) and who made it',
  'deletion.done': 'a received copy deleted under a delete duty (consumer side)',
  'deletion.receipt': 'a signed deletion receipt sent (consumer) or received and stored (provider)',
  'duty.notify': 'a notify duty performed or given up',
  'duty.log': 'a use of received data logged under a log duty (consumer side)',
  'duty.delete': 'a received copy put under a delete duty, with its deadline (consumer side)',
  'agreement.status': 'an agreement activated, revoked or terminated, with the reason',
} as const;

export type AuditEventName = keyof typeof AUDIT_EVENTS;

export function isAuditEventName(name: string): name is AuditEventName {
  return Object.prototype.hasOwnProperty.call(AUDIT_EVENTS, name);
}

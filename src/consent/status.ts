/**
 * Consent statuses as an explicit transition table. Nothing else in the code decides whether a status
 * change is legal.
 *
 * | from     | action  | to      | who                                                        |
 * |----------|---------|---------|------------------------------------------------------------|
 * | (new)    | request | pending | operator (management API / CLI)                            |
 * | pending  | grant   | granted | the originator (approval link) or the operator             |
 * | pending  | refuse  | refused | the originator (approval link) or the operator             |
 * | pending  | expire  | expired | system: the approval link ran out before a decision        |
 * | granted  | revoke  | revoked | the originator's wish, recorded by the operator            |
 * | granted  | expire  | expired | system: the end of the validity (`validUntil`) was reached |
 *
 * refused, revoked and expired are terminal: a new consent must be requested.
 */
import type { ConsentStatus } from '../store/repositories/consents';

export type ConsentAction = 'grant' | 'refuse' | 'revoke' | 'expire';
export const CONSENT_ACTIONS: readonly ConsentAction[] = ['grant', 'refuse', 'revoke', 'expire'];

export interface ConsentTransition {
  from: ConsentStatus;
  action: ConsentAction;
  to: ConsentStatus;
}

export const CONSENT_TRANSITIONS: readonly ConsentTransition[] = [
  { from: 'pending', action: 'grant', to: 'granted' },
  { from: 'pending', action: 'refuse', to: 'refused' },
  { from: 'pending', action: 'expire', to: 'expired' },
  { from: 'granted', action: 'revoke', to: 'revoked' },
  { from: 'granted', action: 'expire', to: 'expired' },
];

export const TERMINAL_CONSENT_STATUSES: ReadonlySet<ConsentStatus> = new Set<ConsentStatus>(['refused', 'revoked', 'expired']);

export type ConsentTransitionCheck = { ok: true; to: ConsentStatus } | { ok: false; reason: string };

/** The status `action` leads to from `from`, or the reason it is not allowed (one sentence). */
export function checkConsentTransition(from: ConsentStatus, action: ConsentAction): ConsentTransitionCheck {
  const hit = CONSENT_TRANSITIONS.find((t) => t.from === from && t.action === action);
  if (hit) return { ok: true, to: hit.to };
  if (TERMINAL_CONSENT_STATUSES.has(from)) return { ok: false, reason: `the consent is ${from}, a final status: request a new consent instead` };
  const legal = CONSENT_TRANSITIONS.filter((t) => t.action === action).map((t) => t.from);
  return { ok: false, reason: `the consent is ${from}: ${action} is only possible when it is ${legal.join(' or ')}` };
}

import crypto from 'node:crypto';
import { dspContext } from './schema-validator';

/** Builders for every message we send: the one place that knows their exact shape. */

export const newPid = (): string => `urn:uuid:${crypto.randomUUID()}`;

type Json = Record<string, unknown>;
const envelope = (type: string, fields: Json): Json => ({ '@context': dspContext(), '@type': type, ...fields });

export const negotiationAck = (n: { providerPid: string | null; consumerPid: string | null; state: string }): Json =>
  envelope('ContractNegotiation', { providerPid: n.providerPid, consumerPid: n.consumerPid, state: n.state });

export const contractRequestMessage = (f: { consumerPid: string; offer: Json; callbackAddress?: string; providerPid?: string }): Json =>
  envelope('ContractRequestMessage', {
    ...(f.providerPid ? { providerPid: f.providerPid } : {}),
    consumerPid: f.consumerPid,
    offer: f.offer,
    ...(f.callbackAddress && !f.providerPid ? { callbackAddress: f.callbackAddress } : {}),
  });

export const contractOfferMessage = (f: { providerPid: string; offer: Json; consumerPid?: string; callbackAddress?: string }): Json =>
  envelope('ContractOfferMessage', {
    providerPid: f.providerPid,
    ...(f.consumerPid ? { consumerPid: f.consumerPid } : {}),
    offer: f.offer,
    ...(f.callbackAddress && !f.consumerPid ? { callbackAddress: f.callbackAddress } : {}),
  });

export const contractAgreementMessage = (f: { providerPid: string; consumerPid: string; agreement: Json }): Json =>
  envelope('ContractAgreementMessage', f);

export const agreementVerificationMessage = (f: { providerPid: string; consumerPid: string }): Json =>
  envelope('ContractAgreementVerificationMessage', f);

export const negotiationEventMessage = (f: { providerPid: string; consumerPid: string; eventType: 'ACCEPTED' | 'FINALIZED' }): Json =>
  envelope('ContractNegotiationEventMessage', f);

export const negotiationTerminationMessage = (f: { providerPid: string; consumerPid: string; code: string; reasons: string[] }): Json =>
  envelope('ContractNegotiationTerminationMessage', {
    providerPid: f.providerPid,
    consumerPid: f.consumerPid,
    code: f.code,
    reason: f.reasons.length ? f.reasons : ['terminated'],
  });

export const transferAck = (t: { providerPid: string | null; consumerPid: string | null; state: string }): Json =>
  envelope('TransferProcess', { providerPid: t.providerPid, consumerPid: t.consumerPid, state: t.state });

/** The ODRL rule arrays of a policy, without ids or targets (what two offers must agree on). */
export function policyRules(policy: Json): Json {
  const rules: Json = {};
  for (const k of ['permission', 'prohibition', 'obligation'] as const) {
    if (Array.isArray(policy[k]) && (policy[k] as unknown[]).length) rules[k] = policy[k];
  }
  return rules;
}

/** Canonical JSON (sorted keys) for comparing policies received from peers with ours. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Json)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export const sameRules = (a: Json, b: Json): boolean => canonicalJson(policyRules(a)) === canonicalJson(policyRules(b));

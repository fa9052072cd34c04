import { findLeftOperand, findOperator } from '../policy';

type Json = Record<string, unknown>;

/**
 * Declared purpose, bound into the agreement in plain ODRL: the consumer requests the catalog offer
 * with `purpose eq <its purpose>` added to every permission (unless an identical constraint is
 * already there), the provider evaluates the contract policy with that purpose, and the agreement
 * carries the same rules, so the purpose travels with the agreement and is checked again on every
 * transfer and access. Connectors that declare nothing simply have no purpose (a purpose-constrained
 * policy then denies).
 */
const termOf = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof (v as Json | null)?.['@id'] === 'string' ? ((v as Json)['@id'] as string) : undefined);

function isPurposeEq(c: unknown): c is Json {
  const constraint = c as Json | null;
  if (!constraint || typeof constraint !== 'object') return false;
  const left = termOf(constraint.leftOperand);
  const op = termOf(constraint.operator);
  return !!left && findLeftOperand(left)?.name === 'purpose' && !!op && findOperator(op) === 'eq' && typeof constraint.rightOperand === 'string';
}

const purposeConstraint = (purpose: string): Json => ({ leftOperand: 'purpose', operator: 'eq', rightOperand: purpose });

/** The purpose an offer or agreement is bound to (`purpose eq X` in a permission), if any. */
export function declaredPurpose(policy: Json | null | undefined): string | undefined {
  for (const rule of (policy?.permission as Json[] | undefined) ?? []) {
    const hit = ((rule.constraint as unknown[] | undefined) ?? []).find(isPurposeEq);
    if (hit) return hit.rightOperand as string;
  }
  return undefined;
}

/** The rules of `policy` with every permission bound to `purpose`. */
export function bindPurpose(policy: Json, purpose: string | undefined): Json {
  if (!purpose || !Array.isArray(policy.permission)) return policy;
  const permission = (policy.permission as Json[]).map((rule) => {
    const constraints = (rule.constraint as unknown[] | undefined) ?? [];
    const bound = constraints.some((c) => isPurposeEq(c) && (c as Json).rightOperand === purpose);
    return bound ? rule : { ...rule, constraint: [...constraints, purposeConstraint(purpose)] };
  });
  return { ...policy, permission };
}

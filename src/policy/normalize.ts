import type { OdrlPolicy } from './types';

/**
 * DSP 2025-1's schema only allows string, object or array right operands, so a policy written with
 * `"rightOperand": 5` or `true` would make our catalog and agreements invalid on the wire. Such values
 * are stored as their string form (`"5"`, `"true"`), which every operand type parses the same way.
 */
export function normalizeRightOperands<T extends OdrlPolicy>(policy: T): T {
  const visit = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(visit);
    if (!node || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === 'rightOperand') out[k] = stringify(v);
      else out[k] = visit(v);
    }
    return out;
  };
  const stringify = (v: unknown): unknown =>
    typeof v === 'number' || typeof v === 'boolean' ? String(v) : Array.isArray(v) ? v.map(stringify) : v;
  return visit(policy) as T;
}

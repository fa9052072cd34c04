/**
 * Micro-benchmark of the policy engine: a compiled 10-constraint agreement policy (identity, purpose,
 * consent, region, usage window, validity period, N-times usage, one logical constraint, one duty)
 * evaluated at transfer time in a loop for about one second.
 */
import { compilePolicy, evaluate, type OdrlPolicy, type PolicyFacts } from '../../src/policy';

const POLICY: OdrlPolicy = {
  '@id': 'urn:uuid:bench-agreement',
  permission: [
    {
      action: 'use',
      constraint: [
        { leftOperand: 'participantId', operator: 'isAnyOf', rightOperand: ['did:web:coop-a.example', 'did:web:ministry.example'] },
        { leftOperand: 'membership', operator: 'isAnyOf', rightOperand: ['coop-a', 'ministry-agriculture'] },
        { leftOperand: 'purpose', operator: 'isAnyOf', rightOperand: ['agronomic-advice', 'research'] },
        { leftOperand: 'consent', operator: 'eq', rightOperand: 'granted' },
        { leftOperand: 'spatial', operator: 'isA', rightOperand: 'EU' },
        { leftOperand: 'dateTime', operator: 'gteq', rightOperand: '2026-01-01T00:00:00Z' },
        { leftOperand: 'dateTime', operator: 'lteq', rightOperand: { '@value': '2027-12-31T23:59:59Z', '@type': 'xsd:dateTime' } },
        { leftOperand: 'elapsedTime', operator: 'lteq', rightOperand: 'P12M' },
        { leftOperand: 'count', operator: 'lteq', rightOperand: 1_000_000 },
        { or: [{ leftOperand: 'country', operator: 'eq', rightOperand: 'FR' }, { leftOperand: 'organization', operator: 'eq', rightOperand: 'Coop A' }] },
      ],
      duty: [{ action: 'log' }],
    },
  ],
  prohibition: [{ action: 'distribute' }],
};

export async function run(durationMs = 1000): Promise<{ evaluationsPerSecond: number }> {
  const compiled = compilePolicy(POLICY);
  const facts: PolicyFacts = {
    now: new Date('2026-06-15T12:00:00Z'),
    participantId: 'did:web:coop-a.example',
    organization: 'Coop A',
    country: 'FR',
    groups: ['coop-a'],
    purpose: 'research',
    agreementTime: new Date('2026-01-15T12:00:00Z'),
    usageCount: 0,
    consent: () => true,
  };
  const request = { scope: 'transfer' as const, facts };
  // Check the benchmark measures the intended path (everything evaluated, allowed) and warm up.
  for (let i = 0; i < 10_000; i++) {
    facts.usageCount = i;
    if (!evaluate(compiled, request).allowed) throw new Error('benchmark policy unexpectedly denied');
  }
  let evaluations = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < durationMs) {
    for (let i = 0; i < 1000; i++) {
      facts.usageCount = i;
      evaluate(compiled, request);
    }
    evaluations += 1000;
    elapsed = performance.now() - start;
  }
  return { evaluationsPerSecond: Math.round((evaluations * 1000) / elapsed) };
}

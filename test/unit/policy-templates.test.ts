import fs from 'node:fs';
import path from 'node:path';
import { validatePolicy, evaluate, normalizeRightOperands } from '../../src/policy';
import { validateDspMessage } from '../../src/protocol/dsp/schema-validator';
import { policyRules } from '../../src/protocol/dsp/messages';
import { bindPurpose } from '../../src/usage/purpose';

const DIR = path.join(__dirname, '..', '..', 'config', 'policy-templates');

/** The shipped farm-data templates are valid policies, valid DSP offers, and mean what their titles say. */
describe('policy templates', () => {
  const templates = fs.readdirSync(DIR).filter((f) => f.endsWith('.json'));
  const load = (name: string) => JSON.parse(fs.readFileSync(path.join(DIR, name), 'utf8')) as { title: string; policy: any };

  it.each(templates)('%s validates as ODRL and as a DSP 2025-1 offer', (file) => {
    const { title, policy } = load(file);
    expect(title.length).toBeGreaterThan(10);
    const valid = normalizeRightOperands(validatePolicy(policy, '/policy'));
    const dataset = {
      '@context': ['https://w3id.org/dspace/2025/1/context.jsonld'],
      '@id': 'd',
      '@type': 'Dataset',
      hasPolicy: [{ '@id': 'o', '@type': 'Offer', ...policyRules(valid as never) }],
      distribution: [{ '@type': 'Distribution', format: 'HttpData-PULL', accessService: 's' }],
    };
    expect(validateDspMessage(dataset, 'Dataset')).toEqual({ ok: true, type: 'Dataset' });
  });

  it('agronomic advice: only for that purpose, with consent, for 12 months', () => {
    const { policy } = load('agronomic-advice-12-months.json');
    const agreed = bindPurpose(policy, 'agronomic-advice');
    const base = { now: new Date('2027-03-01T00:00:00Z'), agreementTime: new Date('2026-06-01T00:00:00Z'), purpose: 'agronomic-advice', consent: true };
    expect(evaluate(agreed as never, { scope: 'transfer', facts: base }).allowed).toBe(true);
    expect(evaluate(agreed as never, { scope: 'transfer', facts: { ...base, consent: false } }).reason).toMatch(/consent/);
    expect(evaluate(agreed as never, { scope: 'transfer', facts: { ...base, now: new Date('2027-06-02T00:00:00Z') } }).reason).toMatch(/elapsedTime/);
    expect(evaluate(agreed as never, { scope: 'transfer', action: 'distribute', facts: base }).allowed).toBe(false);
  });

  it('insurer: delete within 30 days of the agreement is a duty of every use', () => {
    const { policy } = load('insurer-30-days-delete.json');
    const d = evaluate(policy, { scope: 'usage', facts: { now: new Date(), agreementTime: new Date(), purpose: 'insurance-claim' } });
    expect(d.allowed).toBe(true);
    expect(d.duties).toEqual([expect.objectContaining({ action: 'delete', within: 'P30D' })]);
  });

  it('ministry statistics: EU only, every use logged', () => {
    const { policy } = load('ministry-statistics-eu.json');
    const facts = { now: new Date(), purpose: 'official-statistics' };
    expect(evaluate(policy, { scope: 'negotiation', facts: { ...facts, country: 'FR' } }).duties).toEqual([expect.objectContaining({ action: 'log' })]);
    expect(evaluate(policy, { scope: 'negotiation', facts: { ...facts, country: 'US' } }).allowed).toBe(false);
  });
});

import { ValidationError } from '../../src/errors';
import {
  compilePolicy,
  type ConsentRequirement,
  evaluate,
  type OdrlConstraint,
  type OdrlPolicy,
  type PolicyFacts,
  type PolicyScope,
  validatePolicy,
} from '../../src/policy';

const FACTS: PolicyFacts = {
  now: new Date('2026-06-15T12:00:00Z'),
  participantId: 'did:web:coop-a.example',
  organization: 'Coop A',
  country: 'FR',
  groups: ['coop-a', 'farmers'],
  purpose: 'research',
  agreementTime: new Date('2026-01-15T12:00:00Z'), // 5 calendar months = 151 days before `now`
  usageCount: 2, // the access being decided is the 3rd
  consent: true,
};

const policyWith = (constraint: unknown): OdrlPolicy => ({ permission: [{ action: 'use', constraint: [constraint as OdrlConstraint] }] });

function decide(constraint: unknown, facts: Partial<PolicyFacts> = {}, scope: PolicyScope = 'transfer') {
  return evaluate(policyWith(constraint), { scope, facts: { ...FACTS, ...facts } });
}

type Row = [leftOperand: string, operator: string, rightOperand: unknown, allowed: boolean, facts?: Partial<PolicyFacts>];

/** Every operand × every operator it supports, each satisfied and violated. */
const TABLE: Row[] = [
  ...(['participantId', 'organization', 'purpose'] as const).flatMap((operand): Row[] => {
    const actual = { participantId: FACTS.participantId, organization: FACTS.organization, purpose: FACTS.purpose }[operand]!;
    return [
      [operand, 'eq', actual, true],
      [operand, 'eq', 'someone-else', false],
      [operand, 'neq', 'someone-else', true],
      [operand, 'neq', actual, false],
      [operand, 'isAnyOf', ['x', actual], true],
      [operand, 'isAnyOf', ['x', 'y'], false],
      [operand, 'isNoneOf', ['x', 'y'], true],
      [operand, 'isNoneOf', [actual], false],
      [operand, 'isPartOf', [actual, 'x'], true],
      [operand, 'isPartOf', ['x'], false],
    ];
  }),
  ...(['country', 'spatial'] as const).flatMap((operand): Row[] => [
    [operand, 'eq', 'FR', true],
    [operand, 'eq', 'DE', false],
    [operand, 'eq', 'EU', true],
    [operand, 'neq', 'DE', true],
    [operand, 'neq', 'EU', false],
    [operand, 'isA', 'EU', true],
    [operand, 'isA', 'EFTA', false],
    [operand, 'isAnyOf', ['DE', 'FR'], true],
    [operand, 'isAnyOf', ['DE'], false],
    [operand, 'isPartOf', ['EEA'], true],
    [operand, 'isPartOf', ['EFTA', 'DE'], false],
    [operand, 'isNoneOf', ['EFTA'], true],
    [operand, 'isNoneOf', ['EU'], false],
  ]),
  ['spatial', 'isA', 'http://example.org/EU', true],
  ['spatial', 'eq', 'http://ontologi.es/place/DE', true, { country: 'de' }],
  ['spatial', 'isA', 'EEA', true, { country: 'NO' }],
  ['spatial', 'isA', 'EU', false, { country: 'NO' }],
  ['spatial', 'isA', 'EL', true, { country: 'GR' }],
  ['membership', 'eq', ['farmers', 'coop-a'], true],
  ['membership', 'eq', 'coop-a', false],
  ['membership', 'neq', 'coop-a', true],
  ['membership', 'neq', ['coop-a', 'farmers'], false],
  ['membership', 'isA', 'farmers', true],
  ['membership', 'isA', 'ministry', false],
  ['membership', 'isAnyOf', ['ministry', 'farmers'], true],
  ['membership', 'isAnyOf', ['ministry'], false],
  ['membership', 'isAllOf', ['coop-a', 'farmers'], true],
  ['membership', 'isAllOf', ['coop-a', 'ministry'], false],
  ['membership', 'hasPart', ['coop-a'], true],
  ['membership', 'hasPart', ['ministry'], false],
  ['membership', 'isNoneOf', ['ministry'], true],
  ['membership', 'isNoneOf', ['farmers'], false],
  ['membership', 'isPartOf', ['coop-a', 'farmers', 'ministry'], true],
  ['membership', 'isPartOf', ['coop-a'], false],
  ['membership', 'isPartOf', ['coop-a'], false, { groups: [] }],
  ['group', 'isA', 'coop-a', true],
  ['dateTime', 'eq', '2026-06-15T12:00:00Z', true],
  ['dateTime', 'eq', '2026-06-15T12:00:01Z', false],
  ['dateTime', 'neq', '2026-06-15T12:00:01Z', true],
  ['dateTime', 'neq', '2026-06-15T14:00:00+02:00', false],
  ['dateTime', 'gt', '2026-01-01T00:00:00Z', true],
  ['dateTime', 'gt', '2026-06-15T12:00:00Z', false],
  ['dateTime', 'gteq', '2026-06-15T12:00:00Z', true],
  ['dateTime', 'gteq', '2026-06-15T12:00:00.001Z', false],
  ['dateTime', 'lt', '2027-01-01T00:00Z', true],
  ['dateTime', 'lt', '2026-06-15T12:00:00Z', false],
  ['dateTime', 'lteq', '2026-06-15T14:00:00+02:00', true],
  ['dateTime', 'lteq', '2026-06-15T11:59:59.999Z', false],
  ['elapsedTime', 'eq', 'P5M', true],
  ['elapsedTime', 'eq', 'P151D', true],
  ['elapsedTime', 'eq', 'P150D', false],
  ['elapsedTime', 'neq', 'P6M', true],
  ['elapsedTime', 'neq', 'PT3624H', false],
  ['elapsedTime', 'gt', 'P4M', true],
  ['elapsedTime', 'gt', 'P5M', false],
  ['elapsedTime', 'gteq', 'P5M', true],
  ['elapsedTime', 'gteq', 'P5M1D', false],
  ['elapsedTime', 'lt', 'P1Y', true],
  ['elapsedTime', 'lt', 'P5M', false],
  ['elapsedTime', 'lteq', 'PT3624H', true],
  ['elapsedTime', 'lteq', 'P4M30D', false],
  ['count', 'eq', 3, true],
  ['count', 'eq', 2, false],
  ['count', 'neq', 2, true],
  ['count', 'neq', 3, false],
  ['count', 'gt', 2, true],
  ['count', 'gt', 3, false],
  ['count', 'gteq', 3, true],
  ['count', 'gteq', 4, false],
  ['count', 'lt', 4, true],
  ['count', 'lt', 3, false],
  ['count', 'lteq', 3, true],
  ['count', 'lteq', 2, false],
  ['consent', 'eq', 'granted', true],
  ['consent', 'eq', 'granted', false, { consent: false }],
  ['consent', 'eq', { category: 'yields' }, true, { consent: (r: ConsentRequirement) => r.category === 'yields' }],
  ['consent', 'eq', { category: 'yields' }, false, { consent: (r: ConsentRequirement) => r.category === 'herd' }],
];

describe('policy operands × operators', () => {
  // A rest parameter keeps the callback's arity at 0: jest would otherwise take a missing `facts` for a `done` callback.
  it.each(TABLE)('%s %s %j → allowed %s', (...[leftOperand, operator, rightOperand, allowed, facts]: Row) => {
    const constraint = { leftOperand, operator, rightOperand };
    expect(() => validatePolicy(policyWith(constraint))).not.toThrow();
    const decision = decide(constraint, facts);
    expect(decision.allowed).toBe(allowed);
    const entry = decision.trace.find((e) => e.constraint === 'permission[0].constraint[0]')!;
    expect(entry.outcome).toBe(allowed ? 'satisfied' : 'violated');
    expect(decision.reason).toEqual(allowed ? 'allowed by permission[0]' : expect.stringMatching(/^denied: permission\[0\]\.constraint\[0\] .* violated \(/));
  });

  it('covers every operator each operand supports', () => {
    const covered = new Set(TABLE.map(([operand, operator]) => `${operand} ${operator}`));
    const supported: Record<string, string[]> = {
      participantId: ['eq', 'neq', 'isAnyOf', 'isNoneOf', 'isPartOf'],
      organization: ['eq', 'neq', 'isAnyOf', 'isNoneOf', 'isPartOf'],
      purpose: ['eq', 'neq', 'isAnyOf', 'isNoneOf', 'isPartOf'],
      country: ['eq', 'neq', 'isA', 'isAnyOf', 'isPartOf', 'isNoneOf'],
      spatial: ['eq', 'neq', 'isA', 'isAnyOf', 'isPartOf', 'isNoneOf'],
      membership: ['eq', 'neq', 'isA', 'isAnyOf', 'isAllOf', 'hasPart', 'isNoneOf', 'isPartOf'],
      dateTime: ['eq', 'neq', 'gt', 'gteq', 'lt', 'lteq'],
      elapsedTime: ['eq', 'neq', 'gt', 'gteq', 'lt', 'lteq'],
      count: ['eq', 'neq', 'gt', 'gteq', 'lt', 'lteq'],
      consent: ['eq'],
    };
    for (const [operand, operators] of Object.entries(supported)) {
      for (const operator of operators) {
        expect(covered).toContain(`${operand} ${operator}`);
        const outcomes = TABLE.filter(([o, op]) => o === operand && op === operator).map((row) => row[3]);
        expect(new Set(outcomes)).toEqual(new Set([true, false]));
      }
    }
  });

  it.each([
    ['dateTime', 'isA', '2026-01-01T00:00:00Z', 'operator isA is not supported for dateTime (dateTime; supported: eq, neq, gt, gteq, lt, lteq)'],
    ['elapsedTime', 'isPartOf', ['P1D'], 'operator isPartOf is not supported for elapsedTime (duration; supported: eq, neq, gt, gteq, lt, lteq)'],
    ['count', 'isAnyOf', [1, 2], 'operator isAnyOf is not supported for count (integer; supported: eq, neq, gt, gteq, lt, lteq)'],
    ['purpose', 'isA', 'research', 'operator isA is not supported for purpose (string; supported: eq, neq, isAnyOf, isNoneOf, isPartOf)'],
    ['participantId', 'hasPart', ['x'], 'operator hasPart is not supported for participantId (string; supported: eq, neq, isAnyOf, isNoneOf, isPartOf)'],
    ['membership', 'gt', 'a', 'operator gt is not supported for membership (string-set; supported: eq, neq, isA, isAnyOf, isAllOf, hasPart, isNoneOf, isPartOf)'],
    ['spatial', 'lteq', 'EU', 'operator lteq is not supported for spatial (region; supported: eq, isA, isAnyOf, isPartOf, neq, isNoneOf)'],
    ['consent', 'neq', 'granted', 'operator neq is not supported for consent (consent; supported: eq)'],
    ['dateTime', 'term-lteq', '2026-01-01T00:00:00Z', 'operator term-lteq is not supported for dateTime (dateTime; supported: eq, neq, gt, gteq, lt, lteq)'],
  ])('%s %s is meaningless: unknown → deny, and rejected at creation', (leftOperand, operator, rightOperand, message) => {
    const constraint = { leftOperand, operator, rightOperand };
    const decision = decide(constraint);
    expect(decision.allowed).toBe(false);
    expect(decision.trace[1]).toMatchObject({ constraint: 'permission[0].constraint[0]', outcome: 'unknown', detail: message });
    expect(decision.reason).toBe(`denied: permission[0].constraint[0] ${leftOperand} ${operator}${typeof rightOperand === 'string' ? ` ${rightOperand}` : ''} unknown (${message})`);
    expect(() => validatePolicy(policyWith(constraint))).toThrow(new ValidationError(message, '/permission/0/constraint/0'));
  });

  it.each<[string, unknown, Partial<PolicyFacts>, string]>([
    ['purpose', 'research', { purpose: undefined }, 'fact purpose is missing or invalid'],
    ['country', 'FR', { country: 'France' }, 'fact country is missing or invalid'],
    ['count', 5, { usageCount: -1 }, 'fact usageCount is missing or invalid'],
    ['count', 5, { usageCount: 1.5 }, 'fact usageCount is missing or invalid'],
    ['dateTime', '2027-01-01T00:00:00Z', { now: new Date('nonsense') }, 'fact now is missing or invalid'],
    ['elapsedTime', 'P1Y', { agreementTime: undefined }, 'fact agreementTime is missing or invalid'],
    ['membership', 'coop-a', { groups: 'coop-a' as unknown as string[] }, 'fact groups is missing or invalid'],
    ['participantId', 'x', { participantId: '' }, 'fact participantId is missing or invalid'],
    ['consent', 'granted', { consent: undefined }, 'fact consent is missing or invalid'],
  ])('a missing or malformed %s fact is unknown → deny', (leftOperand, rightOperand, facts, detail) => {
    const decision = decide({ leftOperand, operator: 'eq', rightOperand }, facts);
    expect(decision.allowed).toBe(false);
    expect(decision.trace[1]).toMatchObject({ outcome: 'unknown', detail });
  });

  describe('count (N-times usage)', () => {
    const usesAllowed = (operator: string, bound: number) => {
      let allowed = 0;
      for (let usageCount = 0; usageCount < bound + 3; usageCount++) {
        if (decide({ leftOperand: 'count', operator, rightOperand: bound }, { usageCount }).allowed) allowed++;
      }
      return allowed;
    };

    it('lteq 5 allows exactly five uses: allowed while usageCount < 5', () => {
      expect(usesAllowed('lteq', 5)).toBe(5);
      expect(decide({ leftOperand: 'count', operator: 'lteq', rightOperand: 5 }, { usageCount: 4 }).allowed).toBe(true);
      const fifth = decide({ leftOperand: 'count', operator: 'lteq', rightOperand: 5 }, { usageCount: 5 });
      expect(fifth.allowed).toBe(false);
      expect(fifth.reason).toBe('denied: permission[0].constraint[0] count lteq 5 violated (use number 6)');
    });

    it('lt 5 allows four uses (as the Dataspace Connector: LT → n−1)', () => {
      expect(usesAllowed('lt', 5)).toBe(4);
    });

    it('is not evaluated in catalog or negotiation, where there is no agreement yet', () => {
      const exhausted = { leftOperand: 'count', operator: 'lteq', rightOperand: 5 };
      expect(decide(exhausted, { usageCount: 9 }, 'catalog').allowed).toBe(true);
      expect(decide(exhausted, { usageCount: 9 }, 'negotiation').allowed).toBe(true);
      expect(decide(exhausted, { usageCount: 9 }, 'usage').allowed).toBe(false);
    });
  });

  describe('elapsedTime (calendar arithmetic from agreementTime)', () => {
    const validFor = (duration: string, agreementTime: string, now: string) =>
      decide({ leftOperand: 'elapsedTime', operator: 'lteq', rightOperand: duration }, { agreementTime: new Date(agreementTime), now: new Date(now) }).allowed;

    it('adds months in the calendar, pinning the day to the end of a shorter month', () => {
      expect(validFor('P1M', '2024-01-31T00:00:00Z', '2024-02-29T00:00:00Z')).toBe(true);
      expect(validFor('P1M', '2024-01-31T00:00:00Z', '2024-02-29T00:00:00.001Z')).toBe(false);
      expect(validFor('P12M', '2025-03-01T08:00:00Z', '2026-03-01T08:00:00Z')).toBe(true);
      expect(validFor('P1Y', '2025-03-01T08:00:00Z', '2026-03-01T08:00:01Z')).toBe(false);
    });

    it('treats days and clock units as fixed lengths', () => {
      expect(validFor('PT12H', '2026-01-01T00:00:00Z', '2026-01-01T12:00:00Z')).toBe(true);
      expect(validFor('PT1M30.5S', '2026-01-01T00:00:00Z', '2026-01-01T00:01:30.501Z')).toBe(false);
      expect(validFor('P30D', '2026-02-01T00:00:00Z', '2026-03-03T00:00:00Z')).toBe(true);
    });

    it('shows the elapsed time in the trace', () => {
      const decision = decide({ leftOperand: 'elapsedTime', operator: 'lteq', rightOperand: 'P4M' });
      expect(decision.trace[1]).toMatchObject({ expected: 'P4M', actual: 'P151D', outcome: 'violated' });
    });
  });

  describe('consent', () => {
    it('asks for consent covering the request purpose by default', () => {
      const asked: ConsentRequirement[] = [];
      decide({ leftOperand: 'consent', operator: 'eq', rightOperand: 'granted' }, { consent: (r) => (asked.push(r), true) });
      expect(asked).toEqual([{ purpose: 'research' }]);
    });

    it('passes the requirement of the right operand, which may name its own purpose', () => {
      const asked: ConsentRequirement[] = [];
      const consent = (r: ConsentRequirement) => (asked.push(r), true);
      decide({ leftOperand: 'hedgerow:consent', operator: 'eq', rightOperand: { category: 'yields', originator: 'farmer:42' } }, { consent });
      decide({ leftOperand: 'consent', operator: 'eq', rightOperand: { purpose: 'advice' } }, { consent });
      expect(asked).toEqual([{ category: 'yields', originator: 'farmer:42', purpose: 'research' }, { purpose: 'advice' }]);
    });

    it('is unknown (deny) when the check throws or does not answer a boolean', () => {
      const throwing = decide({ leftOperand: 'consent', operator: 'eq', rightOperand: 'granted' }, { consent: () => { throw new Error('register offline'); } });
      expect(throwing.allowed).toBe(false);
      expect(throwing.trace[1]).toMatchObject({ outcome: 'unknown', detail: 'the consent check failed: register offline' });
      const promise = decide({ leftOperand: 'consent', operator: 'eq', rightOperand: 'granted' }, { consent: (() => Promise.resolve(true)) as never });
      expect(promise.trace[1]).toMatchObject({ outcome: 'unknown', detail: 'the consent check did not return a boolean' });
    });

    it('is not evaluated in the catalog (no purpose declared yet)', () => {
      expect(decide({ leftOperand: 'consent', operator: 'eq', rightOperand: 'granted' }, { consent: false }, 'catalog').allowed).toBe(true);
      expect(decide({ leftOperand: 'consent', operator: 'eq', rightOperand: 'granted' }, { consent: false }, 'negotiation').allowed).toBe(false);
    });
  });

  describe('right operand forms', () => {
    it.each<[string, string, unknown, boolean]>([
      ['dateTime', 'lteq', { '@value': '2026-12-31T00:00:00Z', '@type': 'xsd:dateTime' }, true],
      ['dateTime', 'lteq', { '@value': '2026-01-01T00:00:00Z', '@type': 'http://www.w3.org/2001/XMLSchema#dateTime' }, false],
      ['elapsedTime', 'lteq', { '@value': 'P6M', '@type': 'xsd:duration' }, true],
      ['count', 'lteq', '3', true],
      ['count', 'lteq', { '@value': 2, '@type': 'xsd:integer' }, false],
      ['count', 'lteq', { '@value': '3', '@type': 'xsd:double' }, true],
      ['spatial', 'isA', { '@id': 'http://example.org/EU' }, true],
      ['purpose', 'isAnyOf', [{ '@value': 'research' }, { '@id': 'https://example.org/purpose/advice' }], true],
      ['purpose', 'isAnyOf', 'research', true],
      ['consent', 'eq', { '@id': 'hedgerow:granted' }, true],
    ])('%s %s %j → allowed %s', (leftOperand, operator, rightOperand, allowed) => {
      const constraint = { leftOperand, operator, rightOperand };
      expect(() => validatePolicy(policyWith(constraint))).not.toThrow();
      expect(decide(constraint).allowed).toBe(allowed);
    });

    it('normalises the expected value in the trace', () => {
      const decision = decide({ leftOperand: 'dateTime', operator: 'lteq', rightOperand: { '@value': '2026-12-31T01:00+01:00', '@type': 'xsd:dateTime' } });
      expect(decision.trace[1]).toMatchObject({ expected: '2026-12-31T00:00:00Z', actual: '2026-06-15T12:00:00Z' });
    });
  });

  it('compiles once and evaluates with different facts', () => {
    const compiled = compilePolicy(policyWith({ leftOperand: 'country', operator: 'isA', rightOperand: 'EU' }));
    expect(evaluate(compiled, { scope: 'catalog', facts: { ...FACTS, country: 'DE' } }).allowed).toBe(true);
    expect(evaluate(compiled, { scope: 'catalog', facts: { ...FACTS, country: 'CH' } }).allowed).toBe(false);
  });
});

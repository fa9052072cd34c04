import { ValidationError } from '../../src/errors';
import { compilePolicy, evaluate, MAX_CONSTRAINT_DEPTH, type OdrlPolicy, validatePolicy } from '../../src/policy';

const atomic = (leftOperand: unknown, operator: unknown, rightOperand: unknown) => ({ leftOperand, operator, rightOperand });
const OK = atomic('purpose', 'eq', 'research');
const withConstraints = (...constraint: unknown[]) => ({ permission: [{ action: 'use', constraint }] });

function validationErrorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw new Error(`expected a ValidationError, got ${String(err)}`);
  }
  throw new Error('expected a ValidationError, nothing was thrown');
}

/** Builds `{and: [{and: [… OK …]}]}` nested `depth` levels deep, iteratively. */
function nested(depth: number, innermost: unknown = OK): unknown {
  let constraint = innermost;
  for (let i = 1; i < depth; i++) constraint = { and: [constraint] };
  return constraint;
}

describe('validatePolicy', () => {
  it('returns a valid policy unchanged, typed', () => {
    const agreement = {
      '@id': 'urn:uuid:e8dc8655-44c2-46ef-b701-4cffdc2faa44',
      '@type': 'Agreement',
      target: 'urn:uuid:3dd1add4-4d2d-569e-d634-8394a8836d23',
      timestamp: '2023-01-01T01:00:00Z',
      assigner: 'http://example.com/Provider',
      assignee: 'http://example.com/Consumer',
      permission: [{ action: 'use', constraint: [{ leftOperand: 'dateTime', operator: 'lteq', rightOperand: '2023-12-31T06:00Z' }] }],
    };
    expect(validatePolicy(agreement)).toBe(agreement);
    const farmerConsent = {
      '@id': 'urn:uuid:1',
      permission: [
        {
          action: 'use',
          constraint: [
            { leftOperand: 'membership', operator: 'isAnyOf', rightOperand: ['coop-a', 'ministry-agriculture'] },
            { leftOperand: 'purpose', operator: 'isAnyOf', rightOperand: ['agronomic-advice', 'research'] },
            { leftOperand: 'consent', operator: 'eq', rightOperand: { category: 'parcel-yields' } },
            { or: [{ leftOperand: 'spatial', operator: 'isA', rightOperand: 'EU' }, { leftOperand: 'country', operator: 'eq', rightOperand: 'CH' }] },
            { leftOperand: 'elapsedTime', operator: 'lteq', rightOperand: 'P12M' },
            { leftOperand: 'count', operator: 'lteq', rightOperand: '100' },
          ],
          duty: [{ action: 'notify', constraint: [{ leftOperand: 'recipient', operator: 'eq', rightOperand: 'https://coop-a.example/consent-log' }] }],
        },
      ],
      prohibition: [{ action: 'distribute' }],
      obligation: [{ action: 'delete', constraint: [{ leftOperand: 'elapsedTime', operator: 'lteq', rightOperand: 'P13M' }] }],
    };
    expect(validatePolicy(farmerConsent)).toBe(farmerConsent);
  });

  it.each<[string, unknown, string, string]>([
    ['null', null, '', 'policy must be a JSON object'],
    ['an array', [], '', 'policy must be a JSON object'],
    ['a string', 'use', '', 'policy must be a JSON object'],
    ['no rules', { '@id': 'urn:x' }, '', 'policy needs at least one permission or prohibition'],
    ['only obligations', { obligation: [{ action: 'log' }] }, '', 'policy needs at least one permission or prohibition'],
    ['permission not an array', { permission: { action: 'use' } }, '/permission', 'permission must be an array'],
    ['empty permission array', { permission: [] }, '/permission', 'permission must not be empty'],
    ['rule not an object', { permission: [null] }, '/permission/0', 'permission must be a JSON object'],
    ['missing action', { permission: [{}] }, '/permission/0', 'action is required'],
    ['action of the wrong type', { permission: [{ action: 5 }] }, '/permission/0', 'action must be a string, {"@id": string} or {"rdf:value": …, "refinement": […]}'],
    ['unknown action', { permission: [{ action: 'teleport' }] }, '/permission/0', 'unknown action "teleport"'],
    ['unknown action in a prohibition', { permission: [{ action: 'use' }], prohibition: [{ action: 'odrl:fly' }] }, '/prohibition/0', 'unknown action "odrl:fly"'],
    ['constraint not an array', { permission: [{ action: 'use', constraint: OK }] }, '/permission/0/constraint', 'constraint must be an array'],
    ['constraint not an object', withConstraints(OK, 'purpose eq research'), '/permission/0/constraint/1', 'constraint must be a JSON object'],
    ['unknown operator', withConstraints(OK, atomic('purpose', 'equals', 'research')), '/permission/0/constraint/1', 'unknown operator "equals"'],
    ['unknown left operand', withConstraints(atomic('shoeSize', 'eq', '42')), '/permission/0/constraint/0', 'unknown left operand "shoeSize"'],
    ['missing leftOperand', withConstraints({ operator: 'eq', rightOperand: 'x' }), '/permission/0/constraint/0', 'leftOperand is required'],
    ['missing operator', withConstraints({ leftOperand: 'purpose', rightOperand: 'x' }), '/permission/0/constraint/0', 'operator is required'],
    ['missing rightOperand', withConstraints({ leftOperand: 'purpose', operator: 'eq' }), '/permission/0/constraint/0', 'rightOperand is required'],
    ['numeric leftOperand', withConstraints(atomic(42, 'eq', 'x')), '/permission/0/constraint/0', 'leftOperand must be a string or {"@id": string}'],
    ['operator object without @id', withConstraints(atomic('purpose', { '@value': 'eq' }, 'x')), '/permission/0/constraint/0', 'operator must be a string or {"@id": string}'],
    ['null rightOperand', withConstraints(atomic('purpose', 'eq', null)), '/permission/0/constraint/0', 'rightOperand must be a string, number, object or array'],
    ['boolean rightOperand', withConstraints(atomic('purpose', 'eq', true)), '/permission/0/constraint/0', 'rightOperand must be a string, number, object or array'],
    ['logical constraint with no operator', withConstraints({}), '/permission/0/constraint/0', 'constraint needs leftOperand, operator and rightOperand, or exactly one of and, or, xone, andSequence'],
    ['logical constraint with two operators', withConstraints({ and: [OK], or: [OK] }), '/permission/0/constraint/0', 'logical constraint must have exactly one of and, or, xone, andSequence (found and, or)'],
    ['logical and atomic at once', withConstraints({ ...OK, xone: [OK] }), '/permission/0/constraint/0', 'a constraint is either logical (and, or, xone, andSequence) or atomic (leftOperand, operator, rightOperand), not both'],
    ['logical operand not an array', withConstraints({ and: OK }), '/permission/0/constraint/0/and', 'and must be an array of constraints'],
    ['empty logical operand', withConstraints({ andSequence: [] }), '/permission/0/constraint/0/andSequence', 'andSequence must contain at least one constraint'],
    ['problem deep inside', withConstraints(OK, { or: [OK, { and: [atomic('odrl:nope', 'eq', 'x')] }] }), '/permission/0/constraint/1/or/1/and/0', 'unknown left operand "odrl:nope"'],
    ['dateTime not a date-time', withConstraints(atomic('dateTime', 'lteq', 'tomorrow')), '/permission/0/constraint/0', 'rightOperand must be an ISO 8601 date-time with timezone, e.g. 2026-12-31T23:59:59Z, got "tomorrow"'],
    ['dateTime without time', withConstraints(atomic('dateTime', 'lteq', '2026-12-31')), '/permission/0/constraint/0', 'rightOperand must be an ISO 8601 date-time with timezone, e.g. 2026-12-31T23:59:59Z, got "2026-12-31"'],
    ['dateTime without timezone', withConstraints(atomic('dateTime', 'lteq', '2026-12-31T00:00:00')), '/permission/0/constraint/0', 'rightOperand must be an ISO 8601 date-time with timezone, e.g. 2026-12-31T23:59:59Z, got "2026-12-31T00:00:00"'],
    ['impossible date', withConstraints(atomic('dateTime', 'lteq', '2026-02-30T00:00:00Z')), '/permission/0/constraint/0', 'rightOperand must be an ISO 8601 date-time with timezone, e.g. 2026-12-31T23:59:59Z, got "2026-02-30T00:00:00Z"'],
    ['dateTime as a number', withConstraints(atomic('dateTime', 'lteq', 1767139200000)), '/permission/0/constraint/0', 'rightOperand must be an ISO 8601 date-time with timezone, e.g. 2026-12-31T23:59:59Z, got 1767139200000'],
    ['dateTime with a foreign @type', withConstraints(atomic('dateTime', 'lteq', { '@value': '2026-12-31T00:00:00Z', '@type': 'xsd:integer' })), '/permission/0/constraint/0', 'rightOperand @type xsd:integer does not fit dateTime'],
    ['dateTime given a list', withConstraints(atomic('dateTime', 'lteq', ['2026-12-31T00:00:00Z'])), '/permission/0/constraint/0', 'operator lteq takes a single value, got a list'],
    ...['30 days', 'P', 'PT', 'P1DT', '-P1D', 'P1W', 'P1.5D'].map((bad): [string, unknown, string, string] => [
      `elapsedTime ${bad}`,
      withConstraints(atomic('elapsedTime', 'lteq', bad)),
      '/permission/0/constraint/0',
      `rightOperand must be an xsd:duration such as P30D, PT12H or P1Y, got "${bad}"`,
    ]),
    ...[-1, 1.5, '5x', '-1'].map((bad): [string, unknown, string, string] => [
      `count ${bad}`,
      withConstraints(atomic('count', 'lteq', bad)),
      '/permission/0/constraint/0',
      `rightOperand must be a non-negative integer, got ${typeof bad === 'string' ? `"${bad}"` : bad}`,
    ]),
    ['count typed as a string', withConstraints(atomic('count', 'lteq', { '@value': '5', '@type': 'xsd:string' })), '/permission/0/constraint/0', 'rightOperand @type xsd:string does not fit integer'],
    ['purpose eq a list', withConstraints(atomic('purpose', 'eq', ['a', 'b'])), '/permission/0/constraint/0', 'operator eq takes a single value, got a list'],
    ['empty list', withConstraints(atomic('purpose', 'isAnyOf', [])), '/permission/0/constraint/0', 'rightOperand list is empty'],
    ['empty string', withConstraints(atomic('purpose', 'isAnyOf', ['research', ''])), '/permission/0/constraint/0', 'rightOperand must be a non-empty string, got ""'],
    ['nested list', withConstraints(atomic('membership', 'isAnyOf', [['a']])), '/permission/0/constraint/0', 'rightOperand must be a non-empty string, got a list'],
    ['unknown region', withConstraints(atomic('spatial', 'isA', 'Europe')), '/permission/0/constraint/0', 'rightOperand must be a region (EU, EEA, EFTA) or an ISO 3166-1 alpha-2 country code, got "Europe"'],
    ['consent value', withConstraints(atomic('consent', 'eq', 'maybe')), '/permission/0/constraint/0', 'rightOperand must be "granted" or a consent requirement object, got "maybe"'],
    ['consent requirement key', withConstraints(atomic('consent', 'eq', { purpose: 'research', farmer: 'x' })), '/permission/0/constraint/0', 'consent requirement has unknown key "farmer" (expected purpose, category, originator)'],
    ['operator meaningless for the type', withConstraints(atomic('dateTime', 'isA', '2026-12-31T00:00:00Z')), '/permission/0/constraint/0', 'operator isA is not supported for dateTime (dateTime; supported: eq, neq, gt, gteq, lt, lteq)'],
    ['recipient outside a duty', withConstraints(atomic('recipient', 'eq', 'https://x.example')), '/permission/0/constraint/0', 'recipient is a duty parameter: only allowed directly in a duty\'s constraints or refinements'],
    ['recipient that is not an IRI', { permission: [{ action: 'use', duty: [{ action: 'notify', constraint: [atomic('recipient', 'eq', 'coop a')] }] }] }, '/permission/0/duty/0/constraint/0', 'rightOperand must be an IRI, got "coop a"'],
    ['two recipients', { permission: [{ action: 'use', duty: [{ action: 'notify', constraint: [atomic('recipient', 'eq', 'https://a.example'), atomic('recipient', 'eq', 'https://b.example')] }] }] }, '/permission/0/duty/0/constraint/1', 'a duty has at most one recipient'],
    ['deadline with the wrong operator', { permission: [{ action: 'use' }], obligation: [{ action: 'delete', constraint: [atomic('dateTime', 'gt', '2026-12-31T00:00:00Z')] }] }, '/obligation/0/constraint/0', 'in a duty, dateTime is a parameter: use eq, lt, lteq'],
    ['duty on a prohibition', { prohibition: [{ action: 'use', duty: [{ action: 'log' }] }] }, '/prohibition/0/duty', 'only permissions can carry duties'],
    ['duty not an object', { permission: [{ action: 'use', duty: ['log'] }] }, '/permission/0/duty/0', 'duty must be a JSON object'],
    ['duty the connector cannot perform', { permission: [{ action: 'use' }], obligation: [{ action: 'compensate' }] }, '/obligation/0', 'duty action compensate cannot be performed by this connector (supported: log, notify, delete)'],
    ['bad refinement', { permission: [{ action: { 'rdf:value': { '@id': 'odrl:use' }, refinement: [atomic('purpose', 'eq', 7)] } }] }, '/permission/0/action/refinement/0', 'rightOperand must be a non-empty string, got 7'],
    ['too deep', withConstraints(nested(MAX_CONSTRAINT_DEPTH + 1)), `/permission/0/constraint/0${'/and/0'.repeat(MAX_CONSTRAINT_DEPTH)}`, 'constraints are nested deeper than 32 levels'],
  ])('rejects %s', (_name, policy, path, message) => {
    const err = validationErrorOf(() => validatePolicy(policy));
    expect(err.path).toBe(path);
    expect(err.message).toBe(path ? `${path}: ${message}` : message);
    expect(err.code).toBe('VALIDATION_FAILED');
  });

  it('reports the first problem in document order', () => {
    const policy = {
      permission: [{ action: 'use', constraint: [OK] }, { action: 'use', constraint: [OK, atomic('purpose', 'equals', 'x')] }],
      prohibition: [{ action: 'teleport' }],
    };
    expect(validationErrorOf(() => validatePolicy(policy)).message).toBe('/permission/1/constraint/1: unknown operator "equals"');
  });

  it('prefixes paths with the given base path', () => {
    expect(validationErrorOf(() => validatePolicy({ permission: [{}] }, '/offer')).message).toBe('/offer/permission/0: action is required');
  });

  it('accepts the maximum nesting depth', () => {
    expect(() => validatePolicy(withConstraints(nested(MAX_CONSTRAINT_DEPTH)))).not.toThrow();
  });
});

describe('policy engine with hostile input', () => {
  /** Every outcome allowed for arbitrary input: a result, or a ValidationError; never another exception. */
  function survives(input: unknown): void {
    for (const attempt of [() => validatePolicy(input), () => evaluate(compilePolicy(input as OdrlPolicy), { scope: 'transfer', facts: { now: new Date() } })]) {
      try {
        attempt();
      } catch (err) {
        if (!(err instanceof ValidationError)) throw new Error(`threw ${String(err)} for ${show(input)}`);
      }
    }
  }
  const show = (input: unknown) => {
    try {
      return JSON.stringify(input)?.slice(0, 300);
    } catch {
      return String(input);
    }
  };

  it('rejects very deep nesting with a ValidationError, not a stack overflow', () => {
    const err = validationErrorOf(() => compilePolicy(withConstraints(nested(100_000)) as OdrlPolicy));
    expect(err.message).toMatch(/constraints are nested deeper than 32 levels$/);
  });

  it('rejects a cyclic structure through the depth limit', () => {
    const cyclic: { and: unknown[] } = { and: [] };
    cyclic.and.push(cyclic);
    expect(validationErrorOf(() => validatePolicy(withConstraints(cyclic))).message).toMatch(/nested deeper than 32 levels$/);
    const rule: Record<string, unknown> = { action: 'use' };
    rule['duty'] = [rule];
    // Duties carry no duties, so the cycle is never followed; the duty's action `use` is what is wrong.
    expect(validationErrorOf(() => validatePolicy({ permission: [rule] })).message).toBe(
      '/permission/0/duty/0: duty action use cannot be performed by this connector (supported: log, notify, delete)',
    );
    expect(evaluate(compilePolicy({ permission: [rule] } as unknown as OdrlPolicy), { scope: 'transfer', facts: { now: new Date() } }).allowed).toBe(false);
  });

  it('handles deeply nested right operands and prototype-named keys', () => {
    let deepList: unknown = 'x';
    for (let i = 0; i < 100_000; i++) deepList = [deepList];
    survives(withConstraints(atomic('membership', 'isAnyOf', deepList)));
    survives(JSON.parse('{"permission":[{"action":"use","constraint":[{"__proto__":{"leftOperand":"purpose"},"operator":"eq","rightOperand":"x"}]}]}'));
    survives(JSON.parse('{"__proto__":{"permission":[{"action":"use"}]}}'));
    survives(withConstraints(atomic({ '@id': { '@id': 'purpose' } }, 'eq', 'x')));
    survives(withConstraints(atomic('consent', 'eq', { purpose: { toString: 1 } })));
  });

  it('survives thousands of random and mutated policies', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const TERMS = ['use', 'odrl:use', 'and', 'or', 'xone', 'andSequence', 'eq', 'isA', 'count', 'dateTime', 'elapsedTime', 'purpose', 'spatial', 'consent', 'recipient', 'membership', 'P1D', 'EU', '2026-01-01T00:00:00Z', '@id', '@value', '@type', 'refinement', 'rdf:value', 'duty', 'constraint', 'leftOperand', 'operator', 'rightOperand', 'permission', 'prohibition', 'obligation', '__proto__', 'constructor', ''];
    const value = (depth: number): unknown => {
      const roll = random();
      if (depth > 6 || roll < 0.3) return pick<unknown>([null, true, false, 0, -1, 1.5, 1e308, NaN, pick(TERMS)]);
      if (roll < 0.6) return Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(random() * 5) }, () => [pick(TERMS), value(depth + 1)]));
    };
    for (let i = 0; i < 3000; i++) survives(value(0));

    // Mutate one node of a valid policy at a time.
    const base = JSON.stringify({
      permission: [{ action: 'use', constraint: [{ and: [OK, atomic('count', 'lteq', 5)] }, atomic('spatial', 'isA', 'EU')], duty: [{ action: 'log' }] }],
      prohibition: [{ action: 'distribute' }],
      obligation: [{ action: 'delete', constraint: [atomic('elapsedTime', 'lteq', 'P30D')] }],
    });
    for (let i = 0; i < 3000; i++) {
      const policy = JSON.parse(base);
      const stack: unknown[] = [policy];
      const nodes: Array<Record<string, unknown> | unknown[]> = [];
      while (stack.length) {
        const node = stack.pop();
        if (node && typeof node === 'object') {
          nodes.push(node as Record<string, unknown>);
          stack.push(...Object.values(node));
        }
      }
      const target = pick(nodes);
      const key = Array.isArray(target) ? Math.floor(random() * (target.length + 1)) : pick([...Object.keys(target), pick(TERMS)]);
      (target as Record<string | number, unknown>)[key] = value(3);
      survives(policy);
    }
  });
});

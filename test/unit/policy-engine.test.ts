import {
  compilePolicy,
  type Decision,
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
  country: 'FR',
  groups: ['coop-a'],
  purpose: 'research',
  agreementTime: new Date('2026-06-01T00:00:00Z'),
  usageCount: 0,
  consent: true,
};

const SAT = { leftOperand: 'country', operator: 'eq', rightOperand: 'FR' };
const VIOL = { leftOperand: 'country', operator: 'eq', rightOperand: 'DE' };
const UNKNOWN = { leftOperand: 'shoeSize', operator: 'eq', rightOperand: '42' };
const DEFERRED = { leftOperand: 'count', operator: 'lteq', rightOperand: 0 }; // violated in transfer, not-applicable in catalog

function run(policy: unknown, options: { scope?: PolicyScope; action?: string; facts?: Partial<PolicyFacts> } = {}): Decision {
  const { scope = 'transfer', action, facts } = options;
  return evaluate(policy as OdrlPolicy, { scope, ...(action === undefined ? {} : { action }), facts: { ...FACTS, ...facts } });
}

const permit = (...constraint: unknown[]): OdrlPolicy => ({ permission: [{ action: 'use', constraint: constraint as OdrlConstraint[] }] });
const outcomeOf = (decision: Decision, path: string) => decision.trace.find((e) => (e.constraint ?? e.rule) === path)?.outcome;

describe('policy engine', () => {
  describe('actions', () => {
    it.each<[string, string, boolean]>([
      ['use', 'use', true],
      ['use', 'read', true],
      ['use', 'transfer', true],
      ['read', 'read', true],
      ['read', 'use', false],
      ['transfer', 'distribute', false],
      ['odrl:read', 'http://www.w3.org/ns/odrl/2/read', true],
      ['hedgerow:log', 'log', true],
    ])('permission %s covers request %s: %s', (granted, requested, allowed) => {
      const decision = run({ permission: [{ action: granted }] }, { action: requested });
      expect(decision.allowed).toBe(allowed);
      if (!allowed) expect(decision.reason).toMatch(/^denied: no permission covers action /);
    });

    it('defaults the requested action to use and reports it canonically', () => {
      expect(run({ permission: [{ action: { '@id': 'odrl:use' } }] })).toMatchObject({ allowed: true, action: 'use' });
      expect(run({ permission: [{ action: 'use' }] }, { action: 'odrl:read' }).action).toBe('read');
      expect(run({ permission: [{ action: 'transfer' }] }, { action: 'http://www.w3.org/ns/odrl/2/read' })).toMatchObject({ allowed: false, action: 'read' });
    });

    it('denies an unknown requested action with a trace entry saying so', () => {
      const decision = run({ permission: [{ action: 'use' }] }, { action: 'teleport' });
      expect(decision).toEqual({
        allowed: false,
        scope: 'transfer',
        action: 'teleport',
        reason: 'denied: unknown action "teleport"',
        trace: [{ rule: 'request', outcome: 'unknown', detail: 'unknown action "teleport"' }],
        duties: [],
      });
    });

    it('never grants through a permission with an unknown action, and denies on a prohibition with one', () => {
      const unknownPermission = run({ permission: [{ action: 'teleport' }] });
      expect(unknownPermission.allowed).toBe(false);
      expect(unknownPermission.reason).toBe('denied: permission[0] unknown action "teleport"; this permission cannot grant');
      const unknownProhibition = run({ permission: [{ action: 'use' }], prohibition: [{ action: 'odrl:teleport' }] });
      expect(unknownProhibition.allowed).toBe(false);
      expect(unknownProhibition.reason).toBe('denied: prohibition[0] unknown action "odrl:teleport"; denying because it may cover use');
    });

    it('denies an unknown scope', () => {
      const decision = run({ permission: [{ action: 'use' }] }, { scope: 'everywhere' as PolicyScope });
      expect(decision).toMatchObject({ allowed: false, reason: 'denied: unknown scope "everywhere"' });
    });
  });

  describe('permissions and prohibitions', () => {
    it('allows when any covering permission is in effect, naming it', () => {
      const decision = run({ permission: [{ action: 'use', constraint: [VIOL] }, { action: 'use', constraint: [SAT] }] });
      expect(decision).toMatchObject({ allowed: true, reason: 'allowed by permission[1]' });
    });

    it('explains a denial by the first failing constraint of the first covering permission', () => {
      const decision = evaluate(
        { permission: [{ action: 'use', constraint: [SAT, { leftOperand: 'dateTime', operator: 'lteq', rightOperand: '2026-12-31T00:00:00Z' }] }] },
        { scope: 'transfer', facts: { ...FACTS, now: new Date('2027-01-02T10:00:00Z') } },
      );
      expect(decision.reason).toBe('denied: permission[0].constraint[1] dateTime lteq 2026-12-31T00:00:00Z violated (now 2027-01-02T10:00:00Z)');
    });

    it('lets a prohibition in effect override any permission', () => {
      const policy = {
        permission: [{ action: 'use' }],
        prohibition: [{ action: 'use', constraint: [{ leftOperand: 'purpose', operator: 'eq', rightOperand: 'marketing' }] }],
      };
      expect(run(policy).allowed).toBe(true);
      const denied = run(policy, { facts: { purpose: 'marketing' } });
      expect(denied.allowed).toBe(false);
      expect(denied.reason).toBe('denied by prohibition[0]: prohibition[0].constraint[0] purpose eq marketing satisfied (purpose marketing)');
      expect(denied.trace.map((e) => [e.constraint ?? e.rule, e.outcome])).toEqual([
        ['permission[0]', 'satisfied'],
        ['prohibition[0]', 'satisfied'],
        ['prohibition[0].constraint[0]', 'satisfied'],
      ]);
    });

    it('applies a prohibition only to the action it covers: "use but do not distribute"', () => {
      const policy = { permission: [{ action: 'use' }], prohibition: [{ action: 'distribute' }] };
      expect(run(policy, { action: 'distribute' })).toMatchObject({ allowed: false, reason: 'denied by prohibition[0]' });
      expect(run(policy, { action: 'read' }).allowed).toBe(true);
      expect(run(policy).allowed).toBe(true);
    });

    it('fails closed on a prohibition that cannot be decided', () => {
      const decision = run(
        { permission: [{ action: 'use' }], prohibition: [{ action: 'use', constraint: [{ leftOperand: 'purpose', operator: 'eq', rightOperand: 'marketing' }] }] },
        { facts: { purpose: undefined } },
      );
      expect(decision.allowed).toBe(false);
      expect(decision.reason).toBe('denied: prohibition[0].constraint[0] purpose eq marketing unknown (fact purpose is missing or invalid)');
    });

    it('denies when there is only a prohibition (nothing is permitted)', () => {
      expect(run({ prohibition: [{ action: 'distribute' }] }).reason).toBe('denied: no permission covers action use');
    });

    it('denies with a trace entry naming an unknown left operand', () => {
      const decision = run(permit(SAT, UNKNOWN));
      expect(decision.allowed).toBe(false);
      expect(decision.trace[2]).toEqual({
        rule: 'permission[0]',
        constraint: 'permission[0].constraint[1]',
        leftOperand: 'shoeSize',
        operator: 'eq',
        expected: '42',
        outcome: 'unknown',
        detail: 'unknown left operand "shoeSize"',
      });
      expect(decision.reason).toBe('denied: permission[0].constraint[1] shoeSize eq 42 unknown (unknown left operand "shoeSize")');
    });

    it('treats an unknown operator the same way', () => {
      const decision = run(permit({ leftOperand: 'country', operator: 'equals', rightOperand: 'FR' }));
      expect(decision).toMatchObject({ allowed: false, reason: 'denied: permission[0].constraint[0] country equals FR unknown (unknown operator "equals")' });
    });
  });

  describe('logical constraints', () => {
    it.each<[string, unknown[], string]>([
      ['and', [SAT, SAT], 'satisfied'],
      ['and', [SAT, VIOL], 'violated'],
      ['and', [SAT, UNKNOWN], 'unknown'],
      ['and', [VIOL, UNKNOWN], 'violated'],
      ['or', [VIOL, SAT], 'satisfied'],
      ['or', [VIOL, VIOL], 'violated'],
      ['or', [UNKNOWN, SAT], 'satisfied'],
      ['or', [UNKNOWN, VIOL], 'unknown'],
      ['xone', [SAT, VIOL, VIOL], 'satisfied'],
      ['xone', [SAT, SAT], 'violated'],
      ['xone', [VIOL, VIOL], 'violated'],
      ['xone', [SAT, UNKNOWN], 'unknown'],
      ['xone', [SAT, SAT, UNKNOWN], 'violated'],
      ['andSequence', [SAT, SAT], 'satisfied'],
      ['andSequence', [SAT, VIOL, SAT], 'violated'],
    ])('%s %j → %s', (operator, operands, outcome) => {
      const decision = run(permit({ [operator]: operands }));
      expect(outcomeOf(decision, 'permission[0].constraint[0]')).toBe(outcome);
      expect(decision.allowed).toBe(outcome === 'satisfied');
    });

    it('stops an andSequence at the first constraint that does not hold', () => {
      const decision = run(permit({ andSequence: [SAT, VIOL, UNKNOWN] }));
      expect(decision.trace.map((e) => e.constraint).filter(Boolean)).toEqual([
        'permission[0].constraint[0]',
        'permission[0].constraint[0].andSequence[0]',
        'permission[0].constraint[0].andSequence[1]',
      ]);
      expect(decision.trace[1]!.detail).toBe(
        'andSequence violated (all must hold, in order: 1 satisfied, 1 violated of 3; stopped at permission[0].constraint[0].andSequence[1])',
      );
    });

    it('evaluates nested logical constraints and names the deepest failing atomic constraint of an and', () => {
      const policy = permit({ and: [{ or: [VIOL, { xone: [SAT, VIOL] }] }, { and: [SAT, { leftOperand: 'purpose', operator: 'eq', rightOperand: 'advice' }] }] });
      expect(() => validatePolicy(policy)).not.toThrow();
      const decision = run(policy);
      expect(outcomeOf(decision, 'permission[0].constraint[0].and[0]')).toBe('satisfied');
      expect(outcomeOf(decision, 'permission[0].constraint[0].and[0].or[1]')).toBe('satisfied');
      expect(decision.reason).toBe('denied: permission[0].constraint[0].and[1].and[1] purpose eq advice violated (purpose research)');
      expect(run(policy, { facts: { purpose: 'advice' } }).allowed).toBe(true);
    });

    it('names a failing or/xone itself', () => {
      expect(run(permit({ or: [VIOL, VIOL] })).reason).toBe(
        'denied: permission[0].constraint[0] or violated (at least one must hold: 2 violated of 2)',
      );
    });

    it('defers not-applicable operands: or/and/xone in the catalog', () => {
      const catalog = (constraint: unknown) => run(permit(constraint), { scope: 'catalog', facts: { usageCount: 5 } });
      expect(outcomeOf(catalog({ or: [VIOL, DEFERRED] }), 'permission[0].constraint[0]')).toBe('not-applicable');
      expect(catalog({ or: [VIOL, DEFERRED] }).allowed).toBe(true);
      expect(catalog({ and: [SAT, DEFERRED] }).allowed).toBe(true);
      expect(catalog({ and: [VIOL, DEFERRED] }).allowed).toBe(false);
      expect(catalog({ xone: [SAT, DEFERRED] }).allowed).toBe(true);
      expect(catalog({ xone: [SAT, SAT, DEFERRED] }).allowed).toBe(false);
      // At transfer the deferred constraint is decided.
      expect(run(permit({ or: [VIOL, DEFERRED] }), { facts: { usageCount: 5 } }).allowed).toBe(false);
    });
  });

  describe('scopes', () => {
    const failing: Record<string, unknown> = {
      participantId: { leftOperand: 'participantId', operator: 'eq', rightOperand: 'did:web:other.example' },
      organization: { leftOperand: 'organization', operator: 'eq', rightOperand: 'Other' },
      country: { leftOperand: 'country', operator: 'isA', rightOperand: 'EFTA' },
      spatial: { leftOperand: 'spatial', operator: 'eq', rightOperand: 'DE' },
      membership: { leftOperand: 'membership', operator: 'isA', rightOperand: 'ministry' },
      purpose: { leftOperand: 'purpose', operator: 'eq', rightOperand: 'marketing' },
      consent: { leftOperand: 'consent', operator: 'eq', rightOperand: 'granted' },
      dateTime: { leftOperand: 'dateTime', operator: 'lt', rightOperand: '2026-01-01T00:00:00Z' },
      elapsedTime: { leftOperand: 'elapsedTime', operator: 'lteq', rightOperand: 'P1D' },
      count: { leftOperand: 'count', operator: 'lt', rightOperand: 1 },
    };
    const EVALUATED_IN: Record<string, PolicyScope[]> = {
      participantId: ['catalog', 'negotiation', 'transfer', 'usage'],
      organization: ['catalog', 'negotiation', 'transfer', 'usage'],
      country: ['catalog', 'negotiation', 'transfer', 'usage'],
      spatial: ['catalog', 'negotiation', 'transfer', 'usage'],
      membership: ['catalog', 'negotiation', 'transfer', 'usage'],
      purpose: ['negotiation', 'transfer', 'usage'],
      consent: ['negotiation', 'transfer', 'usage'],
      dateTime: ['transfer', 'usage'],
      elapsedTime: ['transfer', 'usage'],
      count: ['transfer', 'usage'],
    };
    const cases = Object.keys(failing).flatMap((operand) =>
      (['catalog', 'negotiation', 'transfer', 'usage'] as const).map((scope): [string, PolicyScope, boolean] => [operand, scope, EVALUATED_IN[operand]!.includes(scope)]),
    );

    it.each(cases)('%s in %s scope: evaluated %s', (operand, scope, evaluated) => {
      const decision = run(permit(failing[operand]), { scope, facts: { consent: false, usageCount: 1, organization: 'Coop A' } });
      expect(decision.allowed).toBe(!evaluated);
      expect(outcomeOf(decision, 'permission[0].constraint[0]')).toBe(evaluated ? 'violated' : 'not-applicable');
      if (!evaluated) {
        expect(decision.trace[1]!.detail).toBe(`${operand} is not evaluated in ${scope} scope`);
        expect(decision.trace[0]!.detail).toBe(`grants use (some constraints are checked in a later scope, not in ${scope})`);
      }
    });

    it('does not let a prohibition with only deferred constraints hide a catalog offer', () => {
      const policy = { permission: [{ action: 'use' }], prohibition: [{ action: 'use', constraint: [{ leftOperand: 'purpose', operator: 'eq', rightOperand: 'marketing' }] }] };
      const decision = run(policy, { scope: 'catalog', facts: { purpose: 'marketing' } });
      expect(decision.allowed).toBe(true);
      expect(decision.trace[1]).toEqual({ rule: 'prohibition[0]', outcome: 'not-applicable', detail: 'not in effect in catalog scope' });
    });
  });

  describe('duties', () => {
    it('collects permission duties and obligations whose conditions hold, with their parameters', () => {
      const policy = {
        permission: [
          {
            action: 'use',
            duty: [
              { action: 'hedgerow:log' },
              { action: 'odrl:inform', constraint: [{ leftOperand: 'recipient', operator: 'eq', rightOperand: 'https://coop-a.example/notify' }] },
              { action: 'notify', constraint: [{ leftOperand: 'purpose', operator: 'eq', rightOperand: 'marketing' }] },
            ],
          },
        ],
        obligation: [
          { action: 'delete', constraint: [{ leftOperand: 'dateTime', operator: 'lteq', rightOperand: '2026-12-31T23:59:59Z' }] },
          { action: 'delete', constraint: [{ leftOperand: 'elapsedTime', operator: 'lteq', rightOperand: 'P30D' }] },
          {
            action: { 'rdf:value': { '@id': 'odrl:delete' }, refinement: [{ leftOperand: 'odrl:dateTime', operator: 'lt', rightOperand: '2026-09-01T00:00:00Z' }] },
            constraint: [{ leftOperand: 'elapsedTime', operator: 'lteq', rightOperand: 'P1Y' }],
          },
        ],
      };
      expect(() => validatePolicy(policy)).not.toThrow();
      const decision = run(policy);
      expect(decision.allowed).toBe(true);
      expect(decision.duties).toEqual([
        { action: 'log', source: 'permission[0].duty[0]' },
        { action: 'notify', source: 'permission[0].duty[1]', recipient: 'https://coop-a.example/notify' },
        { action: 'delete', source: 'obligation[0]', deadline: '2026-12-31T23:59:59Z' },
        { action: 'delete', source: 'obligation[1]', within: 'P30D', deadline: '2026-07-01T00:00:00Z' },
        { action: 'delete', source: 'obligation[2]', within: 'P1Y', deadline: '2026-09-01T00:00:00Z' },
      ]);
      expect(decision.trace.filter((e) => e.constraint === undefined).map((e) => [e.rule, e.outcome, e.detail])).toEqual([
        ['permission[0]', 'satisfied', 'grants use'],
        ['permission[0].duty[0]', 'satisfied', 'due: log'],
        ['permission[0].duty[1]', 'satisfied', 'due: notify to https://coop-a.example/notify'],
        ['permission[0].duty[2]', 'violated', 'not due: conditions not satisfied'],
        ['obligation[0]', 'satisfied', 'due: delete by 2026-12-31T23:59:59Z'],
        ['obligation[1]', 'satisfied', 'due: delete by 2026-07-01T00:00:00Z'],
        ['obligation[2]', 'satisfied', 'due: delete by 2026-09-01T00:00:00Z'],
      ]);
    });

    it('reports no duties when denied, and none from permissions that are not in effect', () => {
      const policy = {
        permission: [
          { action: 'use', constraint: [VIOL], duty: [{ action: 'log' }] },
          { action: 'use', constraint: [SAT], duty: [{ action: 'notify' }] },
        ],
        obligation: [{ action: 'log' }],
      };
      expect(run(policy).duties.map((d) => d.source)).toEqual(['permission[1].duty[0]', 'obligation[0]']);
      expect(run({ ...policy, prohibition: [{ action: 'use' }] }).duties).toEqual([]);
    });

    it('keeps a within duration without agreementTime and no deadline', () => {
      const policy = { permission: [{ action: 'use', duty: [{ action: 'delete', constraint: [{ leftOperand: 'elapsedTime', operator: 'lteq', rightOperand: 'P30D' }] }] }] };
      expect(run(policy, { scope: 'catalog', facts: { agreementTime: undefined } }).duties).toEqual([{ action: 'delete', source: 'permission[0].duty[0]', within: 'P30D' }]);
    });

    it('gives no deadline, and does not throw, when agreement time plus the duration leaves the Date range', () => {
      const policy = { permission: [{ action: 'use', duty: [{ action: 'delete', constraint: [{ leftOperand: 'elapsedTime', operator: 'lteq', rightOperand: 'P100000000D' }] }] }] };
      expect(() => validatePolicy(policy)).not.toThrow();
      const decision = run(policy, { scope: 'usage' });
      expect(decision.allowed).toBe(true);
      expect(decision.duties).toEqual([{ action: 'delete', source: 'permission[0].duty[0]', within: 'P100000000D' }]);
    });

    it('denies when a due duty cannot be performed or decided', () => {
      const unperformable = run({ permission: [{ action: 'use', duty: [{ action: 'compensate' }] }] });
      expect(unperformable.allowed).toBe(false);
      expect(unperformable.reason).toBe(
        'denied: permission[0].duty[0] due but cannot be performed: duty action compensate cannot be performed by this connector (supported: log, notify, delete)',
      );
      const undecidable = run({ permission: [{ action: 'use' }], obligation: [{ action: 'log', constraint: [UNKNOWN] }] });
      expect(undecidable.allowed).toBe(false);
      expect(undecidable.reason).toBe('denied: obligation[0].constraint[0] shoeSize eq 42 unknown (unknown left operand "shoeSize")');
      // A duty that is not due does not matter.
      expect(run({ permission: [{ action: 'use' }], obligation: [{ action: 'compensate', constraint: [VIOL] }] }).allowed).toBe(true);
    });
  });

  describe('normalisation', () => {
    it.each<[string, unknown]>([
      ['bare terms', { leftOperand: 'dateTime', operator: 'lteq', rightOperand: '2026-12-31T00:00:00Z' }],
      ['odrl: prefixes', { leftOperand: 'odrl:dateTime', operator: 'odrl:lteq', rightOperand: '2026-12-31T00:00:00Z' }],
      ['full IRIs', { leftOperand: 'http://www.w3.org/ns/odrl/2/dateTime', operator: 'http://www.w3.org/ns/odrl/2/lteq', rightOperand: '2026-12-31T00:00:00Z' }],
      ['@id references', { leftOperand: { '@id': 'odrl:dateTime' }, operator: { '@id': 'http://www.w3.org/ns/odrl/2/lteq' }, rightOperand: { '@value': '2026-12-31T00:00:00Z', '@type': 'xsd:dateTime' } }],
    ])('accepts %s and traces canonical names', (_name, constraint) => {
      const policy = permit(constraint);
      expect(() => validatePolicy(policy)).not.toThrow();
      expect(run(policy).trace[1]).toMatchObject({ leftOperand: 'dateTime', operator: 'lteq', expected: '2026-12-31T00:00:00Z', outcome: 'satisfied' });
    });

    it.each(['participantId', 'hedgerow:participantId', 'https://w3id.org/hedgerow/policy/participantId', 'https://w3id.org/edc/v0.0.1/ns/participantId', 'edc:participantId'])(
      'accepts the participant id spelled %s',
      (leftOperand) => {
        expect(run(permit({ leftOperand, operator: 'eq', rightOperand: 'did:web:coop-a.example' })).trace[1]).toMatchObject({ leftOperand: 'participantId', outcome: 'satisfied' });
      },
    );

    it('does not confuse namespaces or object-prototype names with operands', () => {
      for (const leftOperand of ['odrl:participantId', 'hedgerow:dateTime', 'constructor', '__proto__', 'toString']) {
        expect(run(permit({ leftOperand, operator: 'eq', rightOperand: 'x' })).trace[1]).toMatchObject({ outcome: 'unknown', detail: `unknown left operand "${leftOperand}"` });
      }
    });
  });

  describe('trace', () => {
    const policy = {
      permission: [{ action: 'use', constraint: [SAT, { or: [VIOL, { leftOperand: 'count', operator: 'lteq', rightOperand: 5 }] }], duty: [{ action: 'log' }] }],
      prohibition: [{ action: 'distribute' }],
    };

    it('lists rules in document order with their constraints depth-first', () => {
      expect(run(policy).trace).toEqual([
        { rule: 'permission[0]', outcome: 'satisfied', detail: 'grants use' },
        { rule: 'permission[0]', constraint: 'permission[0].constraint[0]', leftOperand: 'country', operator: 'eq', expected: 'FR', actual: 'FR', outcome: 'satisfied', detail: 'country FR satisfies eq FR' },
        { rule: 'permission[0]', constraint: 'permission[0].constraint[1]', outcome: 'satisfied', detail: 'or satisfied (at least one must hold: 1 satisfied, 1 violated of 2)' },
        { rule: 'permission[0]', constraint: 'permission[0].constraint[1].or[0]', leftOperand: 'country', operator: 'eq', expected: 'DE', actual: 'FR', outcome: 'violated', detail: 'country FR does not satisfy eq DE' },
        { rule: 'permission[0]', constraint: 'permission[0].constraint[1].or[1]', leftOperand: 'count', operator: 'lteq', expected: 5, actual: 1, outcome: 'satisfied', detail: 'use number 1 satisfies lteq 5' },
        { rule: 'permission[0].duty[0]', outcome: 'satisfied', detail: 'due: log' },
        { rule: 'prohibition[0]', outcome: 'not-applicable', detail: 'action distribute does not cover use' },
      ]);
    });

    it('is deterministic, JSON-serialisable and the same for compiled and raw policies', () => {
      const compiled = compilePolicy(policy as OdrlPolicy);
      const request = { scope: 'usage' as const, facts: FACTS };
      const first = evaluate(compiled, request);
      expect(evaluate(compiled, request)).toEqual(first);
      expect(evaluate(policy as OdrlPolicy, request)).toEqual(first);
      expect(JSON.parse(JSON.stringify(first))).toStrictEqual(first);
    });
  });

  it('never throws for a compiled policy, whatever the facts', () => {
    const compiled = compilePolicy(
      permit(
        { leftOperand: 'consent', operator: 'eq', rightOperand: 'granted' },
        { leftOperand: 'elapsedTime', operator: 'lteq', rightOperand: 'P9999Y' },
        { leftOperand: 'membership', operator: 'isA', rightOperand: 'x' },
      ),
    );
    const hostileFacts: unknown[] = [
      undefined,
      null,
      {},
      { now: 'yesterday', consent: () => { throw new Error('boom'); }, groups: [1, 2], agreementTime: new Date(8.64e15), usageCount: Infinity },
      { now: new Date(), consent: () => { throw 'not an error'; }, groups: null, agreementTime: new Date(-8.64e15) },
    ];
    for (const facts of hostileFacts) {
      for (const scope of ['catalog', 'negotiation', 'transfer', 'usage'] as const) {
        const decision = evaluate(compiled, { scope, facts: facts as PolicyFacts });
        expect(typeof decision.allowed).toBe('boolean');
        expect(() => JSON.stringify(decision)).not.toThrow();
      }
    }
  });
});

/**
 * The left operands the engine understands: spellings, value type, the scopes where they are evaluated,
 * and how the actual value is read from the (verified) facts. Anything else is an unknown left operand:
 * rejected by `validatePolicy`, `unknown` (deny) at evaluation.
 *
 * Scopes (✓ evaluated, – not-applicable: skipped in that scope and checked in a later one):
 *
 * | operand                       | fact                   | catalog | negotiation | transfer | usage |
 * |-------------------------------|------------------------|---------|-------------|----------|-------|
 * | participantId                 | participantId          |    ✓    |      ✓      |    ✓     |   ✓   |
 * | organization                  | organization           |    ✓    |      ✓      |    ✓     |   ✓   |
 * | country, spatial              | country                |    ✓    |      ✓      |    ✓     |   ✓   |
 * | membership (= group)          | groups                 |    ✓    |      ✓      |    ✓     |   ✓   |
 * | purpose                       | purpose                |    –    |      ✓      |    ✓     |   ✓   |
 * | consent                       | consent (+ purpose)    |    –    |      ✓      |    ✓     |   ✓   |
 * | dateTime                      | now                    |    –    |      –      |    ✓     |   ✓   |
 * | elapsedTime                   | agreementTime, now     |    –    |      –      |    ✓     |   ✓   |
 * | count                         | usageCount             |    –    |      –      |    ✓     |   ✓   |
 * | recipient                     | (duty parameter only, never evaluated)                       |
 *
 * Why: identity attributes decide who may even see an offer. A catalog request declares no purpose, so
 * purpose and consent are first checked when the consumer asks for an agreement, and again on every
 * transfer and access (consent can be revoked). Time, validity period and usage count constrain the
 * use of an agreement, not its conclusion (an agreement may be signed before its usage window opens),
 * as EDC binds its contract-expiry function to the transfer scope only.
 *
 * `count` semantics (as the IDS Dataspace Connector's N_TIMES_USAGE): the actual value is the ordinal of
 * the use being decided, `usageCount + 1`, where `usageCount` counts uses already made. So
 * `count lteq 5` allows exactly 5 uses (allowed while usageCount < 5) and `count lt 5` allows 4.
 * The caller increments its counter only after an allowed use. The provider's data plane counts one use
 * per transfer process (its first data access) and decides the later requests of that process as the
 * same use (`usageCount` = the uses before it), so a resumed download is not a new use.
 */
import { normalizeCountry } from './regions';
import { instantOf } from './time';
import type { PolicyFacts, PolicyScope, ValueType } from './types';
import type { ElapsedSpan } from './value-types';
import { EDC, HEDGEROW, indexBySpelling, type Namespace, ODRL, spellings } from './vocabulary';

export interface LeftOperandDef {
  /** Canonical name, used in traces. */
  name: string;
  /** Canonical IRI. */
  iri: string;
  /** Every accepted spelling: bare, prefixed and full IRI. */
  aliases: readonly string[];
  valueType: ValueType;
  scopes: ReadonlySet<PolicyScope>;
  /** The `PolicyFacts` field it reads, for messages. */
  fact: string;
  /** How a reason names the actual value, e.g. `now` in "(now 2027-01-02T10:00:00Z)". */
  label: string;
  /** The actual value, or undefined when the fact is absent or malformed. */
  read(facts: PolicyFacts): unknown;
  /** Only a parameter of a duty (where to notify), never evaluated. */
  dutyParameter?: boolean;
}

const EVERY_SCOPE: readonly PolicyScope[] = ['catalog', 'negotiation', 'transfer', 'usage'];
const ONCE_PURPOSE_KNOWN: readonly PolicyScope[] = ['negotiation', 'transfer', 'usage'];
const UNDER_AGREEMENT: readonly PolicyScope[] = ['transfer', 'usage'];

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

interface Spec extends Omit<LeftOperandDef, 'aliases' | 'iri' | 'scopes'> {
  namespace: Namespace;
  extraAliases?: readonly string[];
  scopes: readonly PolicyScope[];
}

function define(spec: Spec): LeftOperandDef {
  const { namespace, extraAliases = [], scopes, ...rest } = spec;
  return { ...rest, iri: `${namespace.iri}${spec.name}`, aliases: [...spellings(spec.name, namespace), ...extraAliases], scopes: new Set(scopes) };
}

const readCountry = (facts: PolicyFacts) => (typeof facts.country === 'string' ? normalizeCountry(facts.country) : undefined);

export const LEFT_OPERANDS: readonly LeftOperandDef[] = [
  define({
    name: 'participantId',
    namespace: HEDGEROW,
    extraAliases: spellings('participantId', EDC),
    valueType: 'string',
    scopes: EVERY_SCOPE,
    fact: 'participantId',
    label: 'participant',
    read: (facts) => nonEmptyString(facts.participantId),
  }),
  define({
    name: 'organization',
    namespace: HEDGEROW,
    valueType: 'string',
    scopes: EVERY_SCOPE,
    fact: 'organization',
    label: 'organization',
    read: (facts) => nonEmptyString(facts.organization),
  }),
  define({ name: 'country', namespace: HEDGEROW, valueType: 'region', scopes: EVERY_SCOPE, fact: 'country', label: 'country', read: readCountry }),
  define({ name: 'spatial', namespace: ODRL, valueType: 'region', scopes: EVERY_SCOPE, fact: 'country', label: 'country', read: readCountry }),
  define({
    name: 'membership',
    namespace: HEDGEROW,
    extraAliases: spellings('group', HEDGEROW),
    valueType: 'string-set',
    scopes: EVERY_SCOPE,
    fact: 'groups',
    label: 'groups',
    read: (facts) => (Array.isArray(facts.groups) && facts.groups.every((group) => typeof group === 'string') ? facts.groups : undefined),
  }),
  define({
    name: 'purpose',
    namespace: ODRL,
    valueType: 'string',
    scopes: ONCE_PURPOSE_KNOWN,
    fact: 'purpose',
    label: 'purpose',
    read: (facts) => nonEmptyString(facts.purpose),
  }),
  define({
    name: 'consent',
    namespace: HEDGEROW,
    valueType: 'consent',
    scopes: ONCE_PURPOSE_KNOWN,
    fact: 'consent',
    label: 'consent found',
    read: (facts) => (typeof facts.consent === 'boolean' || typeof facts.consent === 'function' ? facts.consent : undefined),
  }),
  define({
    name: 'dateTime',
    namespace: ODRL,
    valueType: 'dateTime',
    scopes: UNDER_AGREEMENT,
    fact: 'now',
    label: 'now',
    read: (facts) => (instantOf(facts.now) === undefined ? undefined : facts.now),
  }),
  define({
    name: 'elapsedTime',
    namespace: ODRL,
    valueType: 'duration',
    scopes: UNDER_AGREEMENT,
    fact: 'agreementTime',
    label: 'elapsed',
    read: (facts): ElapsedSpan | undefined => {
      const since = instantOf(facts.agreementTime);
      const now = instantOf(facts.now);
      return since === undefined || now === undefined ? undefined : { since, now };
    },
  }),
  define({
    name: 'count',
    namespace: ODRL,
    valueType: 'integer',
    scopes: UNDER_AGREEMENT,
    fact: 'usageCount',
    label: 'use number',
    read: (facts) => (Number.isSafeInteger(facts.usageCount) && facts.usageCount! >= 0 ? facts.usageCount! + 1 : undefined),
  }),
  define({ name: 'recipient', namespace: ODRL, valueType: 'iri', scopes: [], fact: '', label: 'recipient', read: () => undefined, dutyParameter: true }),
];

const index = indexBySpelling(LEFT_OPERANDS, (operand) => operand.aliases);

/** The operand for any accepted spelling (`count`, `odrl:count`, `http://www.w3.org/ns/odrl/2/count`). */
export function findLeftOperand(text: string): LeftOperandDef | undefined {
  return index.get(text);
}

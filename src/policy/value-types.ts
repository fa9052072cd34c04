/**
 * Value types: how a right operand is parsed for a left operand of that type, which operators mean
 * something for it, and how the comparison is made. Parsing happens once, at compile time; `test` runs per
 * evaluation and only compares.
 *
 * | type       | operators                                              | semantics                                          |
 * |------------|--------------------------------------------------------|----------------------------------------------------|
 * | string/iri | eq neq isAnyOf isNoneOf isPartOf                       | exact match; isAnyOf = isPartOf = value in list     |
 * | string-set | eq neq isA isAnyOf isAllOf hasPart isNoneOf isPartOf   | set equality; isA = contains; isAnyOf = intersects; |
 * |            |                                                        | isAllOf = hasPart = ⊇; isNoneOf = disjoint;         |
 * |            |                                                        | isPartOf = non-empty ⊆ (an empty set never passes)  |
 * | region     | eq isA isAnyOf isPartOf / neq isNoneOf                 | country within / not within the named regions       |
 * | dateTime   | eq neq gt gteq lt lteq                                 | instants                                            |
 * | duration   | eq neq gt gteq lt lteq                                 | elapsed OP d  ⟺  now OP start + d (calendar)       |
 * | integer    | eq neq gt gteq lt lteq                                 | numbers                                             |
 * | consent    | eq                                                     | the caller confirms a matching granted consent      |
 */
import { resolveRegion } from './regions';
import { addDuration, type Duration, formatElapsed, formatInstant, parseDateTime, parseDuration } from './time';
import type { ConsentCheck, ConsentRequirement, JsonValue, OperatorName, PolicyFacts, ValueType } from './types';
import { HEDGEROW, isPlainObject, spellings } from './vocabulary';

export interface Comparison {
  /** The normalised right operand, shown in traces and reasons. */
  expected: JsonValue;
  /** The parsed right value when it is a single one (instant in ms, Duration, string): read by duty parameters. */
  value?: unknown;
  /** True or false, or a sentence saying why it cannot be decided (→ `unknown`). */
  test(actual: unknown, facts: PolicyFacts): boolean | string;
}

export interface ValueTypeDef {
  name: ValueType;
  operators: readonly OperatorName[];
  /** Parses `right` for `operator` (one of `operators`); a string is the problem found. */
  compile(operator: OperatorName, right: unknown): Comparison | string;
  /** How the actual value appears in the trace (`result` is the comparison's outcome). */
  show(actual: unknown, result: boolean): JsonValue;
}

/** Elapsed time is measured between these two instants (epoch ms). */
export interface ElapsedSpan {
  since: number;
  now: number;
}

const ORDERING: readonly OperatorName[] = ['eq', 'neq', 'gt', 'gteq', 'lt', 'lteq'];
/** Operators whose right operand is a list (a single value counts as a list of one). */
const LIST_OPERATORS: ReadonlySet<OperatorName> = new Set(['isAnyOf', 'isAllOf', 'isNoneOf', 'isPartOf', 'hasPart']);

function order(operator: OperatorName, right: number): (actual: number) => boolean {
  switch (operator) {
    case 'eq':
      return (actual) => actual === right;
    case 'neq':
      return (actual) => actual !== right;
    case 'gt':
      return (actual) => actual > right;
    case 'gteq':
      return (actual) => actual >= right;
    case 'lt':
      return (actual) => actual < right;
    default:
      return (actual) => actual <= right;
  }
}

/** A short, safe description of an offending value for error messages (no JSON.stringify of untrusted structures). */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : typeof value;
}

interface Literal {
  value: string | number;
  datatype?: string;
  reference: boolean;
}

/** Unwraps `"x"`, `5`, `{"@value": …, "@type": …}` and `{"@id": …}`. */
function literal(raw: unknown): Literal | undefined {
  if (typeof raw === 'string' || typeof raw === 'number') return { value: raw, reference: false };
  if (!isPlainObject(raw)) return undefined;
  if (Object.hasOwn(raw, '@value')) {
    const value = raw['@value'];
    const datatype = raw['@type'];
    if ((typeof value !== 'string' && typeof value !== 'number') || (datatype !== undefined && typeof datatype !== 'string')) return undefined;
    return datatype === undefined ? { value, reference: false } : { value, datatype, reference: false };
  }
  if (Object.hasOwn(raw, '@id') && typeof raw['@id'] === 'string') return { value: raw['@id'], reference: true };
  return undefined;
}

const XSD_IRI = 'http://www.w3.org/2001/XMLSchema#';

function datatypeFits(datatype: string | undefined, accepted: ReadonlySet<string>): boolean {
  if (datatype === undefined) return true;
  const local = datatype.startsWith('xsd:') ? datatype.slice(4) : datatype.startsWith(XSD_IRI) ? datatype.slice(XSD_IRI.length) : undefined;
  return local !== undefined && accepted.has(local);
}

/** The right operand as a list of raw values, or a problem. */
function rawValues(operator: OperatorName, right: unknown, listAllowed: boolean): unknown[] | string {
  if (!Array.isArray(right)) return [right];
  if (!listAllowed) return `operator ${operator} takes a single value, got a list`;
  if (right.length === 0) return 'rightOperand list is empty';
  return right;
}

/** Parses each value with `parse`; the first failure becomes the problem. */
function parseAll<T>(values: unknown[], parse: (raw: unknown) => T | undefined, expectation: string): T[] | string {
  const parsed: T[] = [];
  for (const raw of values) {
    const value = parse(raw);
    if (value === undefined) return `rightOperand must be ${expectation}, got ${describeValue(raw)}`;
    parsed.push(value);
  }
  return parsed;
}

/** Single-valued ordered types (dateTime, duration, integer) share their parsing. */
function orderedType<T>(
  name: ValueType,
  expectation: string,
  datatypes: readonly string[],
  parse: (lit: Literal) => T | undefined,
  format: (value: T) => JsonValue,
  build: (operator: OperatorName, value: T) => Comparison['test'],
  show: (actual: unknown) => JsonValue,
): ValueTypeDef {
  const accepted = new Set(datatypes);
  return {
    name,
    operators: ORDERING,
    compile(operator, right) {
      const values = rawValues(operator, right, false);
      if (typeof values === 'string') return values;
      const lit = literal(values[0]);
      if (lit && !datatypeFits(lit.datatype, accepted)) return `rightOperand @type ${lit.datatype} does not fit ${name}`;
      const value = lit && !lit.reference ? parse(lit) : undefined;
      if (value === undefined) return `rightOperand must be ${expectation}, got ${describeValue(values[0])}`;
      return { expected: format(value), value, test: build(operator, value) };
    },
    show,
  };
}

const dateTimeType = orderedType<number>(
  'dateTime',
  'an ISO 8601 date-time with timezone, e.g. 2026-12-31T23:59:59Z',
  ['dateTime', 'dateTimeStamp'],
  (lit) => (typeof lit.value === 'string' ? parseDateTime(lit.value) : undefined),
  formatInstant,
  (operator, ms) => {
    const holds = order(operator, ms);
    return (actual) => holds((actual as Date).getTime());
  },
  (actual) => formatInstant((actual as Date).getTime()),
);

const durationType = orderedType<{ text: string; duration: Duration }>(
  'duration',
  'an xsd:duration such as P30D, PT12H or P1Y',
  ['duration', 'dayTimeDuration', 'yearMonthDuration'],
  (lit) => {
    if (typeof lit.value !== 'string') return undefined;
    const duration = parseDuration(lit.value);
    return duration && { text: lit.value, duration };
  },
  (value) => value.text,
  (operator, { duration }) => {
    // elapsed OP duration  ⟺  now OP since + duration: months and years stay calendar units.
    return (actual) => {
      const span = actual as ElapsedSpan;
      const end = addDuration(span.since, duration);
      return Number.isNaN(end) ? 'the period end is outside the supported date range' : order(operator, end)(span.now);
    };
  },
  (actual) => formatElapsed((actual as ElapsedSpan).now - (actual as ElapsedSpan).since),
);

const integerType = orderedType<number>(
  'integer',
  'a non-negative integer',
  ['integer', 'nonNegativeInteger', 'positiveInteger', 'int', 'long', 'short', 'unsignedInt', 'unsignedLong', 'unsignedShort', 'decimal', 'double', 'float'],
  (lit) => {
    if (typeof lit.value === 'number') return Number.isSafeInteger(lit.value) && lit.value >= 0 ? lit.value : undefined;
    return /^\d{1,15}$/.test(lit.value) ? Number(lit.value) : undefined;
  },
  (value) => value,
  (operator, value) => {
    const holds = order(operator, value);
    return (actual) => holds(actual as number);
  },
  (actual) => actual as number,
);

const IRI = /^[A-Za-z][A-Za-z0-9+.-]*:\S+$/;

function text(raw: unknown): string | undefined {
  const lit = literal(raw);
  return lit && typeof lit.value === 'string' && lit.value !== '' ? lit.value : undefined;
}

/** A single-valued text fact compared by exact match. */
function textType(name: ValueType, expectation: string, valid: (value: string) => boolean): ValueTypeDef {
  const parse = (raw: unknown) => {
    const value = text(raw);
    return value !== undefined && valid(value) ? value : undefined;
  };
  return {
    name,
    operators: ['eq', 'neq', 'isAnyOf', 'isNoneOf', 'isPartOf'],
    compile(operator, right) {
      const raws = rawValues(operator, right, LIST_OPERATORS.has(operator));
      if (typeof raws === 'string') return raws;
      const values = parseAll(raws, parse, expectation);
      if (typeof values === 'string') return values;
      if (operator === 'eq' || operator === 'neq') {
        const value = values[0]!;
        return { expected: value, value, test: operator === 'eq' ? (actual) => actual === value : (actual) => actual !== value };
      }
      const set = new Set(values);
      const listed = (actual: unknown) => set.has(actual as string);
      return { expected: Array.isArray(right) ? values : values[0]!, test: operator === 'isNoneOf' ? (actual) => !listed(actual) : listed };
    },
    show: (actual) => actual as string,
  };
}

const stringType = textType('string', 'a non-empty string', () => true);
const iriType = textType('iri', 'an IRI', (value) => IRI.test(value));

const stringSetType: ValueTypeDef = {
  name: 'string-set',
  operators: ['eq', 'neq', 'isA', 'isAnyOf', 'isAllOf', 'hasPart', 'isNoneOf', 'isPartOf'],
  compile(operator, right) {
    const raws = rawValues(operator, right, operator !== 'isA');
    if (typeof raws === 'string') return raws;
    const values = parseAll(raws, text, 'a non-empty string');
    if (typeof values === 'string') return values;
    const set = new Set(values);
    const expected = operator === 'isA' || !Array.isArray(right) ? values[0]! : values;
    const sameSet = (actual: readonly string[]) => {
      const own = new Set(actual);
      return own.size === set.size && values.every((value) => own.has(value));
    };
    const tests: Record<string, (actual: readonly string[]) => boolean> = {
      eq: sameSet,
      neq: (actual) => !sameSet(actual),
      isA: (actual) => actual.includes(values[0]!),
      isAnyOf: (actual) => actual.some((value) => set.has(value)),
      isAllOf: (actual) => values.every((value) => actual.includes(value)),
      isNoneOf: (actual) => !actual.some((value) => set.has(value)),
      // An empty set is a subset of anything; refusing it keeps an allow-list from admitting group-less participants.
      isPartOf: (actual) => actual.length > 0 && actual.every((value) => set.has(value)),
    };
    const test = tests[operator === 'hasPart' ? 'isAllOf' : operator]!;
    return { expected, test: (actual) => test(actual as readonly string[]) };
  },
  show: (actual) => [...(actual as readonly string[])],
};

const regionType: ValueTypeDef = {
  name: 'region',
  operators: ['eq', 'isA', 'isAnyOf', 'isPartOf', 'neq', 'isNoneOf'],
  compile(operator, right) {
    const raws = rawValues(operator, right, LIST_OPERATORS.has(operator));
    if (typeof raws === 'string') return raws;
    const regions = parseAll(raws, (raw) => {
      const value = text(raw);
      return value === undefined ? undefined : resolveRegion(value);
    }, 'a region (EU, EEA, EFTA) or an ISO 3166-1 alpha-2 country code');
    if (typeof regions === 'string') return regions;
    const countries = new Set(regions.flatMap((region) => [...region.countries]));
    const names = regions.map((region) => region.name);
    const outside = operator === 'neq' || operator === 'isNoneOf';
    return {
      expected: Array.isArray(right) ? names : names[0]!,
      test: (actual) => countries.has(actual as string) !== outside,
    };
  },
  show: (actual) => actual as string,
};

const GRANTED = new Set(spellings('granted', HEDGEROW));
const REQUIREMENT_KEYS: readonly (keyof ConsentRequirement)[] = ['purpose', 'category', 'originator'];

/** `"granted"` (consent for the request's purpose) or `{purpose?, category?, originator?}`. */
function consentRequirement(right: unknown): ConsentRequirement | string {
  const granted = text(right);
  if (granted !== undefined) return GRANTED.has(granted) ? {} : `rightOperand must be "granted" or a consent requirement object, got ${describeValue(right)}`;
  if (!isPlainObject(right)) return `rightOperand must be "granted" or a consent requirement object, got ${describeValue(right)}`;
  const requirement: ConsentRequirement = {};
  for (const key of Object.keys(right)) {
    const value = right[key];
    if (!(REQUIREMENT_KEYS as readonly string[]).includes(key)) return `consent requirement has unknown key ${describeValue(key)} (expected ${REQUIREMENT_KEYS.join(', ')})`;
    if (typeof value !== 'string' || value === '') return `consent requirement ${key} must be a non-empty string`;
    requirement[key as keyof ConsentRequirement] = value;
  }
  return requirement;
}

const consentType: ValueTypeDef = {
  name: 'consent',
  operators: ['eq'],
  compile(_operator, right) {
    const requirement = consentRequirement(right);
    if (typeof requirement === 'string') return requirement;
    const expected: JsonValue = Object.keys(requirement).length === 0 ? 'granted' : { ...requirement };
    return {
      expected,
      test(actual, facts) {
        if (typeof actual === 'boolean') return actual;
        const purpose = requirement.purpose ?? facts.purpose;
        const asked: ConsentRequirement = purpose === undefined ? { ...requirement } : { ...requirement, purpose };
        try {
          const answer: unknown = (actual as ConsentCheck)(asked);
          return typeof answer === 'boolean' ? answer : 'the consent check did not return a boolean';
        } catch (err) {
          return `the consent check failed: ${err instanceof Error ? err.message : describeValue(err)}`;
        }
      },
    };
  },
  show: (_actual, result) => result,
};

export const VALUE_TYPES: ReadonlyMap<ValueType, ValueTypeDef> = new Map(
  [stringType, iriType, stringSetType, regionType, dateTimeType, durationType, integerType, consentType].map((type) => [type.name, type]),
);

export function valueType(name: ValueType): ValueTypeDef {
  return VALUE_TYPES.get(name)!;
}

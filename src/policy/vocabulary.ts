/**
 * Vocabulary normalisation: terms arrive bare (`eq`), prefixed (`odrl:eq`), as full IRIs
 * (`http://www.w3.org/ns/odrl/2/eq`) or as `{"@id": …}` in any of those forms. Everything is looked up in
 * `Map`s (never plain objects) so that names like `constructor` or `__proto__` are simply unknown.
 */
import type { OperatorName } from './types';

export interface Namespace {
  prefix: string;
  iri: string;
}

export const ODRL: Namespace = { prefix: 'odrl', iri: 'http://www.w3.org/ns/odrl/2/' };
export const HEDGEROW: Namespace = { prefix: 'hedgerow', iri: 'https://w3id.org/hedgerow/policy/' };
export const EDC: Namespace = { prefix: 'edc', iri: 'https://w3id.org/edc/v0.0.1/ns/' };

/** All spellings of `name` in the given namespaces: bare, `prefix:name` and the full IRI. */
export function spellings(name: string, ...namespaces: Namespace[]): string[] {
  return [name, ...namespaces.flatMap((ns) => [`${ns.prefix}:${name}`, `${ns.iri}${name}`])];
}

/** The text of a term given as a string or `{"@id": string}`; undefined for anything else. */
export function termText(raw: unknown): string | undefined {
  if (typeof raw === 'string') return raw;
  if (isPlainObject(raw) && typeof raw['@id'] === 'string') return raw['@id'];
  return undefined;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Builds a lookup from every spelling to its definition. */
export function indexBySpelling<T>(entries: readonly T[], spellingsOf: (entry: T) => readonly string[]): ReadonlyMap<string, T> {
  const index = new Map<string, T>();
  for (const entry of entries) for (const spelling of spellingsOf(entry)) index.set(spelling, entry);
  return index;
}

export const OPERATORS: readonly OperatorName[] = [
  'eq',
  'neq',
  'gt',
  'gteq',
  'lt',
  'lteq',
  'isAnyOf',
  'isAllOf',
  'isNoneOf',
  'isPartOf',
  'hasPart',
  'isA',
  // Listed by the DSP 2025-1 schema but given no meaning for any of our operands: recognised, never satisfied.
  'term-lteq',
];

const operatorIndex = indexBySpelling(OPERATORS, (op) => spellings(op, ODRL));

export function findOperator(text: string): OperatorName | undefined {
  return operatorIndex.get(text);
}

export interface ActionDef {
  /** Canonical name, e.g. `use`, `notify`. */
  name: string;
  spellings: readonly string[];
  /** The connector can perform it as a duty (and report it in `Decision.duties`). */
  performable: boolean;
}

/** ODRL 2.2 actions (core and common vocabulary). */
const ODRL_ACTIONS = [
  'use', 'transfer', 'acceptTracking', 'aggregate', 'annotate', 'anonymize', 'archive', 'attribute', 'compensate',
  'concurrentUse', 'delete', 'derive', 'digitize', 'display', 'distribute', 'ensureExclusivity', 'execute', 'extract',
  'give', 'grantUse', 'include', 'index', 'install', 'modify', 'move', 'nextPolicy', 'obtainConsent', 'play', 'present',
  'print', 'read', 'reproduce', 'reviewPolicy', 'sell', 'stream', 'synchronize', 'textToSpeech', 'transform',
  'translate', 'uninstall', 'watermark',
];

/** Duties the connector knows how to carry out. */
const PERFORMABLE = new Set(['log', 'notify', 'delete']);

export const ACTIONS: readonly ActionDef[] = [
  ...ODRL_ACTIONS.map((name) => ({ name, spellings: spellings(name, ODRL), performable: PERFORMABLE.has(name) })),
  { name: 'log', spellings: spellings('log', HEDGEROW), performable: true },
  // ODRL's `inform` ("inform that an action has been performed") is what we call notify.
  { name: 'notify', spellings: [...spellings('notify', HEDGEROW), ...spellings('inform', ODRL)], performable: true },
];

const actionIndex = indexBySpelling(ACTIONS, (action) => action.spellings);

export function findAction(text: string): ActionDef | undefined {
  return actionIndex.get(text);
}

/** ODRL `use` covers every action; any other action covers only itself. */
export function actionCovers(ruleAction: string, requested: string): boolean {
  return ruleAction === 'use' || ruleAction === requested;
}

/**
 * Types of the policy engine: ODRL 2.2 policies in the compact JSON shape of DSP 2025-1, the verified
 * facts a decision is made on, and the decision with its audit trace.
 */

/** Any JSON value; trace entries and duties contain only these so they can be stored and diffed as JSON. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A vocabulary term: bare (`eq`), prefixed (`odrl:eq`), a full IRI, or a node reference `{"@id": …}`. */
export type OdrlTerm = string | { '@id': string };

/** One right-operand value: a literal, a typed literal (`{"@value", "@type"}`), a reference, or (for `consent`) a requirement object. */
export type RightOperandValue =
  | string
  | number
  | { '@value': string | number; '@type'?: string }
  | { '@id': string }
  | { [key: string]: unknown };

export type RightOperand = RightOperandValue | RightOperandValue[];

export interface OdrlAtomicConstraint {
  leftOperand: OdrlTerm;
  operator: OdrlTerm;
  rightOperand: RightOperand;
}

export type LogicalOperator = 'and' | 'or' | 'xone' | 'andSequence';

/** Exactly one of the four keys is present (checked by `validatePolicy`). */
export type OdrlLogicalConstraint = { [K in LogicalOperator]: { [P in K]: OdrlConstraint[] } }[LogicalOperator];

export type OdrlConstraint = OdrlAtomicConstraint | OdrlLogicalConstraint;

/** An action as a term, or ODRL's refined form `{"rdf:value": {"@id": "odrl:delete"}, "refinement": [...]}`. */
export type OdrlAction = OdrlTerm | { 'rdf:value': OdrlTerm; refinement?: OdrlConstraint[] };

/** An `obligation` entry or an entry of a permission's `duty` array. */
export interface OdrlDuty {
  action: OdrlAction;
  constraint?: OdrlConstraint[];
}

/** A permission or prohibition. Only permissions may carry duties. */
export interface OdrlRule {
  action: OdrlAction;
  constraint?: OdrlConstraint[];
  duty?: OdrlDuty[];
}

export interface OdrlPolicy {
  '@id'?: string;
  '@type'?: string;
  profile?: string | string[];
  target?: string;
  assigner?: string;
  assignee?: string;
  timestamp?: string;
  permission?: OdrlRule[];
  prohibition?: OdrlRule[];
  obligation?: OdrlDuty[];
}

/**
 * Where a decision is made: `catalog` (is the offer shown?), `negotiation` (may this offer be agreed?),
 * `transfer` (may a transfer under the agreement start?), `usage` (may this access to transferred data happen?).
 */
export type PolicyScope = 'catalog' | 'negotiation' | 'transfer' | 'usage';
export const POLICY_SCOPES: readonly PolicyScope[] = ['catalog', 'negotiation', 'transfer', 'usage'];

/** What a `consent` constraint asks the caller to confirm. */
export interface ConsentRequirement {
  /** Purpose the consent must cover; defaults to the request's purpose. */
  purpose?: string;
  /** Data category the consent must cover, e.g. `parcel-yields`. */
  category?: string;
  /** The person or organisation whose consent is needed (the data originator, e.g. a farmer). */
  originator?: string;
}

/** Answers whether a granted, unrevoked consent exists for the requirement, between originator and the requesting participant. */
export type ConsentCheck = (requirement: ConsentRequirement) => boolean;

/**
 * Facts a decision is made on. Every fact is a VERIFIED value established by the caller (certificate,
 * token, agreement record, usage counter, consent register), never a claim copied from a peer's message.
 * A fact a constraint needs but that is absent or malformed makes that constraint `unknown` (deny).
 */
export interface PolicyFacts {
  /** Evaluation time; the engine never reads the clock itself. */
  now: Date;
  /** Participant id of the requesting party (e.g. from its verified certificate or token). */
  participantId?: string;
  /** Organisation name (certificate subject O). */
  organization?: string;
  /** Country of the requesting party, ISO 3166-1 alpha-2 (certificate subject C). */
  country?: string;
  /** Named groups the requesting participant belongs to (cooperatives, ministries, …). */
  groups?: readonly string[];
  /** Purpose declared in the request (negotiation) or bound in the agreement (transfer, usage). */
  purpose?: string;
  /** When the agreement was concluded (start of `elapsedTime`). */
  agreementTime?: Date;
  /** Uses already made under the agreement (transfer processes, on the provider), NOT counting the one being decided. */
  usageCount?: number;
  /** Result of the consent check, precomputed for the request, or a function the engine calls per requirement. */
  consent?: boolean | ConsentCheck;
}

export interface PolicyRequest {
  scope: PolicyScope;
  /** Requested action; default `use`. */
  action?: string;
  facts: PolicyFacts;
}

export type Outcome = 'satisfied' | 'violated' | 'unknown' | 'not-applicable';

export interface TraceEntry {
  /** The rule, e.g. `permission[0]`, `permission[0].duty[1]`, `obligation[0]`, or `request`. */
  rule: string;
  /** Path of the constraint inside the policy, e.g. `permission[0].constraint[1].and[0]`. */
  constraint?: string;
  /** Canonical left operand name (e.g. `dateTime`), or the term as written when it is unknown. */
  leftOperand?: string;
  /** Canonical operator name (e.g. `lteq`), or the term as written when it is unknown. */
  operator?: string;
  /** Normalised right operand. */
  expected?: JsonValue;
  /** The fact it was compared with, as JSON (instants as ISO strings). */
  actual?: JsonValue;
  outcome: Outcome;
  detail: string;
}

/** A duty the caller must perform for an allowed request; the engine only reports it. */
export interface Duty {
  action: 'log' | 'notify' | 'delete' | (string & {});
  /** The policy entry it comes from, e.g. `obligation[0]` or `permission[0].duty[1]`. */
  source: string;
  /** Where to send the notification or log record (`recipient eq <IRI>`). */
  recipient?: string;
  /** Instant (ISO 8601, UTC) by which the duty must be performed. */
  deadline?: string;
  /** xsd:duration after the agreement within which the duty must be performed, as written. */
  within?: string;
}

export interface Decision {
  allowed: boolean;
  scope: PolicyScope;
  action: string;
  /** One sentence naming the deciding rule and constraint. */
  reason: string;
  trace: TraceEntry[];
  /** Duties due if the request goes ahead; empty when denied. */
  duties: Duty[];
}

/** How right operands of a left operand are read and compared. */
export type ValueType = 'string' | 'string-set' | 'dateTime' | 'duration' | 'integer' | 'iri' | 'region' | 'consent';

export type OperatorName =
  | 'eq'
  | 'neq'
  | 'gt'
  | 'gteq'
  | 'lt'
  | 'lteq'
  | 'isAnyOf'
  | 'isAllOf'
  | 'isNoneOf'
  | 'isPartOf'
  | 'hasPart'
  | 'isA'
  | 'term-lteq';

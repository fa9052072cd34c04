/**
 * Parsing and validation of ODRL policies in the compact DSP 2025-1 JSON shape.
 *
 * One walker, two modes:
 * - strict (`validatePolicy`, at creation time): the FIRST problem, in document order (permission,
 *   prohibition, obligation; within a rule: action, refinements, constraints, duties), throws a
 *   `ValidationError` whose path is a JSON pointer to the offending object, e.g. `/permission/0/constraint/1`.
 *   A policy that passes never yields `unknown` outcomes except for missing facts.
 * - lenient (`parsePolicy`, used by `compilePolicy` for policies received from peers or stored earlier):
 *   structural problems still throw, but vocabulary problems (unknown left operand, operator or action,
 *   operator meaningless for the type, malformed right operand) are kept on the node and evaluate to
 *   `unknown`, i.e. deny, with the problem in the trace.
 *
 * Any JSON input either parses or throws `ValidationError`; constraint nesting is capped so that deep or
 * cyclic structures cannot exhaust the stack.
 */
import { ValidationError } from '../errors';
import { findLeftOperand, type LeftOperandDef } from './left-operands';
import type { JsonValue, LogicalOperator, OdrlPolicy } from './types';
import { type Comparison, describeValue, valueType } from './value-types';
import { type ActionDef, findAction, findOperator, isPlainObject, termText } from './vocabulary';

export const MAX_CONSTRAINT_DEPTH = 32;

const LOGICAL_OPERATORS: readonly LogicalOperator[] = ['and', 'or', 'xone', 'andSequence'];
const ATOMIC_KEYS = ['leftOperand', 'operator', 'rightOperand'] as const;

export interface ParsedAction {
  /** Canonical name when known, otherwise the term as written. */
  name: string;
  def?: ActionDef;
  problem?: string;
}

export interface ParsedAtomic {
  kind: 'atomic';
  /** Trace path, e.g. `permission[0].constraint[1]`. */
  path: string;
  leftOperand: string;
  operator: string;
  expected?: JsonValue;
  operand?: LeftOperandDef;
  comparison?: Comparison;
  /** Set when the constraint cannot be evaluated (lenient mode only). */
  problem?: string;
  /** A top-level constraint of a duty that parameterises it (deadline, recipient) instead of conditioning it. */
  parameter?: boolean;
}

export interface ParsedLogical {
  kind: 'logical';
  path: string;
  operator: LogicalOperator;
  operands: ParsedConstraint[];
}

export type ParsedConstraint = ParsedAtomic | ParsedLogical;

export interface ParsedDuty {
  path: string;
  action: ParsedAction;
  conditions: ParsedConstraint[];
  parameters: ParsedAtomic[];
}

export interface ParsedRule {
  path: string;
  action: ParsedAction;
  /** Action refinements followed by the rule's constraints: all must hold. */
  constraints: ParsedConstraint[];
  duties: ParsedDuty[];
}

export interface ParsedPolicy {
  id?: string;
  permissions: ParsedRule[];
  prohibitions: ParsedRule[];
  obligations: ParsedDuty[];
}

interface Location {
  /** JSON pointer, for errors. */
  pointer: string;
  /** Dotted path with indices, for traces. */
  trace: string;
}

function child(loc: Location, key: string, index?: number): Location {
  const prefix = loc.trace === '' ? '' : `${loc.trace}.`;
  return index === undefined
    ? { pointer: `${loc.pointer}/${key}`, trace: `${prefix}${key}` }
    : { pointer: `${loc.pointer}/${key}/${index}`, trace: `${prefix}${key}[${index}]` };
}

/**
 * In a duty, top-level `dateTime` / `elapsedTime` constraints say by when it must be performed
 * (ODRL: a duty's temporal constraint places the duty action in time) and `recipient` says where to.
 */
const DUTY_PARAMETER_OPERATORS: ReadonlyMap<string, readonly string[]> = new Map([
  ['dateTime', ['eq', 'lt', 'lteq']],
  ['elapsedTime', ['eq', 'lt', 'lteq']],
  ['recipient', ['eq']],
]);

/** State shared by the top-level constraints of one duty. */
interface DutyScope {
  hasRecipient: boolean;
}

class PolicyParser {
  constructor(private readonly strict: boolean) {}

  policy(raw: unknown, loc: Location): ParsedPolicy {
    if (!isPlainObject(raw)) this.fail(loc, 'policy must be a JSON object');
    const permissions = this.list(raw, 'permission', loc, true, (item, at) => this.rule(item, at, 'permission'));
    const prohibitions = this.list(raw, 'prohibition', loc, true, (item, at) => this.rule(item, at, 'prohibition'));
    const obligations = this.list(raw, 'obligation', loc, true, (item, at) => this.duty(item, at, 'obligation'));
    if (permissions.length === 0 && prohibitions.length === 0) this.fail(loc, 'policy needs at least one permission or prohibition');
    const id = raw['@id'];
    return typeof id === 'string' ? { id, permissions, prohibitions, obligations } : { permissions, prohibitions, obligations };
  }

  private rule(raw: unknown, loc: Location, kind: 'permission' | 'prohibition'): ParsedRule {
    if (!isPlainObject(raw)) this.fail(loc, `${kind} must be a JSON object`);
    const { action, refinements } = this.action(raw, loc, false);
    const constraints = [...refinements, ...this.constraints(raw, 'constraint', loc)];
    if (kind === 'prohibition' && Object.hasOwn(raw, 'duty')) this.fail(child(loc, 'duty'), 'only permissions can carry duties');
    const duties = this.list(raw, 'duty', loc, false, (item, at) => this.duty(item, at, 'duty'));
    return { path: loc.trace, action, constraints, duties };
  }

  private duty(raw: unknown, loc: Location, kind: 'obligation' | 'duty'): ParsedDuty {
    if (!isPlainObject(raw)) this.fail(loc, `${kind} must be a JSON object`);
    const scope: DutyScope = { hasRecipient: false };
    const { action, refinements } = this.action(raw, loc, true, scope);
    const all = [...refinements, ...this.constraints(raw, 'constraint', loc, scope)];
    const parameters = all.filter((c): c is ParsedAtomic => c.kind === 'atomic' && c.parameter === true);
    const conditions = all.filter((c) => !(c.kind === 'atomic' && c.parameter === true));
    return { path: loc.trace, action, conditions, parameters };
  }

  private action(raw: Record<string, unknown>, loc: Location, forDuty: boolean, duty?: DutyScope): { action: ParsedAction; refinements: ParsedConstraint[] } {
    if (!Object.hasOwn(raw, 'action')) this.fail(loc, 'action is required');
    const value = raw['action'];
    const term = isPlainObject(value) && Object.hasOwn(value, 'rdf:value') ? value['rdf:value'] : value;
    const text = termText(term);
    if (text === undefined) this.fail(loc, 'action must be a string, {"@id": string} or {"rdf:value": …, "refinement": […]}');
    const def = findAction(text);
    let action: ParsedAction;
    if (!def) action = { name: text, problem: this.problem(loc, `unknown action ${describeValue(text)}`) };
    else if (forDuty && !def.performable) action = { name: def.name, def, problem: this.problem(loc, `duty action ${def.name} cannot be performed by this connector (supported: log, notify, delete)`) };
    else action = { name: def.name, def };
    const refinements = isPlainObject(value) ? this.constraints(value, 'refinement', child(loc, 'action'), duty) : [];
    return { action, refinements };
  }

  /** `container[key]` as a list of constraints (absent = none); `duty` marks the top level of a duty. */
  private constraints(container: Record<string, unknown>, key: string, loc: Location, duty?: DutyScope): ParsedConstraint[] {
    return this.list(container, key, loc, false, (item, at) => this.constraint(item, at, 1, duty));
  }

  private constraint(raw: unknown, loc: Location, depth: number, duty?: DutyScope): ParsedConstraint {
    if (depth > MAX_CONSTRAINT_DEPTH) this.fail(loc, `constraints are nested deeper than ${MAX_CONSTRAINT_DEPTH} levels`);
    if (!isPlainObject(raw)) this.fail(loc, 'constraint must be a JSON object');
    const logical = LOGICAL_OPERATORS.filter((op) => Object.hasOwn(raw, op));
    const atomic = ATOMIC_KEYS.filter((key) => Object.hasOwn(raw, key));
    if (logical.length > 1) this.fail(loc, `logical constraint must have exactly one of and, or, xone, andSequence (found ${logical.join(', ')})`);
    if (logical.length === 1 && atomic.length > 0) this.fail(loc, 'a constraint is either logical (and, or, xone, andSequence) or atomic (leftOperand, operator, rightOperand), not both');
    if (logical.length === 0 && atomic.length === 0) {
      this.fail(loc, 'constraint needs leftOperand, operator and rightOperand, or exactly one of and, or, xone, andSequence');
    }
    if (logical.length === 0) return this.atomic(raw, loc, duty);
    const operator = logical[0]!;
    const items = raw[operator];
    if (!Array.isArray(items)) this.fail(child(loc, operator), `${operator} must be an array of constraints`);
    if (items.length === 0) this.fail(child(loc, operator), `${operator} must contain at least one constraint`);
    const operands: ParsedConstraint[] = [];
    for (let i = 0; i < items.length; i++) operands.push(this.constraint(items[i], child(loc, operator, i), depth + 1));
    return { kind: 'logical', path: loc.trace, operator, operands };
  }

  private atomic(raw: Record<string, unknown>, loc: Location, duty?: DutyScope): ParsedAtomic {
    for (const key of ATOMIC_KEYS) if (!Object.hasOwn(raw, key)) this.fail(loc, `${key} is required`);
    const leftText = termText(raw['leftOperand']);
    if (leftText === undefined) this.fail(loc, 'leftOperand must be a string or {"@id": string}');
    const operatorText = termText(raw['operator']);
    if (operatorText === undefined) this.fail(loc, 'operator must be a string or {"@id": string}');
    const right = raw['rightOperand'];
    if (right === null || (typeof right !== 'string' && typeof right !== 'number' && typeof right !== 'object')) {
      this.fail(loc, 'rightOperand must be a string, number, object or array');
    }
    const asWritten: ParsedAtomic = { kind: 'atomic', path: loc.trace, leftOperand: leftText, operator: operatorText };
    if (typeof right === 'string' || typeof right === 'number') asWritten.expected = right;

    const operand = findLeftOperand(leftText);
    if (!operand) return { ...asWritten, problem: this.problem(loc, `unknown left operand ${describeValue(leftText)}`) };
    const operator = findOperator(operatorText);
    const named: ParsedAtomic = { ...asWritten, leftOperand: operand.name, operand };
    if (!operator) return { ...named, problem: this.problem(loc, `unknown operator ${describeValue(operatorText)}`) };
    named.operator = operator;

    const parameterOperators = duty ? DUTY_PARAMETER_OPERATORS.get(operand.name) : undefined;
    if (parameterOperators) {
      if (!parameterOperators.includes(operator)) {
        return { ...named, parameter: true, problem: this.problem(loc, `in a duty, ${operand.name} is a parameter: use ${parameterOperators.join(', ')}`) };
      }
      if (operand.name === 'recipient') {
        if (duty!.hasRecipient) return { ...named, parameter: true, problem: this.problem(loc, 'a duty has at most one recipient') };
        duty!.hasRecipient = true;
      }
    } else if (operand.dutyParameter) {
      return { ...named, problem: this.problem(loc, `${operand.name} is a duty parameter: only allowed directly in a duty's constraints or refinements`) };
    }

    const type = valueType(operand.valueType);
    if (!type.operators.includes(operator)) {
      const problem = `operator ${operator} is not supported for ${operand.name} (${type.name}; supported: ${type.operators.join(', ')})`;
      return { ...named, parameter: parameterOperators !== undefined, problem: this.problem(loc, problem) };
    }
    const comparison = type.compile(operator, right);
    if (typeof comparison === 'string') return { ...named, parameter: parameterOperators !== undefined, problem: this.problem(loc, comparison) };
    const parsed: ParsedAtomic = { ...named, expected: comparison.expected, comparison };
    if (parameterOperators) parsed.parameter = true;
    return parsed;
  }

  /** `container[key]` as an array (absent = empty), each item parsed by `parse`. */
  private list<T>(container: Record<string, unknown>, key: string, loc: Location, nonEmpty: boolean, parse: (item: unknown, at: Location) => T): T[] {
    if (!Object.hasOwn(container, key)) return [];
    const items = container[key];
    if (!Array.isArray(items)) this.fail(child(loc, key), `${key} must be an array`);
    if (nonEmpty && items.length === 0) this.fail(child(loc, key), `${key} must not be empty`);
    const parsed: T[] = [];
    for (let i = 0; i < items.length; i++) parsed.push(parse(items[i], child(loc, key, i)));
    return parsed;
  }

  /** A malformed structure: never evaluable, so always an error. */
  private fail(loc: Location, message: string): never {
    throw new ValidationError(message, loc.pointer);
  }

  /** A vocabulary problem: an error in strict mode, an `unknown` outcome otherwise. */
  private problem(loc: Location, message: string): string {
    if (this.strict) throw new ValidationError(message, loc.pointer);
    return message;
  }
}

/**
 * Validates a policy at creation time and returns it typed (unchanged). Throws `ValidationError` naming
 * the first problem, its path prefixed with `path` (e.g. `/offer`).
 */
export function validatePolicy(policy: unknown, path = ''): OdrlPolicy {
  new PolicyParser(true).policy(policy, { pointer: path, trace: '' });
  return policy as OdrlPolicy;
}

/** Parses a policy leniently (see module comment); used by `compilePolicy`. */
export function parsePolicy(policy: unknown, path = ''): ParsedPolicy {
  return new PolicyParser(false).policy(policy, { pointer: path, trace: '' });
}

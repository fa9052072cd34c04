/**
 * The policy decision point: pure, synchronous, no I/O; time comes only from `facts.now`.
 *
 * Semantics
 * - A request (scope, action — default `use`, facts) is ALLOWED iff at least one permission covering the
 *   action is in effect, no prohibition covering the action is in effect or undecidable, and every due
 *   obligation can be decided. ODRL `use` covers every action; any other action covers only itself.
 * - A rule is in effect when all its constraints (action refinements included) hold. Outcomes are
 *   `satisfied`, `violated`, `unknown` (missing or malformed fact, unknown operand/operator, operator
 *   meaningless for the type) and `not-applicable` (operand not evaluated in this scope; see the table in
 *   left-operands.ts). A permission whose constraints are satisfied or not-applicable grants (the deferred
 *   ones are checked in a later scope); a prohibition applies only when they are satisfied, and also when
 *   they are unknown (fail closed).
 * - Logical constraints: `and` all hold; `or` at least one; `xone` exactly one; `andSequence` all, in order,
 *   stopping at the first that does not hold. With not-applicable operands: and → not-applicable unless
 *   something is violated/unknown; or → satisfied if any is, else not-applicable if any is; xone → violated
 *   if more than one is satisfied, else not-applicable if any is.
 * - Unknown requested action or scope → deny. Unknown action in a permission → it cannot grant; in a
 *   prohibition → deny (fail closed).
 * - Duties: the `duty` entries of every permission in effect and every `obligation`, whose conditions hold
 *   (or are not-applicable), returned in document order; empty when denied. A duty's top-level `dateTime` /
 *   `elapsedTime` constraints (lteq, lt, eq) and `recipient eq` are its parameters, not conditions: they set
 *   `deadline` (elapsedTime: agreementTime + duration), `within` and `recipient`. A due duty that cannot be
 *   decided or performed makes its permission unknown, or (obligation) denies.
 * - The trace lists, in document order, every rule, then its constraints depth-first, then its duties. It
 *   contains only JSON values and depends only on the policy and the request.
 */
import { findLeftOperand } from './left-operands';
import { addDuration, type Duration, formatInstant, instantOf } from './time';
import {
  type Decision,
  type Duty,
  type JsonValue,
  type LogicalOperator,
  type OdrlPolicy,
  type Outcome,
  POLICY_SCOPES,
  type PolicyFacts,
  type PolicyRequest,
  type PolicyScope,
  type TraceEntry,
} from './types';
import { parsePolicy, type ParsedAction, type ParsedAtomic, type ParsedConstraint, type ParsedDuty, type ParsedRule } from './validate';
import { valueType } from './value-types';
import { actionCovers, findAction } from './vocabulary';

interface Context {
  facts: PolicyFacts;
  scope: PolicyScope;
  trace: TraceEntry[];
  /** The entry that best explains the outcome of the node evaluated last (used for reasons). */
  blame: TraceEntry | undefined;
}

/** A compiled constraint: pushes its trace entries and returns its outcome. */
type Node = (ctx: Context) => Outcome;

interface CompiledDuty {
  path: string;
  action: ParsedAction;
  conditions: Node | undefined;
  parameters: readonly ParsedAtomic[];
}

interface CompiledRule {
  path: string;
  action: ParsedAction;
  constraints: Node | undefined;
  duties: readonly CompiledDuty[];
}

/** A policy parsed once and turned into closures; evaluate it as often as needed. */
export class CompiledPolicy {
  /** @internal use `compilePolicy` */
  constructor(
    readonly id: string | undefined,
    readonly permissions: readonly CompiledRule[],
    readonly prohibitions: readonly CompiledRule[],
    readonly obligations: readonly CompiledDuty[],
  ) {}
}

/**
 * Compiles a policy for fast repeated evaluation. Structurally malformed policies throw `ValidationError`;
 * vocabulary problems compile to constraints that evaluate to `unknown` (see validate.ts).
 */
export function compilePolicy(policy: OdrlPolicy): CompiledPolicy {
  const parsed = parsePolicy(policy);
  return new CompiledPolicy(parsed.id, parsed.permissions.map(compileRule), parsed.prohibitions.map(compileRule), parsed.obligations.map(compileDuty));
}

function compileRule(rule: ParsedRule): CompiledRule {
  return { path: rule.path, action: rule.action, constraints: compileAll(rule.constraints, rule.path), duties: rule.duties.map(compileDuty) };
}

function compileDuty(duty: ParsedDuty): CompiledDuty {
  return { path: duty.path, action: duty.action, conditions: compileAll(duty.conditions, duty.path), parameters: duty.parameters };
}

/** A rule's constraint list is an implicit `and`. */
function compileAll(constraints: readonly ParsedConstraint[], rule: string): Node | undefined {
  if (constraints.length === 0) return undefined;
  const nodes = constraints.map((c) => compileConstraint(c, rule));
  return (ctx) => combineAnd(nodes, ctx, false).outcome;
}

function compileConstraint(constraint: ParsedConstraint, rule: string): Node {
  return constraint.kind === 'atomic' ? compileAtomic(constraint, rule) : compileLogical(constraint.operator, constraint.operands.map((c) => compileConstraint(c, rule)), constraint.path, rule);
}

function compileAtomic(atomic: ParsedAtomic, rule: string): Node {
  const { path, leftOperand, operator, expected, operand, comparison, problem } = atomic;
  // Keys in a fixed order, optional ones only when present, so the trace serialises identically every time.
  const entry = (outcome: Outcome, detail: string, actual?: JsonValue): TraceEntry => {
    const e = { rule, constraint: path, leftOperand, operator } as TraceEntry;
    if (expected !== undefined) e.expected = expected;
    if (actual !== undefined) e.actual = actual;
    e.outcome = outcome;
    e.detail = detail;
    return e;
  };
  const record = (ctx: Context, e: TraceEntry): Outcome => {
    ctx.trace.push(e);
    ctx.blame = e;
    return e.outcome;
  };
  if (problem !== undefined || !operand || !comparison) {
    const detail = problem ?? 'cannot be evaluated';
    return (ctx) => record(ctx, entry('unknown', detail));
  }
  const type = valueType(operand.valueType);
  const notEvaluated = new Map(
    POLICY_SCOPES.filter((scope) => !operand.scopes.has(scope)).map((scope) => [scope, `${leftOperand} is not evaluated in ${scope} scope`]),
  );
  const missing = `fact ${operand.fact} is missing or invalid`;
  const expectedText = formatValue(expected ?? null);
  return (ctx) => {
    const skipped = notEvaluated.get(ctx.scope);
    if (skipped !== undefined) return record(ctx, entry('not-applicable', skipped));
    const actual = operand.read(ctx.facts);
    if (actual === undefined) return record(ctx, entry('unknown', missing));
    const result = comparison.test(actual, ctx.facts);
    if (typeof result === 'string') return record(ctx, entry('unknown', result));
    const shown = type.show(actual, result);
    const verdict = result ? 'satisfies' : 'does not satisfy';
    return record(ctx, entry(result ? 'satisfied' : 'violated', `${operand.label} ${formatValue(shown)} ${verdict} ${operator} ${expectedText}`, shown));
  };
}

interface Combined {
  outcome: Outcome;
  counts: Record<Outcome, number>;
  /** andSequence: the operand it stopped at. */
  stoppedAt?: number;
}

/** Evaluates operands as an `and` (or `andSequence` when `sequential`) and sets ctx.blame. */
function combineAnd(nodes: readonly Node[], ctx: Context, sequential: boolean): Combined {
  const counts = { satisfied: 0, violated: 0, unknown: 0, 'not-applicable': 0 };
  let failure: TraceEntry | undefined;
  let first: TraceEntry | undefined;
  let stoppedAt: number | undefined;
  for (let i = 0; i < nodes.length; i++) {
    const outcome = nodes[i]!(ctx);
    counts[outcome]++;
    first ??= ctx.blame;
    if (outcome === 'violated' || outcome === 'unknown') {
      failure ??= ctx.blame;
      if (sequential) {
        stoppedAt = i;
        break;
      }
    }
  }
  const outcome: Outcome = counts.violated ? 'violated' : counts.unknown ? 'unknown' : counts['not-applicable'] ? 'not-applicable' : 'satisfied';
  ctx.blame = failure ?? first;
  return stoppedAt === undefined ? { outcome, counts } : { outcome, counts, stoppedAt };
}

function compileLogical(operator: LogicalOperator, nodes: readonly Node[], path: string, rule: string): Node {
  return (ctx) => {
    const entry: TraceEntry = { rule, constraint: path, outcome: 'unknown', detail: '' };
    ctx.trace.push(entry);
    let combined: Combined;
    let cause: TraceEntry | undefined;
    if (operator === 'and' || operator === 'andSequence') {
      combined = combineAnd(nodes, ctx, operator === 'andSequence');
      cause = ctx.blame;
    } else {
      const counts = { satisfied: 0, violated: 0, unknown: 0, 'not-applicable': 0 };
      for (const node of nodes) {
        const outcome = node(ctx);
        counts[outcome]++;
        if (outcome === 'satisfied') cause ??= ctx.blame;
      }
      const { satisfied, unknown } = counts;
      const na = counts['not-applicable'];
      const outcome: Outcome =
        operator === 'or'
          ? satisfied ? 'satisfied' : na ? 'not-applicable' : unknown ? 'unknown' : 'violated'
          : satisfied > 1 ? 'violated' : unknown ? 'unknown' : na ? 'not-applicable' : satisfied === 1 ? 'satisfied' : 'violated';
      combined = { outcome, counts };
      // An or/xone that fails is explained by itself, not by one of its operands.
      if (outcome !== 'satisfied' || operator === 'xone') cause = undefined;
    }
    entry.outcome = combined.outcome;
    entry.detail = describeLogical(operator, combined, nodes.length, path);
    ctx.blame = cause ?? entry;
    return combined.outcome;
  };
}

const LOGICAL_RULES: Record<LogicalOperator, string> = {
  and: 'all must hold',
  or: 'at least one must hold',
  xone: 'exactly one must hold',
  andSequence: 'all must hold, in order',
};

function describeLogical(operator: LogicalOperator, { outcome, counts, stoppedAt }: Combined, total: number, path: string): string {
  const tally = (['satisfied', 'violated', 'unknown', 'not-applicable'] as const)
    .filter((key) => counts[key] > 0)
    .map((key) => `${counts[key]} ${key}`)
    .join(', ');
  const stop = stoppedAt === undefined ? '' : `; stopped at ${path}.${operator}[${stoppedAt}]`;
  return `${operator} ${outcome} (${LOGICAL_RULES[operator]}: ${tally} of ${total}${stop})`;
}

/** Evaluates a policy (compiled, or compiled on the fly) for one request. Never throws for a compiled policy. */
export function evaluate(policy: OdrlPolicy | CompiledPolicy, request: PolicyRequest): Decision {
  const compiled = policy instanceof CompiledPolicy ? policy : compilePolicy(policy);
  const scope = request.scope;
  const requestedAction = request.action ?? 'use';
  const facts = request.facts ?? ({} as PolicyFacts);
  // Reported as requested until recognised, canonically afterwards.
  let action: string = requestedAction;
  const deny = (reason: string, trace: TraceEntry[]): Decision => ({ allowed: false, scope, action, reason, trace, duties: [] });

  if (!POLICY_SCOPES.includes(scope)) {
    const detail = `unknown scope ${JSON.stringify(String(scope))}`;
    return deny(`denied: ${detail}`, [{ rule: 'request', outcome: 'unknown', detail }]);
  }
  const actionDef = typeof requestedAction === 'string' ? findAction(requestedAction) : undefined;
  if (!actionDef) {
    const detail = `unknown action ${JSON.stringify(String(requestedAction))}`;
    return deny(`denied: ${detail}`, [{ rule: 'request', outcome: 'unknown', detail }]);
  }
  action = actionDef.name;
  const ctx: Context = { facts, scope, trace: [], blame: undefined };
  const duties: Duty[] = [];

  // Permissions: the first in effect grants; remember why the first covering one did not.
  let grantedBy: string | undefined;
  let permissionFailure: TraceEntry | undefined;
  let covered = false;
  for (const rule of compiled.permissions) {
    const entry = ruleEntry(ctx, rule.path);
    if (rule.action.problem !== undefined) {
      setEntry(entry, 'unknown', `${rule.action.problem}; this permission cannot grant`);
      covered = true;
      permissionFailure ??= entry;
      continue;
    }
    if (!actionCovers(rule.action.name, action)) {
      setEntry(entry, 'not-applicable', `action ${rule.action.name} does not cover ${action}`);
      continue;
    }
    covered = true;
    let outcome = rule.constraints ? rule.constraints(ctx) : 'satisfied';
    let cause = rule.constraints ? ctx.blame : undefined;
    const ruleDuties: Duty[] = [];
    if (outcome === 'satisfied' || outcome === 'not-applicable') {
      const deferred = outcome === 'not-applicable';
      for (const duty of rule.duties) {
        const due = evaluateDuty(duty, ctx);
        if (due === 'unknown') {
          outcome = 'unknown';
          cause = ctx.blame;
          break;
        }
        if (due) ruleDuties.push(due);
      }
      if (outcome !== 'unknown') {
        setEntry(entry, 'satisfied', `grants ${action}${deferred ? ` (some constraints are checked in a later scope, not in ${scope})` : ''}`);
        grantedBy ??= rule.path;
        duties.push(...ruleDuties);
        continue;
      }
    }
    setEntry(entry, outcome, outcome === 'violated' ? 'constraints not satisfied' : 'cannot be decided');
    permissionFailure ??= cause ?? entry;
  }

  // Prohibitions: in effect when satisfied; undecidable ones deny too.
  let prohibition: { entry: TraceEntry; cause: TraceEntry | undefined } | undefined;
  for (const rule of compiled.prohibitions) {
    const entry = ruleEntry(ctx, rule.path);
    if (rule.action.problem !== undefined) {
      setEntry(entry, 'unknown', `${rule.action.problem}; denying because it may cover ${action}`);
      prohibition ??= { entry, cause: undefined };
      continue;
    }
    if (!actionCovers(rule.action.name, action)) {
      setEntry(entry, 'not-applicable', `action ${rule.action.name} does not cover ${action}`);
      continue;
    }
    const outcome = rule.constraints ? rule.constraints(ctx) : 'satisfied';
    const cause = rule.constraints ? ctx.blame : undefined;
    if (outcome === 'satisfied') setEntry(entry, 'satisfied', `in effect: prohibits ${rule.action.name}`);
    else if (outcome === 'unknown') setEntry(entry, 'unknown', 'cannot be decided; denying to be safe');
    else if (outcome === 'violated') setEntry(entry, 'violated', 'not in effect: constraints not satisfied');
    else setEntry(entry, 'not-applicable', `not in effect in ${scope} scope`);
    if (outcome === 'satisfied' || outcome === 'unknown') prohibition ??= { entry, cause };
  }

  // Obligations apply to any action.
  let obligationFailure: TraceEntry | undefined;
  for (const obligation of compiled.obligations) {
    const due = evaluateDuty(obligation, ctx);
    if (due === 'unknown') obligationFailure ??= ctx.blame;
    else if (due) duties.push(due);
  }

  const trace = ctx.trace;
  if (prohibition) {
    const { entry, cause } = prohibition;
    if (entry.outcome === 'unknown') return deny(`denied: ${describeEntry(cause ?? entry)}`, trace);
    return deny(cause ? `denied by ${entry.rule}: ${describeEntry(cause)}` : `denied by ${entry.rule}`, trace);
  }
  if (obligationFailure) return deny(`denied: ${describeEntry(obligationFailure)}`, trace);
  if (grantedBy !== undefined) return { allowed: true, scope, action, reason: `allowed by ${grantedBy}`, trace, duties };
  if (!covered) return deny(`denied: no permission covers action ${action}`, trace);
  return deny(`denied: ${describeEntry(permissionFailure!)}`, trace);
}

function ruleEntry(ctx: Context, rule: string): TraceEntry {
  const entry: TraceEntry = { rule, outcome: 'unknown', detail: '' };
  ctx.trace.push(entry);
  return entry;
}

function setEntry(entry: TraceEntry, outcome: Outcome, detail: string): void {
  entry.outcome = outcome;
  entry.detail = detail;
}

/**
 * Decides whether a duty is due: returns the Duty, undefined when its conditions do not hold, or
 * 'unknown' (ctx.blame says why) when it is due but cannot be decided or performed.
 */
function evaluateDuty(duty: CompiledDuty, ctx: Context): Duty | undefined | 'unknown' {
  const entry = ruleEntry(ctx, duty.path);
  const outcome = duty.conditions ? duty.conditions(ctx) : 'satisfied';
  if (outcome === 'violated') {
    setEntry(entry, 'violated', `not due: conditions not satisfied`);
    return undefined;
  }
  if (outcome === 'unknown') {
    setEntry(entry, 'unknown', 'cannot decide whether it is due');
    ctx.blame ??= entry;
    return 'unknown';
  }
  const problem = duty.action.problem ?? duty.parameters.find((p) => p.problem !== undefined)?.problem;
  if (problem !== undefined) {
    setEntry(entry, 'unknown', `due but cannot be performed: ${problem}`);
    ctx.blame = entry;
    return 'unknown';
  }
  const due = dutyWithParameters(duty, ctx.facts);
  setEntry(entry, 'satisfied', `due: ${describeDuty(due)}`);
  return due;
}

function dutyWithParameters(duty: CompiledDuty, facts: PolicyFacts): Duty {
  const due: Duty = { action: duty.action.name, source: duty.path };
  let deadline: number | undefined;
  const keepEarliest = (ms: number) => {
    if (!Number.isNaN(ms) && (deadline === undefined || ms < deadline)) deadline = ms;
  };
  for (const parameter of duty.parameters) {
    const value = parameter.comparison!.value;
    if (parameter.leftOperand === 'recipient') due.recipient = value as string;
    else if (parameter.leftOperand === 'dateTime') keepEarliest(value as number);
    else {
      const { text, duration } = value as { text: string; duration: Duration };
      due.within = text;
      const since = instantOf(facts.agreementTime);
      if (since !== undefined) keepEarliest(addDuration(since, duration));
    }
  }
  if (deadline !== undefined) due.deadline = formatInstant(deadline);
  return due;
}

function describeDuty(duty: Duty): string {
  const parts = [duty.action];
  if (duty.recipient) parts.push(`to ${duty.recipient}`);
  if (duty.deadline) parts.push(`by ${duty.deadline}`);
  else if (duty.within) parts.push(`within ${duty.within} of the agreement`);
  return parts.join(' ');
}

/** `permission[0].constraint[1] dateTime lteq 2026-12-31T00:00:00Z violated (now 2027-01-02T10:00:00Z)`. */
function describeEntry(entry: TraceEntry): string {
  if (entry.constraint === undefined) return `${entry.rule} ${entry.detail}`;
  if (entry.leftOperand === undefined) return `${entry.constraint} ${entry.detail}`;
  const expected = entry.expected === undefined ? '' : ` ${formatValue(entry.expected)}`;
  const why = entry.outcome === 'unknown' || entry.actual === undefined
    ? entry.detail
    : `${findLeftOperand(entry.leftOperand)?.label ?? entry.leftOperand} ${formatValue(entry.actual)}`;
  return `${entry.constraint} ${entry.leftOperand} ${entry.operator}${expected} ${entry.outcome} (${why})`;
}

function formatValue(value: JsonValue): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return `[${value.map(formatValue).join(', ')}]`;
  return JSON.stringify(value);
}

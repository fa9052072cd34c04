/**
 * State machines as explicit transition tables (From / Message / Actor / To), one table per role.
 * Every inbound and outbound protocol message is checked against the table of the role that handles
 * it; nothing else in the code decides whether a transition is legal.
 */
export type Direction = 'in' | 'out';

export interface Transition<S extends string, M extends string> {
  /** States the transition may start from; `null` means "no process yet" (the creating message). */
  from: ReadonlyArray<S | null>;
  message: M;
  /** `in`: received from the counterparty; `out`: sent by this role. */
  direction: Direction;
  to: S;
}

export interface StateMachine<S extends string, M extends string> {
  readonly name: string;
  readonly terminal: ReadonlySet<S>;
  readonly transitions: ReadonlyArray<Transition<S, M>>;
}

export type TransitionCheck<S extends string> =
  | { ok: true; to: S }
  | { ok: false; reason: string };

/** Look up the transition for `message` in `direction` from `state`; explain refusals in one sentence. */
export function checkTransition<S extends string, M extends string>(
  machine: StateMachine<S, M>,
  state: S | null,
  message: M,
  direction: Direction,
): TransitionCheck<S> {
  if (state !== null && machine.terminal.has(state)) {
    return { ok: false, reason: `${machine.name} is ${state}, a terminal state: ${message} not allowed` };
  }
  const hit = machine.transitions.find((t) => t.message === message && t.direction === direction && t.from.includes(state));
  if (hit) return { ok: true, to: hit.to };
  const legalFrom = machine.transitions
    .filter((t) => t.message === message && t.direction === direction)
    .flatMap((t) => t.from)
    .map((s) => s ?? '(new)');
  const verb = direction === 'in' ? 'received' : 'sent';
  return {
    ok: false,
    reason: legalFrom.length
      ? `${message} ${verb} in state ${state ?? '(new)'}: only allowed from ${[...new Set(legalFrom)].join(', ')}`
      : `${message} cannot be ${verb} by this party`,
  };
}

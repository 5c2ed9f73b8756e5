/**
 * A decider (Emmett / fmodel style): plain data and pure functions. `decide` may throw a `DomainError`;
 * it never does I/O and never reads the clock: time comes in with the command.
 */
export interface DomainEvent<Type extends string = string, Data extends Record<string, unknown> = Record<string, unknown>> {
  type: Type;
  data: Data;
}

export interface Decider<Command, State, Event extends DomainEvent> {
  initialState(): State;
  evolve(state: State, event: Event): State;
  decide(command: Command, state: State): Event[];
  /**
   * Several events at once, for a state that grows with its stream (a map of entries): the same state as
   * `events.reduce(evolve, state)`, and as pure (`state` is left as it was), but copied once rather than once
   * per event, so that folding a long stream is linear. Folds use it when it is there (`fold`).
   */
  evolveMany?(state: State, events: readonly Event[]): State;
}

export type DomainErrorKind = 'not_found' | 'conflict' | 'invalid_state' | 'invalid_input' | 'forbidden';

/** A command refused by the domain; HTTP maps `kind` to 404, 409, 422, 400, 403. */
export class DomainError extends Error {
  override readonly name = 'DomainError';
  constructor(
    readonly kind: DomainErrorKind,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** `events` folded onto `from` (by default the initial state), which is left as it was. */
export function fold<State, Event extends DomainEvent>(
  decider: Pick<Decider<unknown, State, Event>, 'initialState' | 'evolve' | 'evolveMany'>,
  events: readonly Event[],
  from: State = decider.initialState(),
): State {
  if (events.length === 0) return from;
  return decider.evolveMany ? decider.evolveMany(from, events) : events.reduce(decider.evolve, from);
}

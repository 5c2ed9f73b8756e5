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

export function fold<State, Event extends DomainEvent>(decider: Pick<Decider<unknown, State, Event>, 'initialState' | 'evolve'>, events: Event[]): State {
  return events.reduce(decider.evolve, decider.initialState());
}

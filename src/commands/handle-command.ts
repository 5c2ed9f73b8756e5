import { type Decider, type DomainEvent, fold } from '../domain/decider.js';
import {
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type Position,
  StreamNotFoundError,
  WrongExpectedRevisionError,
} from '../eventstore/port.js';

export interface CommandResult<State, Event> {
  events: Event[];
  state: State;
  /** Position of the last appended event; null when the decision appended nothing. */
  position: Position | null;
  revision: number | null;
}

/** Loads a stream and folds it. A missing stream is the decider's initial state at `no_stream`. */
export async function loadAggregate<State, Event extends DomainEvent>(
  store: EventStore,
  streamName: string,
  decider: Pick<Decider<unknown, State, Event>, 'initialState' | 'evolve' | 'evolveMany'>,
): Promise<{ state: State; revision: number | null; events: Event[] }> {
  try {
    const recorded = await store.readStream(streamName);
    const events = recorded.map((e) => ({ type: e.type, data: e.data }) as Event);
    return { state: fold(decider, events), revision: recorded.length ? recorded[recorded.length - 1]!.revision : null, events };
  } catch (err) {
    if (err instanceof StreamNotFoundError) return { state: decider.initialState(), revision: null, events: [] };
    throw err;
  }
}

const MAX_ATTEMPTS = 20;

/**
 * Load, decide, append with the exact expected revision; on a conflict someone else wrote first: reload
 * and decide again. The decision is always taken on the latest state.
 */
export async function handleCommand<Command, State, Event extends DomainEvent>(
  store: EventStore,
  streamName: string,
  decider: Decider<Command, State, Event>,
  /** The command, or how to make it from the current state (when it needs facts read elsewhere). */
  command: Command | ((state: State) => Promise<Command>),
  metadata: EventMetadata = {},
): Promise<CommandResult<State, Event>> {
  for (let attempt = 1; ; attempt++) {
    const { state, revision } = await loadAggregate(store, streamName, decider);
    const cmd = typeof command === 'function' ? await (command as (s: State) => Promise<Command>)(state) : command;
    const events = decider.decide(cmd, state);
    if (events.length === 0) return { events, state, position: null, revision };
    const expected: ExpectedRevision = revision === null ? 'no_stream' : revision;
    try {
      const r = await store.append(
        streamName,
        events.map((e) => ({ type: e.type, data: e.data, metadata })),
        expected,
      );
      return { events, state: fold(decider, events, state), position: r.position, revision: r.nextExpectedRevision };
    } catch (err) {
      if (!(err instanceof WrongExpectedRevisionError) || attempt >= MAX_ATTEMPTS) throw err;
    }
  }
}

import { setTimeout as sleep } from 'node:timers/promises';
import { type Decider, type DomainEvent, fold } from '../domain/decider.js';
import { type EventMetadata, type EventStore, type Position, WrongExpectedRevisionError } from '../eventstore/port.js';
import { readStreamIfAny } from '../eventstore/read-stream-if-any.js';

/** An aggregate's state and the revision it was folded to (null: the stream has no event yet). */
export interface Loaded<State> {
  state: State;
  revision: number | null;
}

export interface CommandResult<State, Event> {
  events: Event[];
  state: State;
  /** Position of the last appended event; null when the decision appended nothing. */
  position: Position | null;
  revision: number | null;
  /** Every event's id (`eventIds`) was stored already: nothing was written, the first append's result stands. */
  duplicate: boolean;
}

type Folding<State, Event extends DomainEvent> = Pick<Decider<unknown, State, Event>, 'initialState' | 'evolve' | 'evolveMany'>;

/**
 * Loads a stream and folds it. A missing stream is the decider's initial state at revision null. Read through the
 * store's forward reads where it has them: the same events, and concurrent loads (a scheduler's steps, each
 * checking its dedup key) share one round trip, where a missing stream costs no second query.
 */
export async function loadAggregate<State, Event extends DomainEvent>(
  store: EventStore,
  streamName: string,
  decider: Folding<State, Event>,
): Promise<Loaded<State> & { events: Event[] }> {
  const recorded = store.readStreamsForward
    ? ((await store.readStreamsForward([{ streamName, fromRevision: 0 }])).get(streamName) ?? [])
    : await readStreamIfAny(store, streamName);
  if (!recorded || recorded.length === 0) return { state: decider.initialState(), revision: null, events: [] };
  const events = recorded.map((e) => ({ type: e.type, data: e.data }) as Event);
  return { state: fold(decider, events), revision: recorded.length ? recorded[recorded.length - 1]!.revision : null, events };
}

export interface HandleOptions<State, Event extends DomainEvent> {
  metadata?: EventMetadata;
  /**
   * The state the caller holds, with its revision (a cache, an activity in progress): the first decision is
   * taken on it without a read. The append's exact expected revision proves it current; a conflict reloads.
   */
  known?: Loaded<State>;
  /** How the stream is (re)loaded; by default read whole and folded. */
  load?: () => Promise<Loaded<State>>;
  /** The id of each decided event (by its place in the decision): an append of ids already stored is a no-op. */
  eventIds?: (event: Event, index: number) => string;
  /** How many decisions a conflict may cost (default 20); 1: the caller handles the conflict itself. */
  maxAttempts?: number;
  /** Folds the decided events onto the state they were decided on (default: the decider's `fold`). */
  evolve?: (state: State, events: Event[]) => State;
  /**
   * A decision of no events on a `known` state is only as good as that state: when set, it is taken again on
   * the stream as it is (a cached quota bucket that looks full may have had a unit refunded by another process).
   */
  confirmNoChange?: boolean;
}

const DEFAULT_ATTEMPTS = 20;

/** A conflict's pause before deciding again: growing, and random so that two writers that collided part. */
const backoff = (attempt: number) => sleep(Math.random() * Math.min(2 ** attempt, 100));

/**
 * The command loop of every aggregate: load (or take the known state), decide each command in order on the state
 * the ones before it produced, append all their events with the exact expected revision; on a conflict someone
 * else wrote first, so reload and decide again (bounded, with backoff). The decision is always taken on the
 * latest state. `command` may be a function of the state, for a command that needs facts read elsewhere.
 */
export async function handleCommand<Command, State, Event extends DomainEvent>(
  store: EventStore,
  streamName: string,
  decider: Decider<Command, State, Event>,
  command: Command | readonly Command[] | ((state: State) => Command | readonly Command[] | Promise<Command | readonly Command[]>),
  options: HandleOptions<State, Event> = {},
): Promise<CommandResult<State, Event>> {
  const load = options.load ?? (() => loadAggregate(store, streamName, decider));
  const evolve = options.evolve ?? ((state: State, events: Event[]) => fold(decider, events, state));
  const maxAttempts = options.maxAttempts ?? DEFAULT_ATTEMPTS;
  let current = options.known;
  let confirmed = !current;
  for (let attempt = 1; ; attempt++) {
    const { state, revision } = current ?? (await load());
    current = undefined;
    const given = typeof command === 'function' ? await (command as (s: State) => Command | readonly Command[])(state) : command;
    const events = decideAll(decider, Array.isArray(given) ? (given as readonly Command[]) : [given as Command], state);
    if (events.length === 0) {
      if (options.confirmNoChange && !confirmed) {
        confirmed = true;
        continue;
      }
      return { events, state, position: null, revision, duplicate: false };
    }
    try {
      const r = await store.append(
        streamName,
        events.map((e, i) => ({
          ...(options.eventIds ? { id: options.eventIds(e, i) } : {}),
          type: e.type,
          data: e.data,
          metadata: options.metadata ?? {},
        })),
        revision === null ? 'no_stream' : revision,
      );
      return { events, state: evolve(state, events), position: r.position, revision: r.nextExpectedRevision, duplicate: r.duplicate };
    } catch (err) {
      if (!(err instanceof WrongExpectedRevisionError) || attempt >= maxAttempts) throw err;
      confirmed = true;
      await backoff(attempt);
    }
  }
}

/** The events of several commands, each decided on the state the ones before it left. */
function decideAll<Command, State, Event extends DomainEvent>(
  decider: Decider<Command, State, Event>,
  commands: readonly Command[],
  state: State,
): Event[] {
  if (commands.length === 1) return decider.decide(commands[0]!, state);
  const events: Event[] = [];
  for (const c of commands) {
    const decided = decider.decide(c, state);
    events.push(...decided);
    state = fold(decider, decided, state);
  }
  return events;
}

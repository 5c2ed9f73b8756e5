import { type ActivityCommand, type ActivityState, activityDecider, activityStream } from '../../domain/activity.js';
import type { EventStore } from '../../eventstore/port.js';
import type { Positions } from '../../eventstore/positions.js';
import { type Actor, actorMetadata } from '../actor.js';
import { handleCommand, loadAggregate } from '../handle-command.js';

/**
 * An activity this process is working on: its state and revision are kept, so each step decides on them and
 * appends with the exact revision, without reading the stream again. A conflict (someone else wrote) reloads.
 */
export class ActivityHandle {
  constructor(
    readonly id: string,
    public state: ActivityState,
    public revision: number | null,
    private readonly store: EventStore,
    private readonly actor: Actor,
    readonly positions: Positions,
  ) {}

  static async load(store: EventStore, id: string, actor: Actor, positions: Positions): Promise<ActivityHandle> {
    const { state, revision } = await loadAggregate(store, activityStream(id), activityDecider);
    return new ActivityHandle(id, state, revision, store, actor, positions);
  }

  /** Decides the commands in order and appends their events together (`handleCommand` on the state held). */
  async apply(commands: ActivityCommand[], options: { retryOnConflict?: boolean } = {}): Promise<ActivityState> {
    const r = await handleCommand(this.store, activityStream(this.id), activityDecider, commands, {
      metadata: actorMetadata(this.actor),
      known: { state: this.state, revision: this.revision },
      // What a conflict reloads is this handle's from then on, whatever the decision on it.
      load: async () => {
        const fresh = await loadAggregate(this.store, activityStream(this.id), activityDecider);
        this.state = fresh.state;
        this.revision = fresh.revision;
        return fresh;
      },
      ...(options.retryOnConflict === false ? { maxAttempts: 1 } : {}),
    });
    this.state = r.state;
    this.revision = r.revision;
    this.positions.add(r.position);
    return r.state;
  }
}

import type { Decider, DomainEvent } from '../domain/decider.js';
import type { EventStore } from '../eventstore/port.js';
import { type Actor, actorLabel, actorMetadata } from './actor.js';
import { AggregateCache } from './aggregate-cache.js';
import { type CommandResult, type Loaded, handleCommand } from './handle-command.js';

/** Who asks and when: what every command is given besides its own input. */
export interface CommandContext {
  actor: Actor;
  now: Date;
}

/** The context as commands record it: the actor's label (never a credential) and the time in ISO form. */
export interface Stamp {
  by: string;
  now: string;
}

/** A command from the stamp; or, for one that needs facts read elsewhere, a function of the current state. */
type CommandOf<C, S> = (stamp: Stamp) => C | ((state: S) => Promise<C>);

/**
 * One aggregate's command loop, bound once: its decider and how its stream is named. Commands go through the
 * store, or through the aggregate cache for an aggregate whose stream grows with every change (allowlist, rules),
 * and carry the actor in their metadata.
 */
export function commandHandlerFor<C, S, E extends DomainEvent, Id = string>(decider: Decider<C, S, E>, streamOf: (id: Id) => string) {
  /** `known`: the state the caller just read, with its revision (decided on without a read; a conflict reloads). */
  return async (
    via: EventStore | AggregateCache,
    id: Id,
    ctx: CommandContext,
    command: CommandOf<C, S>,
    known?: Loaded<S>,
  ): Promise<CommandResult<S, E>> => {
    const stamp = { by: actorLabel(ctx.actor), now: ctx.now.toISOString() };
    const metadata = actorMetadata(ctx.actor);
    const cmd = command(stamp);
    if (via instanceof AggregateCache) {
      if (typeof cmd === 'function') throw new TypeError('the aggregate cache takes commands, not functions of the state');
      return via.handle(streamOf(id), decider, cmd, metadata);
    }
    return handleCommand(via, streamOf(id), decider, cmd, { metadata, ...(known ? { known } : {}) });
  };
}

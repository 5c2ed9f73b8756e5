import { expect } from 'vitest';
import { type Decider, type DomainErrorKind, type DomainEvent, DomainError, fold } from '../../src/domain/decider.js';

/** Given events, when a command, then events (or a domain error): a decider spec with no I/O. */
export function spec<C, S, E extends DomainEvent>(decider: Decider<C, S, E>) {
  return {
    given(events: E[]) {
      return {
        when(command: C) {
          const run = () => decider.decide(command, fold(decider, events));
          return {
            then(expected: E[]) {
              expect(run()).toEqual(expected);
            },
            thenThrows(kind: DomainErrorKind, details?: unknown) {
              let err: unknown;
              try {
                run();
              } catch (e) {
                err = e;
              }
              expect(err).toBeInstanceOf(DomainError);
              expect((err as DomainError).kind).toBe(kind);
              if (details !== undefined) expect((err as DomainError).details).toEqual(details);
            },
          };
        },
      };
    },
  };
}

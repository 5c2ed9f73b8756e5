import { expect } from 'vitest';
import { ChannelError } from '../../src/channels/port.js';

/** The ChannelError a send rejects with (the test fails if it resolves or throws anything else). */
export async function channelFailure(p: Promise<unknown>): Promise<ChannelError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ChannelError);
  return err as ChannelError;
}

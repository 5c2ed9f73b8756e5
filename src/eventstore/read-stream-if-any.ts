import { type EventStore, type ReadStreamOptions, type RecordedEvent, StreamNotFoundError } from './port.js';

/**
 * `readStream`, with a stream that has no event reported as `null` instead of thrown: for the readers to whom a
 * missing stream is an ordinary answer (an aggregate not created yet, a registry never loaded).
 */
export async function readStreamIfAny(store: EventStore, streamName: string, options?: ReadStreamOptions): Promise<RecordedEvent[] | null> {
  try {
    return await store.readStream(streamName, options);
  } catch (err) {
    if (err instanceof StreamNotFoundError) return null;
    throw err;
  }
}

import { ANY, NO_STREAM, START as ESDB_START, STREAM_EXISTS, UnavailableError, WrongExpectedVersionError } from '@kurrent/kurrentdb-client';
import { describe, expect, it } from 'vitest';
import {
  type EsdbRecord,
  type StoredRef,
  classifyStoredIds,
  isSystemEvent,
  toActualRevision,
  toClientConnectionString,
  toClientStreamState,
  toMetadata,
  toPortPosition,
  toReadPosition,
  toRecordedEvent,
  toWrongExpectedRevisionError,
} from '../../src/eventstore/eventstoredb.js';
import { START, WrongExpectedRevisionError } from '../../src/eventstore/port.js';

describe('eventstoredb mapping: expected revisions', () => {
  it('maps every port expectation to the client constant or a bigint', () => {
    expect(toClientStreamState('no_stream')).toBe(NO_STREAM);
    expect(toClientStreamState('stream_exists')).toBe(STREAM_EXISTS);
    expect(toClientStreamState('any')).toBe(ANY);
    expect(toClientStreamState(0)).toBe(0n);
    expect(toClientStreamState(41)).toBe(41n);
    expect(toClientStreamState(Number.MAX_SAFE_INTEGER)).toBe(BigInt(Number.MAX_SAFE_INTEGER));
  });

  it('reads the actual revision of a conflict, a missing stream being no_stream', () => {
    expect(toActualRevision('no_stream')).toBe('no_stream');
    expect(toActualRevision(-1n)).toBe('no_stream');
    expect(toActualRevision(0n)).toBe(0);
    expect(toActualRevision(7n)).toBe(7);
    expect(toActualRevision(undefined)).toBe('no_stream');
  });
});

describe('eventstoredb mapping: conflicts', () => {
  it("translates the client's WrongExpectedVersionError with the actual revision", () => {
    const err = new WrongExpectedVersionError(undefined, { streamName: 'crm_bucket-a', expected: 3n, current: 5n });
    const mapped = toWrongExpectedRevisionError(err, 'crm_bucket-a', 3);
    expect(mapped).toBeInstanceOf(WrongExpectedRevisionError);
    expect(mapped).toMatchObject({ streamName: 'crm_bucket-a', expected: 3, actual: 5 });
  });

  it('reports a missing stream as actual no_stream', () => {
    const err = new WrongExpectedVersionError(undefined, { streamName: 'crm_bucket-a', expected: 0n, current: 'no_stream' });
    expect(toWrongExpectedRevisionError(err, 'crm_bucket-a', 0)).toMatchObject({ expected: 0, actual: 'no_stream' });
    const viaStreamExists = new WrongExpectedVersionError(undefined, {
      streamName: 'crm_bucket-a',
      expected: 'stream_exists',
      current: 'no_stream',
    });
    expect(toWrongExpectedRevisionError(viaStreamExists, 'crm_bucket-a', 'stream_exists')).toMatchObject({
      expected: 'stream_exists',
      actual: 'no_stream',
    });
  });

  it('keeps the port expectation, not the client one', () => {
    const err = new WrongExpectedVersionError(undefined, { streamName: 's-1', expected: 'no_stream', current: 1n });
    expect(toWrongExpectedRevisionError(err, 's-1', 'no_stream')).toMatchObject({ expected: 'no_stream', actual: 1 });
  });

  it('leaves other errors alone', () => {
    expect(toWrongExpectedRevisionError(new UnavailableError(), 's-1', 'any')).toBeNull();
    expect(toWrongExpectedRevisionError(new Error('boom'), 's-1', 'any')).toBeNull();
  });
});

describe('eventstoredb mapping: positions', () => {
  it('copies commit and prepare', () => {
    expect(toPortPosition({ commit: 120n, prepare: 100n })).toEqual({ commit: 120n, prepare: 100n });
  });

  it('treats absent and sentinel positions as unknown', () => {
    expect(toPortPosition(undefined)).toBeNull();
    expect(toPortPosition({ commit: 0xffff_ffff_ffff_ffffn, prepare: 0xffff_ffff_ffff_ffffn })).toBeNull();
    expect(toPortPosition({ commit: -1n, prepare: -1n })).toBeNull();
  });

  it('starts a $all read at the log start, or at the (inclusive) checkpoint', () => {
    expect(toReadPosition(START)).toBe(ESDB_START);
    expect(toReadPosition({ commit: 5n, prepare: 5n })).toEqual({ commit: 5n, prepare: 5n });
  });
});

describe('eventstoredb mapping: connection strings', () => {
  it('hands esdb URLs to the client as kurrentdb (the same protocol; it warns on esdb), and leaves KurrentDB ones alone', () => {
    expect(toClientConnectionString(' esdb://eventstore:2113?tls=false ')).toBe('kurrentdb://eventstore:2113?tls=false');
    expect(toClientConnectionString('esdb+discover://a:2113,b:2113')).toBe('kurrentdb+discover://a:2113,b:2113');
    expect(toClientConnectionString('kurrentdb://db:2113?tls=false')).toBe('kurrentdb://db:2113?tls=false');
    expect(toClientConnectionString('kurrent://db:2113')).toBe('kurrent://db:2113');
    expect(toClientConnectionString('kurrentdb+discover://cluster:2113')).toBe('kurrentdb+discover://cluster:2113');
  });
});

describe('eventstoredb mapping: recorded events', () => {
  const base: EsdbRecord = {
    streamId: 'crm_activity-1',
    id: '0B0E6F2A-5D5B-4C39-8E0D-2D3F7B9A1C11',
    type: 'ActivityCreated',
    revision: 4n,
    created: new Date('2025-01-02T03:04:05.678Z'),
    isJson: true,
    data: { a: 1 },
    metadata: { correlationId: 'c-1', schemaVersion: 1 },
    position: { commit: 900n, prepare: 900n },
  };

  it('maps revision, position, time, metadata; lower-cases the id', () => {
    expect(toRecordedEvent(base)).toEqual({
      id: '0b0e6f2a-5d5b-4c39-8e0d-2d3f7b9a1c11',
      streamName: 'crm_activity-1',
      type: 'ActivityCreated',
      data: { a: 1 },
      metadata: { correlationId: 'c-1', schemaVersion: 1 },
      revision: 4,
      position: { commit: 900n, prepare: 900n },
      recordedAt: new Date('2025-01-02T03:04:05.678Z'),
    });
  });

  it('turns absent, binary or non-object metadata into an object', () => {
    expect(toMetadata(undefined)).toEqual({});
    expect(toMetadata(['x'])).toEqual({});
    expect(toMetadata('text')).toEqual({});
    expect(toMetadata(new Uint8Array(Buffer.from('{"actor":{"type":"system","id":"x"}}')))).toEqual({ actor: { type: 'system', id: 'x' } });
    expect(toMetadata(new Uint8Array([0xff, 0x00]))).toEqual({});
  });

  it('parses JSON kept as bytes, and keeps other bytes as they are', () => {
    const json = toRecordedEvent({ ...base, isJson: false, data: new Uint8Array(Buffer.from('{"b":2}')) });
    expect(json.data).toEqual({ b: 2 });
    const bytes = new Uint8Array([1, 2, 3]);
    expect(toRecordedEvent({ ...base, isJson: false, data: bytes }).data).toBe(bytes);
  });

  it('falls back to START for an event without a position (servers before 22.6 on stream reads)', () => {
    expect(toRecordedEvent({ ...base, position: undefined }).position).toEqual(START);
  });

  it('knows system events by type or stream', () => {
    expect(isSystemEvent({ streamId: '$stats-0.0.0.0:2113', type: '$statsCollected' })).toBe(true);
    expect(isSystemEvent({ streamId: '$settings', type: 'Settings' })).toBe(true);
    expect(isSystemEvent({ streamId: 'crm_activity-1', type: '$>' })).toBe(true);
    expect(isSystemEvent({ streamId: 'crm_activity-1', type: 'ActivityCreated' })).toBe(false);
  });
});

describe('eventstoredb mapping: stored ids (idempotency)', () => {
  const ref = (revision: number, pos: bigint): StoredRef => ({ revision, position: { commit: pos, prepare: pos } });
  const a = 'aaaaaaaa-0000-4000-8000-000000000001';
  const b = 'bbbbbbbb-0000-4000-8000-000000000002';

  it('none, all or partly stored', () => {
    expect(classifyStoredIds([a, b], new Map())).toEqual({ kind: 'none' });
    expect(classifyStoredIds([a, b], new Map([[a, ref(3, 300n)]]))).toEqual({ kind: 'partial' });
    expect(
      classifyStoredIds(
        [a, b],
        new Map([
          [a, ref(3, 300n)],
          [b, ref(4, 400n)],
        ]),
      ),
    ).toEqual({ kind: 'all', revision: 4, position: { commit: 400n, prepare: 400n } });
  });

  it('matches ids whatever their case', () => {
    expect(classifyStoredIds([a.toUpperCase()], new Map([[a, ref(0, 10n)]]))).toMatchObject({ kind: 'all', revision: 0 });
  });
});

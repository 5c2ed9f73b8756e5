/*
 * An EventStoreDB STAND-IN for tests. It is NOT EventStoreDB: a small in-memory program that speaks the same gRPC
 * protocol (the service definitions and messages generated from EventStoreDB's .proto files, which ship inside
 * `@kurrent/kurrentdb-client` under `generated/kurrentdb/protocols/v1/`), so the real client can run against it where no real node can
 * run (no Docker, no binary in CI). Passing against it shows that our adapter drives the real client correctly
 * under the rules written down below; it does not show that EventStoreDB behaves like this. Whenever a rule
 * here and a real node disagree, the node is right and this file is wrong: run the suite with
 * TEST_EVENTSTORE_URL set to find out.
 *
 * What it serves (the calls `@kurrent/kurrentdb-client` 1.3.1 makes, read from its dist/ source; its reads go
 * through its native bridge, whose calls are v1 `Streams/Read` too: the stand-in serves nothing else and the
 * bridge's reads are answered. It was first written for `@eventstore/db-client` 6.2.1):
 * - `event_store.client.server_features.ServerFeatures/GetSupportedMethods` (the client asks once per channel
 *   and only then uses BatchAppend; with `batchAppend: false` it is left out and the client falls back to the
 *   unary Append);
 * - `streams.Streams/BatchAppend` (bidi; requests of one append share a correlation id until `is_final`),
 *   `Append`, `Read` (a stream or `$all`, forwards/backwards, count, server-side filters on `$all`), `Read`
 *   with subscription options (subscribe to `$all` or a stream), `Delete` (soft) and `Tombstone` (hard).
 * Not served: persistent subscriptions, projections, operations, users, gossip (so use a single-node
 * connection string, `kurrentdb://host:port?tls=false`, which needs no discovery), TLS, authentication, stream
 * metadata other than `$tb` (no `$maxCount`/`$maxAge`/ACLs), transactions, scavenging, link resolution.
 *
 * Where each behaviour comes from:
 * - Expected revision and idempotency: a transcription of `IndexWriter.CheckCommit` (EventStore/EventStore,
 *   src/EventStore.Core/Services/Storage/ReaderIndex/IndexWriter.cs), which is what the docs describe
 *   ("Optimistic concurrency and idempotence", developers.eventstore.com, clients/dotnet/.../appending and
 *   docs.geteventstore.com/dotnet-api/4.0.0/optimistic-concurrency-and-idempotence/):
 *   * a tombstoned stream -> StreamDeleted, whatever the expected revision;
 *   * `stream_exists`: a soft-deleted stream -> StreamDeleted; no stream and no metadata stream -> wrong
 *     expected version;
 *   * `any` / `stream_exists`: the ids are looked up in a BOUNDED cache of recently committed event ids (id ->
 *     stream, revision; the node's `_committedEvents`, bounded by memory). First id missing (or cached for
 *     another stream) -> the events are written (again); all present -> idempotent success (no write; the
 *     revision and position of the last of them); first present and a later one missing -> "corrupted
 *     idempotency", which the docs say surfaces as WrongExpectedVersion. The docs: "Idempotence is not
 *     guaranteed if you use ExpectedVersion.Any". `idempotencyCacheSize` sets the bound, so a test can
 *     evict and see the duplicate a real node would write;
 *   * an exact revision or `no_stream` (-1) below the current revision: the ids are compared with the events
 *     stored right after the expected revision: all equal -> idempotent success; the first differs -> wrong
 *     expected version, except `no_stream` on a soft-deleted stream, which is written (at the next revision:
 *     "continuing from where it left off"); a later one differs, or the append is longer than what is stored
 *     -> corrupted idempotency (wrong expected version);
 *   * an exact revision above the current one -> wrong expected version; equal -> written. An id stored
 *     earlier in the stream, or in another stream, does not stop such a write (the docs: "It is possible to
 *     reuse an EventId across streams").
 *   How each decision is answered, and the undelete on a write to a soft-deleted stream (`SoftUndeleteStream(
 *   stream, current + 1)`), are from StorageWriterService (src/EventStore.Core/Services/Storage/
 *   StorageWriterService.cs, ActOnCommitCheckFailure: "corrupted idempotency ... WrongExpectedVersion is ok
 *   answer"). The wrong-expected-version answer carries the stream's current revision (or "no stream"): on
 *   BatchAppend as `google.rpc.Status` details `event_store.client.WrongExpectedVersion`, on Append in the
 *   response.
 * - Deleting (docs "Deleting streams and events", and the clients' reference pages: a soft-deleted stream
 *   reads as not found and can be appended to again, "continuing from where it left off"; a hard delete is
 *   permanent, its reads and appends are StreamDeleted): a soft delete writes `{"$tb": <i64 max>}` to the
 *   metadata stream `$$<name>` (IndexWriter.IsSoftDeleted tests for that value); the stream then reads as not
 *   found, and an append to it continues at the next revision and writes `$tb` = that revision (the events
 *   before it stay hidden). A tombstone writes a `$streamDeleted` event at revision i64 max; reads and
 *   appends are then StreamDeleted (a gRPC error with the `exception: stream-deleted` trailer, as the client
 *   decodes it in dist/utils/CommandError.js).
 * - `$all`: every event, system ones included (`$`-prefixed streams and types: `$$` metadata, `$streamDeleted`,
 *   the `$stats-...` events a node writes on its own every `statsIntervalMs`, a fresh node's own streams), in
 *   log order. An event appended over gRPC is one self-committed prepare record, so its position is
 *   {commit: its log position, prepare: its log position}; log positions grow by the record's size in bytes,
 *   so they are not consecutive. A `$all` read forwards from a position includes the event at that position;
 *   backwards from a position it gives the events before it; a subscription from a position gives the events
 *   after it. (Inclusive reads are what our adapter's header records of a node, and why it drops events <=
 *   its checkpoint; the backwards and subscription rules are not re-checked against a node here.)
 * - Reads: a missing or soft-deleted stream answers `stream_not_found` (the client turns it into its
 *   StreamNotFoundError); `created` is in .NET ticks since the Unix epoch (the client divides by 10,000).
 * - Outages (switches of the stand-in, not node behaviour): `goUnavailable()` resets every open connection
 *   and closes the port, like a crash or a network cut (the client sees UNAVAILABLE: connection dropped, then
 *   refused); `comeBack()` listens on the same port with
 *   the log intact (a restart with durable data); `log.forgetCachedIds()` drops the in-memory id cache, as a
 *   restart does; `loseRepliesAfterCommit(n)` commits the next appends and then fails their call UNAVAILABLE
 *   (a reply lost to a dropped connection); `hold(stream)` / `release(stream)` keep one stream's
 *   appends in flight (neither committed nor answered) until released; `stall()` accepts calls and answers
 *   none of them (a hung node) until `unstall()`.
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { type AddressInfo, type Server as NetServer, type Socket, connect, createServer } from 'node:net';

// The client's own copies, so the service definitions and messages are the ones it was built with.
const clientRequire = createRequire(createRequire(import.meta.url).resolve('@kurrent/kurrentdb-client'));
const grpc = clientRequire('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
const streamsGrpc = clientRequire(
  '../generated/kurrentdb/protocols/v1/streams_grpc_pb.js',
) as typeof import('@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_grpc_pb.js');
const streamsPb = clientRequire(
  '../generated/kurrentdb/protocols/v1/streams_pb.js',
) as typeof import('@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_pb.js');
const sharedPb = clientRequire(
  '../generated/kurrentdb/protocols/v1/shared_pb.js',
) as typeof import('@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/shared_pb.js');
const statusPb = clientRequire(
  '../generated/kurrentdb/protocols/v1/status_pb.js',
) as typeof import('@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/status_pb.js');
const featuresGrpc = clientRequire(
  '../generated/kurrentdb/protocols/v1/serverfeatures_grpc_pb.js',
) as typeof import('@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/serverfeatures_grpc_pb.js');
const featuresPb = clientRequire(
  '../generated/kurrentdb/protocols/v1/serverfeatures_pb.js',
) as typeof import('@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/serverfeatures_pb.js');
const anyPb = clientRequire('google-protobuf/google/protobuf/any_pb.js') as typeof import('google-protobuf/google/protobuf/any_pb.js');
const emptyPb = clientRequire(
  'google-protobuf/google/protobuf/empty_pb.js',
) as typeof import('google-protobuf/google/protobuf/empty_pb.js');

type ReadReq = InstanceType<typeof streamsPb.ReadReq>;
type ReadResp = InstanceType<typeof streamsPb.ReadResp>;
type ServerCall = import('@grpc/grpc-js').ServerWritableStream<ReadReq, ReadResp>;

/**
 * A batch append's deadline: an instant (`deadline_21_10_0`, what the client sends) or a duration from now (the
 * older field, which a node still accepts).
 */
function batchDeadline(o: InstanceType<typeof streamsPb.BatchAppendReq.Options>): number | null {
  const at = o.getDeadline21100();
  if (at) return at.toDate().getTime();
  const within = o.getDeadline();
  return within ? Date.now() + within.getSeconds() * 1000 + Math.floor(within.getNanos() / 1e6) : null;
}

// ---------------------------------------------------------------------------------------------------------
// The log

/** The node's ExpectedVersion constants (EventStore.Core.Data.ExpectedVersion). */
const NO_STREAM = -1n;
const ANY = -2n;
const STREAM_EXISTS = -4n;
/** EventNumber.DeletedStream: a tombstone's revision, and `$tb` of a soft-deleted stream. */
const DELETED = 0x7fff_ffff_ffff_ffffn;
/** A fresh node's log starts after its chunk header and epoch records; the exact figure does not matter. */
const FIRST_POSITION = 1_024n;
const TICKS_PER_MS = 10_000n;

export interface StoredEvent {
  streamName: string;
  id: string;
  type: string;
  contentType: string;
  data: Uint8Array;
  metadata: Uint8Array;
  revision: bigint;
  position: bigint;
  created: bigint;
}

export interface ProposedEvent {
  id: string;
  type: string;
  contentType: string;
  data: Uint8Array;
  metadata: Uint8Array;
}

type CommitResult =
  | { kind: 'written'; first: bigint; last: bigint; position: bigint }
  | { kind: 'idempotent'; last: bigint; position: bigint }
  | { kind: 'wrong_expected_version'; current: bigint }
  | { kind: 'deleted' };

interface StreamState {
  events: StoredEvent[]; // by revision (a tombstone is not in here)
  tombstone: StoredEvent | null;
}

export interface AllFilter {
  on: 'stream' | 'type';
  regex?: RegExp;
  prefixes?: string[];
}

type Subscriber = { after: bigint; stream?: string; filter?: AllFilter; send: (e: StoredEvent) => void };

const isMetaStream = (name: string) => name.startsWith('$$');

export class StandinLog {
  readonly all: StoredEvent[] = [];
  private readonly streams = new Map<string, StreamState>();
  /** id -> where it was last committed; insertion order is eviction order (the oldest goes first). */
  private readonly committedIds = new Map<string, { streamName: string; revision: bigint }>();
  private nextPosition = FIRST_POSITION;
  private readonly subscribers = new Set<Subscriber>();

  constructor(private readonly idempotencyCacheSize: number) {}

  private state(name: string): StreamState | undefined {
    return this.streams.get(name);
  }

  /** GetStreamLastEventNumber: -1 for none, DELETED once tombstoned. */
  lastRevision(name: string): bigint {
    const s = this.state(name);
    if (!s) return NO_STREAM;
    if (s.tombstone) return DELETED;
    return BigInt(s.events.length - 1);
  }

  /** `$tb` of the stream's metadata, or null. */
  truncateBefore(name: string): bigint | null {
    const meta = this.state(`$$${name}`)?.events.at(-1);
    if (!meta) return null;
    try {
      const tb = (JSON.parse(Buffer.from(meta.data).toString('utf8')) as Record<string, unknown>)['$tb'];
      if (typeof tb === 'number' && Number.isSafeInteger(tb)) return BigInt(tb);
      // JSON.parse rounds i64 max to 2^63; the node reads it as a long, so anything that large is "deleted".
      if (typeof tb === 'number' && tb >= 2 ** 63) return DELETED;
    } catch {
      // Unparsable metadata is empty metadata (the node: Helper.EatException(..., StreamMetadata.Empty)).
    }
    return null;
  }

  isSoftDeleted(name: string): boolean {
    return this.truncateBefore(name) === DELETED;
  }

  private rememberId(id: string, streamName: string, revision: bigint) {
    this.committedIds.delete(id);
    this.committedIds.set(id, { streamName, revision });
    while (this.committedIds.size > this.idempotencyCacheSize) {
      const oldest = this.committedIds.keys().next().value as string;
      this.committedIds.delete(oldest);
    }
  }

  /** Forget every cached id, as a node restart does (the cache is in memory only). */
  forgetCachedIds() {
    this.committedIds.clear();
  }

  private record(streamName: string, e: ProposedEvent, revision: bigint): StoredEvent {
    const stored: StoredEvent = {
      streamName,
      id: e.id,
      type: e.type,
      contentType: e.contentType,
      data: e.data,
      metadata: e.metadata,
      revision,
      position: this.nextPosition,
      created: BigInt(Date.now()) * TICKS_PER_MS,
    };
    // A prepare record's size: a fixed header plus its strings and payloads (roughly the node's V2 layout).
    this.nextPosition += BigInt(90 + Buffer.byteLength(streamName) + Buffer.byteLength(e.type) + e.data.length + e.metadata.length);
    this.all.push(stored);
    return stored;
  }

  private publish(events: StoredEvent[]) {
    for (const sub of [...this.subscribers]) for (const e of events) if (matches(sub, e)) sub.send(e);
  }

  /** IndexWriter.CheckCommit, then the write it allows. */
  append(streamName: string, expected: bigint, events: ProposedEvent[]): CommitResult {
    const cur = this.lastRevision(streamName);
    if (cur === DELETED) return { kind: 'deleted' };
    const s = this.state(streamName);
    const ids = events.map((e) => e.id);

    if (expected === STREAM_EXISTS) {
      if (this.isSoftDeleted(streamName)) return { kind: 'deleted' };
      if (cur < 0n && this.lastRevision(`$$${streamName}`) < 0n) return { kind: 'wrong_expected_version', current: cur };
    }

    if (expected === ANY || expected === STREAM_EXISTS) {
      let first = true;
      let end = -1n;
      for (const id of ids) {
        const info = this.committedIds.get(id);
        if (!info || info.streamName !== streamName) {
          if (first) return this.write(streamName, cur, events);
          return { kind: 'wrong_expected_version', current: cur }; // corrupted idempotency
        }
        end = info.revision;
        first = false;
      }
      if (first) return this.write(streamName, cur, events);
      return { kind: 'idempotent', last: end, position: s!.events[Number(end)]!.position };
    }

    if (expected < cur) {
      let n = expected;
      for (const id of ids) {
        n += 1n;
        const stored = s?.events[Number(n)];
        if (stored && stored.id === id) continue;
        if (n !== expected + 1n) return { kind: 'wrong_expected_version', current: cur }; // corrupted idempotency
        if (expected === NO_STREAM && this.isSoftDeleted(streamName)) return this.write(streamName, cur, events);
        return { kind: 'wrong_expected_version', current: cur };
      }
      if (n === expected) return { kind: 'wrong_expected_version', current: cur };
      return { kind: 'idempotent', last: n, position: s!.events[Number(n)]!.position };
    }

    if (expected > cur) return { kind: 'wrong_expected_version', current: cur };
    return this.write(streamName, cur, events);
  }

  private write(streamName: string, cur: bigint, events: ProposedEvent[]): CommitResult {
    const softDeleted = this.isSoftDeleted(streamName);
    let s = this.state(streamName);
    if (!s) {
      s = { events: [], tombstone: null };
      this.streams.set(streamName, s);
    }
    const written: StoredEvent[] = [];
    for (const e of events) {
      const stored = this.record(streamName, e, BigInt(s.events.length));
      s.events.push(stored);
      this.rememberId(e.id, streamName, stored.revision);
      written.push(stored);
    }
    const last = written.at(-1)!;
    // Writing to a soft-deleted stream undeletes it from here on: the events before stay hidden.
    if (softDeleted) written.push(...this.writeMetadata(streamName, { $tb: Number(cur + 1n) }));
    this.publish(written);
    return { kind: 'written', first: cur + 1n, last: last.revision, position: last.position };
  }

  private writeMetadata(streamName: string, patch: Record<string, unknown>, raw?: string): StoredEvent[] {
    const metaName = `$$${streamName}`;
    let meta = this.state(metaName);
    let current: Record<string, unknown> = {};
    const last = meta?.events.at(-1);
    if (last) {
      try {
        current = JSON.parse(Buffer.from(last.data).toString('utf8')) as Record<string, unknown>;
      } catch {
        current = {};
      }
    }
    if (!meta) {
      meta = { events: [], tombstone: null };
      this.streams.set(metaName, meta);
    }
    const json = raw ?? JSON.stringify({ ...current, ...patch });
    const stored = this.record(
      metaName,
      { id: randomUUID(), type: '$metadata', contentType: 'application/json', data: Buffer.from(json), metadata: new Uint8Array() },
      BigInt(meta.events.length),
    );
    meta.events.push(stored);
    return [stored];
  }

  /** Soft delete: `$tb` = i64 max in `$$name` (checked like an append of no events, on the stream's revision). */
  softDelete(streamName: string, expected: bigint): CommitResult {
    const cur = this.lastRevision(streamName);
    if (cur === DELETED) return { kind: 'deleted' };
    if (expected !== ANY && expected !== cur) return { kind: 'wrong_expected_version', current: cur };
    // The node writes the number as a long; JSON.stringify cannot write i64 max exactly, so it is spliced in.
    const current = this.state(`$$${streamName}`)?.events.at(-1);
    let rest = '';
    if (current) {
      try {
        const { $tb: _tb, ...others } = JSON.parse(Buffer.from(current.data).toString('utf8')) as Record<string, unknown>;
        rest = Object.keys(others).length ? `,${JSON.stringify(others).slice(1, -1)}` : '';
      } catch {
        rest = '';
      }
    }
    const [stored] = this.writeMetadata(streamName, {}, `{"$tb":${DELETED}${rest}}`);
    this.publish([stored!]);
    return { kind: 'written', first: cur, last: cur, position: stored!.position };
  }

  tombstone(streamName: string, expected: bigint): CommitResult {
    const cur = this.lastRevision(streamName);
    if (cur === DELETED) return { kind: 'deleted' };
    if (expected === STREAM_EXISTS ? cur < 0n : expected !== ANY && expected !== cur) {
      return { kind: 'wrong_expected_version', current: cur };
    }
    let s = this.state(streamName);
    if (!s) {
      s = { events: [], tombstone: null };
      this.streams.set(streamName, s);
    }
    s.tombstone = this.record(
      streamName,
      {
        id: randomUUID(),
        type: '$streamDeleted',
        contentType: 'application/octet-stream',
        data: new Uint8Array(),
        metadata: new Uint8Array(),
      },
      DELETED,
    );
    this.publish([s.tombstone]);
    return { kind: 'written', first: DELETED, last: DELETED, position: s.tombstone.position };
  }

  /** A system event the node writes on its own (stats, settings, ...). */
  writeSystemEvent(streamName: string, type: string, data: unknown = {}): StoredEvent {
    let s = this.state(streamName);
    if (!s) {
      s = { events: [], tombstone: null };
      this.streams.set(streamName, s);
    }
    const stored = this.record(
      streamName,
      { id: randomUUID(), type, contentType: 'application/json', data: Buffer.from(JSON.stringify(data)), metadata: new Uint8Array() },
      BigInt(s.events.length),
    );
    s.events.push(stored);
    this.publish([stored]);
    return stored;
  }

  readStream(
    streamName: string,
    from: bigint | 'start' | 'end',
    backwards: boolean,
    count: number,
  ): { kind: 'not_found' } | { kind: 'deleted' } | { kind: 'events'; events: StoredEvent[] } {
    const s = this.state(streamName);
    if (s?.tombstone) return { kind: 'deleted' };
    if (!s || s.events.length === 0) return { kind: 'not_found' };
    const tb = isMetaStream(streamName) ? null : this.truncateBefore(streamName);
    const floor = tb === null ? 0 : tb >= BigInt(s.events.length) ? s.events.length : Number(tb);
    if (floor >= s.events.length) return { kind: 'not_found' };
    const visible = s.events.slice(floor);
    const last = BigInt(s.events.length - 1);
    const out: StoredEvent[] = [];
    if (backwards) {
      let r = from === 'end' ? last : from === 'start' ? 0n : from > last ? last : from;
      for (; r >= BigInt(floor) && out.length < count; r--) out.push(s.events[Number(r)]!);
    } else {
      const start = from === 'start' ? BigInt(floor) : from === 'end' ? last + 1n : from < BigInt(floor) ? BigInt(floor) : from;
      for (const e of visible) if (e.revision >= start && out.length < count) out.push(e);
    }
    return { kind: 'events', events: out };
  }

  /** The index of the first event at or after `position` (the log is in position order). */
  private indexAt(position: bigint): number {
    let lo = 0;
    let hi = this.all.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.all[mid]!.position < position) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  readAll(from: bigint | 'start' | 'end', backwards: boolean, count: number, filter?: AllFilter): StoredEvent[] {
    const out: StoredEvent[] = [];
    if (backwards) {
      if (from === 'start') return out;
      for (let i = (from === 'end' ? this.all.length : this.indexAt(from)) - 1; i >= 0 && out.length < count; i--) {
        const e = this.all[i]!;
        if (!filter || filterMatches(filter, e)) out.push(e);
      }
      return out;
    }
    if (from === 'end') return out;
    for (let i = from === 'start' ? 0 : this.indexAt(from); i < this.all.length && out.length < count; i++) {
      const e = this.all[i]!;
      if (!filter || filterMatches(filter, e)) out.push(e);
    }
    return out;
  }

  /** Events after `after` (exclusive; -1n for all) now, then each new one as it is committed. */
  subscribe(sub: Subscriber): () => void {
    for (let i = this.indexAt(sub.after + 1n); i < this.all.length; i++) {
      const e = this.all[i]!;
      if (matches(sub, e)) sub.send(e);
    }
    this.subscribers.add(sub);
    return () => this.subscribers.delete(sub);
  }

  get headPosition(): bigint {
    return this.all.at(-1)?.position ?? -1n;
  }
}

function filterMatches(f: AllFilter, e: StoredEvent): boolean {
  const subject = f.on === 'stream' ? e.streamName : e.type;
  if (f.regex && f.regex.test(subject)) return true;
  if (f.prefixes?.some((p) => subject.startsWith(p))) return true;
  return false;
}

function matches(sub: Subscriber, e: StoredEvent): boolean {
  if (sub.stream !== undefined) return e.streamName === sub.stream && e.revision !== DELETED;
  return !sub.filter || filterMatches(sub.filter, e);
}

// ---------------------------------------------------------------------------------------------------------
// gRPC

export interface StandinOptions {
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Entries in the recently-committed-ids cache that `any` / `stream_exists` idempotency relies on. */
  idempotencyCacheSize?: number;
  /** Writes a `$statsCollected` event to `$stats-<host>:<port>` this often, as a node does (its default: 30 s). */
  statsIntervalMs?: number;
  /** Leave BatchAppend out of the server features, so the client uses the unary Append. */
  batchAppend?: boolean;
  serverVersion?: string;
}

export interface EsdbStandin {
  /** A single-node connection string, without TLS. */
  readonly url: string;
  readonly port: number;
  readonly log: StandinLog;
  /** Closes the port and every open call; new connections are refused until `comeBack()`. */
  goUnavailable(): Promise<void>;
  /** Listens again on the same port, with the log as it was (`log.forgetCachedIds()` makes it a restart). */
  comeBack(): Promise<void>;
  /** The next `n` appends are committed, then their call fails UNAVAILABLE instead of answering. */
  loseRepliesAfterCommit(n?: number): void;
  /** Appends (BatchAppend or Append) to `streamName` are held, neither committed nor answered, until `release`. */
  hold(streamName: string): void;
  /** How many requests to `streamName` are held. */
  held(streamName: string): number;
  /** Commits the held requests of `streamName`, answering them or (reply: false) not. */
  release(streamName: string, options?: { reply?: boolean }): void;
  /** Events sent in answer to reads (of a stream or `$all`, not subscriptions) so far: what reads cost the node. */
  eventsServed(): number;
  /** Calls are accepted and never answered (a hung node) until `unstall()`. */
  stall(): void;
  unstall(): void;
  stop(): Promise<void>;
}

function uuidOf(id: InstanceType<typeof sharedPb.UUID> | undefined): string {
  if (!id) return randomUUID();
  if (id.hasStructured()) {
    const s = id.getStructured()!;
    const buf = Buffer.alloc(16);
    buf.writeBigInt64BE(BigInt(s.getMostSignificantBits()), 0);
    buf.writeBigInt64BE(BigInt(s.getLeastSignificantBits()), 8);
    const h = buf.toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  return id.getString().toLowerCase();
}

function uuidMessage(id: string) {
  const u = new sharedPb.UUID();
  u.setString(id);
  return u;
}

function streamIdentifier(name: string) {
  const s = new sharedPb.StreamIdentifier();
  s.setStreamName(Buffer.from(name, 'utf8'));
  return s;
}

const nameOf = (s: InstanceType<typeof sharedPb.StreamIdentifier> | undefined) =>
  Buffer.from(s?.getStreamName_asU8() ?? new Uint8Array()).toString('utf8');

type Proposed = InstanceType<typeof streamsPb.AppendReq.ProposedMessage> | InstanceType<typeof streamsPb.BatchAppendReq.ProposedMessage>;

function toProposed(m: Proposed): ProposedEvent {
  const meta = m.getMetadataMap();
  return {
    id: uuidOf(m.getId()),
    type: meta.get('type') ?? '',
    contentType: meta.get('content-type') ?? 'application/octet-stream',
    data: m.getData_asU8(),
    metadata: m.getCustomMetadata_asU8(),
  };
}

function recordedEvent(e: StoredEvent) {
  const r = new streamsPb.ReadResp.ReadEvent.RecordedEvent();
  r.setId(uuidMessage(e.id));
  r.setStreamIdentifier(streamIdentifier(e.streamName));
  r.setStreamRevision(e.revision.toString());
  r.setPreparePosition(e.position.toString());
  r.setCommitPosition(e.position.toString());
  r.getMetadataMap().set('type', e.type);
  r.getMetadataMap().set('content-type', e.contentType);
  r.getMetadataMap().set('created', e.created.toString());
  r.setCustomMetadata(e.metadata);
  r.setData(e.data);
  const read = new streamsPb.ReadResp.ReadEvent();
  read.setEvent(r);
  read.setCommitPosition(e.position.toString());
  const resp = new streamsPb.ReadResp();
  resp.setEvent(read);
  return resp;
}

/** A gRPC error as the node raises it: the client reads the kind from the `exception` trailer. */
function commandError(code: number, exception: string, details: string, trailers: Record<string, string> = {}) {
  const metadata = new grpc.Metadata();
  metadata.set('exception', exception);
  for (const [k, v] of Object.entries(trailers)) metadata.set(k, v);
  return Object.assign(new Error(details), { code, details, metadata });
}

const streamDeletedError = (name: string) =>
  commandError(grpc.status.FAILED_PRECONDITION, 'stream-deleted', `Event stream '${name}' is deleted.`, { 'stream-name': name });

function wrongExpectedVersionError(name: string, expected: bigint, current: bigint) {
  return commandError(grpc.status.FAILED_PRECONDITION, 'wrong-expected-version', `Append failed due to WrongExpectedVersion.`, {
    'stream-name': name,
    'expected-version': expected.toString(),
    ...(current >= 0n ? { 'actual-version': current.toString() } : {}),
  });
}

function expectedOf(
  o: {
    hasAny(): boolean;
    hasNoStream(): boolean;
    hasStreamExists?(): boolean;
  },
  exact: () => string,
): bigint {
  if (o.hasAny()) return ANY;
  if (o.hasNoStream()) return NO_STREAM;
  if (o.hasStreamExists?.()) return STREAM_EXISTS;
  return BigInt(exact());
}

function parseFilter(o: InstanceType<typeof streamsPb.ReadReq.Options>): AllFilter | undefined {
  if (!o.hasFilter()) return undefined;
  const f = o.getFilter()!;
  const expr = f.hasStreamIdentifier() ? f.getStreamIdentifier()! : f.getEventType()!;
  const regex = expr.getRegex();
  const prefixes = expr.getPrefixList();
  return {
    on: f.hasStreamIdentifier() ? 'stream' : 'type',
    ...(regex ? { regex: new RegExp(regex) } : {}),
    ...(prefixes.length ? { prefixes } : {}),
  };
}

export async function startEsdbStandin(options: StandinOptions = {}): Promise<EsdbStandin> {
  const host = options.host ?? '127.0.0.1';
  const log = new StandinLog(options.idempotencyCacheSize ?? 100_000);
  let stalling = false;
  let repliesToLose = 0;
  let served = 0;
  /** Streams whose BatchAppend requests are held (not committed) until released. */
  const holding = new Map<string, ((reply: boolean) => void)[]>();
  /** After a commit: true when its reply is to be lost (the call then fails as if the connection dropped). */
  const loseReply = () => {
    if (repliesToLose <= 0) return false;
    repliesToLose--;
    return true;
  };
  const dropped = () => commandError(grpc.status.UNAVAILABLE, 'unavailable', 'Connection dropped (stand-in: reply lost after commit)');
  let port = options.port ?? 0;

  // What a fresh node has written before anyone connects.
  log.writeSystemEvent('$epoch-information', '$epoch-information', { epochNumber: 0 });
  log.writeSystemEvent('$settings', '$settings', { $userStreamAcl: {}, $systemStreamAcl: {} });
  log.writeSystemEvent('$users', '$User', 'admin');
  log.writeSystemEvent('$user-admin', '$user', { loginName: 'admin', fullName: 'Event Store Administrator' });

  /** While stalling a call is left unanswered; the client's deadline or cancellation ends it. */
  const parked = (_call: unknown): boolean => stalling;

  function features(
    _call: import('@grpc/grpc-js').ServerUnaryCall<unknown, unknown>,
    callback: import('@grpc/grpc-js').sendUnaryData<unknown>,
  ) {
    if (parked(_call)) return;
    const methods = new featuresPb.SupportedMethods();
    const streamMethods = ['read', 'append', 'delete', 'tombstone', ...(options.batchAppend === false ? [] : ['batchappend'])];
    methods.setMethodsList(
      [
        ...streamMethods.map((m) => ['event_store.client.streams.streams', m] as const),
        ['event_store.client.server_features.serverfeatures', 'getsupportedmethods'] as const,
      ].map(([service, method]) => {
        const m = new featuresPb.SupportedMethod();
        m.setServiceName(service);
        m.setMethodName(method);
        if (method === 'read') m.setFeaturesList(['position', 'events']);
        return m;
      }),
    );
    methods.setEventStoreServerVersion(options.serverVersion ?? '23.10.0 (stand-in)');
    callback(null, methods);
  }

  function read(call: ServerCall) {
    if (parked(call)) return;
    const o = call.request.getOptions();
    if (!o) return call.emit('error', commandError(grpc.status.INVALID_ARGUMENT, 'invalid-argument', 'no options'));
    const backwards = o.getReadDirection() === streamsPb.ReadReq.Options.ReadDirection.BACKWARDS;
    const count = o.hasCount() ? Number(BigInt(o.getCount())) : Number.MAX_SAFE_INTEGER;
    const filter = parseFilter(o);

    if (o.hasSubscription()) {
      const confirmation = new streamsPb.ReadResp();
      const c = new streamsPb.ReadResp.SubscriptionConfirmation();
      c.setSubscriptionId(randomUUID());
      confirmation.setConfirmation(c);
      call.write(confirmation);
      let after: bigint;
      let stream: string | undefined;
      if (o.hasStream()) {
        const so = o.getStream()!;
        stream = nameOf(so.getStreamIdentifier());
        if (log.lastRevision(stream) === DELETED) return call.emit('error', streamDeletedError(stream));
        // A stream subscription starts after a revision; map it to a log position (exclusive).
        const from = so.hasStart() ? -1n : so.hasEnd() ? log.headPosition : BigInt(so.getRevision());
        after =
          so.hasStart() || so.hasEnd()
            ? from
            : (log.all.find((e) => e.streamName === stream && e.revision === from)?.position ?? log.headPosition);
      } else {
        const ao = o.getAll()!;
        after = ao.hasStart() ? -1n : ao.hasEnd() ? log.headPosition : BigInt(ao.getPosition()!.getCommitPosition());
      }
      const unsubscribe = log.subscribe({
        after,
        ...(stream !== undefined ? { stream } : {}),
        ...(filter ? { filter } : {}),
        send: (e) => call.write(recordedEvent(e)),
      });
      const caughtUp = new streamsPb.ReadResp();
      caughtUp.setCaughtUp(new streamsPb.ReadResp.CaughtUp());
      call.write(caughtUp);
      call.on('cancelled', unsubscribe);
      call.on('close', unsubscribe);
      return;
    }

    if (o.hasStream()) {
      const so = o.getStream()!;
      const name = nameOf(so.getStreamIdentifier());
      const from = so.hasStart() ? 'start' : so.hasEnd() ? 'end' : BigInt(so.getRevision());
      const result = log.readStream(name, from, backwards, count);
      if (result.kind === 'deleted') return call.emit('error', streamDeletedError(name));
      if (result.kind === 'not_found') {
        const resp = new streamsPb.ReadResp();
        const nf = new streamsPb.ReadResp.StreamNotFound();
        nf.setStreamIdentifier(streamIdentifier(name));
        resp.setStreamNotFound(nf);
        call.write(resp);
        return call.end();
      }
      for (const e of result.events) call.write(recordedEvent(e));
      served += result.events.length;
      return call.end();
    }
    const ao = o.getAll()!;
    const from = ao.hasStart() ? 'start' : ao.hasEnd() ? 'end' : BigInt(ao.getPosition()!.getCommitPosition());
    for (const e of log.readAll(from, backwards, count, filter)) {
      call.write(recordedEvent(e));
      served++;
    }
    call.end();
  }

  function append(
    call: import('@grpc/grpc-js').ServerReadableStream<InstanceType<typeof streamsPb.AppendReq>, unknown>,
    callback: import('@grpc/grpc-js').sendUnaryData<unknown>,
  ) {
    if (parked(call)) return;
    let name = '';
    let expected = ANY;
    const events: ProposedEvent[] = [];
    call.on('data', (req: InstanceType<typeof streamsPb.AppendReq>) => {
      if (req.hasOptions()) {
        const o = req.getOptions()!;
        name = nameOf(o.getStreamIdentifier());
        expected = expectedOf(o, () => o.getRevision());
      } else if (req.hasProposedMessage()) {
        events.push(toProposed(req.getProposedMessage()!));
      }
    });
    call.on('end', () => {
      if (stalling) return;
      const held = holding.get(name);
      if (held) return held.push((reply) => commit(reply));
      commit(true);
    });

    function commit(reply: boolean) {
      const result = log.append(name, expected, events);
      if (!reply) return; // committed; the call stays open until the client gives up on it
      if (loseReply()) return callback(dropped());
      const resp = new streamsPb.AppendResp();
      if (result.kind === 'deleted') return callback(streamDeletedError(name));
      if (result.kind === 'wrong_expected_version') {
        const w = new streamsPb.AppendResp.WrongExpectedVersion();
        if (result.current >= 0n) w.setCurrentRevision(result.current.toString());
        else w.setCurrentNoStream(new sharedPb.Empty());
        if (expected === ANY) w.setExpectedAny(new sharedPb.Empty());
        else if (expected === NO_STREAM) w.setExpectedNoStream(new sharedPb.Empty());
        else if (expected === STREAM_EXISTS) w.setExpectedStreamExists(new sharedPb.Empty());
        else w.setExpectedRevision(expected.toString());
        resp.setWrongExpectedVersion(w);
        return callback(null, resp);
      }
      const success = new streamsPb.AppendResp.Success();
      success.setCurrentRevision(result.last.toString());
      const p = new streamsPb.AppendResp.Position();
      p.setCommitPosition(result.position.toString());
      p.setPreparePosition(result.position.toString());
      success.setPosition(p);
      resp.setSuccess(success);
      callback(null, resp);
    }
  }

  function batchAppend(
    call: import('@grpc/grpc-js').ServerDuplexStream<
      InstanceType<typeof streamsPb.BatchAppendReq>,
      InstanceType<typeof streamsPb.BatchAppendResp>
    >,
  ) {
    const pending = new Map<string, { name: string; expected: bigint; deadline: number | null; events: ProposedEvent[] }>();
    call.on('data', (req: InstanceType<typeof streamsPb.BatchAppendReq>) => {
      if (stalling) return; // a hung node: the request is never answered
      const correlation = uuidOf(req.getCorrelationId());
      let p = pending.get(correlation);
      if (!p) {
        const o = req.getOptions();
        p = {
          name: nameOf(o?.getStreamIdentifier()),
          expected: o ? expectedOf(o, () => o.getStreamPosition()) : ANY,
          deadline: o ? batchDeadline(o) : null,
          events: [],
        };
        pending.set(correlation, p);
      }
      p.events.push(...req.getProposedMessagesList().map(toProposed));
      if (!req.getIsFinal()) return;
      pending.delete(correlation);
      const append = p;
      const held = holding.get(append.name);
      if (held) return held.push((reply) => commit(append, correlation, reply));
      commit(append, correlation, true);
    });
    call.on('end', () => call.end());

    function commit(
      p: { name: string; expected: bigint; deadline: number | null; events: ProposedEvent[] },
      correlation: string,
      reply: boolean,
    ) {
      const resp = new streamsPb.BatchAppendResp();
      resp.setCorrelationId(uuidMessage(correlation));
      resp.setStreamIdentifier(streamIdentifier(p.name));
      if (p.expected === ANY) resp.setAny(new emptyPb.Empty());
      else if (p.expected === NO_STREAM) resp.setNoStream(new emptyPb.Empty());
      else if (p.expected === STREAM_EXISTS) resp.setStreamExists(new emptyPb.Empty());
      else resp.setStreamPosition(p.expected.toString());

      const fail = (code: number, message: string, typeName: string, details: { serializeBinary(): Uint8Array }) => {
        const status = new statusPb.Status();
        status.setCode(code);
        status.setMessage(message);
        const any = new anyPb.Any();
        any.pack(details.serializeBinary(), typeName);
        status.setDetails(any);
        resp.setError(status);
        if (reply) call.write(resp);
      };
      if (p.deadline !== null && Date.now() > p.deadline) {
        return fail(grpc.status.DEADLINE_EXCEEDED, 'Timeout', 'event_store.client.Timeout', new sharedPb.Timeout());
      }
      const result = log.append(p.name, p.expected, p.events);
      // The whole bidi stream fails, as when the connection drops: every append in flight on it loses its reply.
      if (loseReply()) return call.emit('error', dropped());
      if (result.kind === 'deleted') {
        const d = new sharedPb.StreamDeleted();
        d.setStreamIdentifier(streamIdentifier(p.name));
        return fail(grpc.status.FAILED_PRECONDITION, `Event stream '${p.name}' is deleted.`, 'event_store.client.StreamDeleted', d);
      }
      if (result.kind === 'wrong_expected_version') {
        const w = new sharedPb.WrongExpectedVersion();
        if (result.current >= 0n) w.setCurrentStreamRevision(result.current.toString());
        else w.setCurrentNoStream(new emptyPb.Empty());
        if (p.expected === ANY) w.setExpectedAny(new emptyPb.Empty());
        else if (p.expected === NO_STREAM) w.setExpectedNoStream(new emptyPb.Empty());
        else if (p.expected === STREAM_EXISTS) w.setExpectedStreamExists(new emptyPb.Empty());
        else w.setExpectedStreamPosition(p.expected.toString());
        return fail(grpc.status.FAILED_PRECONDITION, 'WrongExpectedVersion', 'event_store.client.WrongExpectedVersion', w);
      }
      const success = new streamsPb.BatchAppendResp.Success();
      success.setCurrentRevision(result.last.toString());
      const pos = new sharedPb.AllStreamPosition();
      pos.setCommitPosition(result.position.toString());
      pos.setPreparePosition(result.position.toString());
      success.setPosition(pos);
      resp.setSuccess(success);
      if (reply) call.write(resp);
    }
  }

  function deleteLike(kind: 'delete' | 'tombstone') {
    return (
      call: import('@grpc/grpc-js').ServerUnaryCall<
        InstanceType<typeof streamsPb.DeleteReq> | InstanceType<typeof streamsPb.TombstoneReq>,
        unknown
      >,
      callback: import('@grpc/grpc-js').sendUnaryData<unknown>,
    ) => {
      if (parked(call)) return;
      const o = call.request.getOptions()!;
      const name = nameOf(o.getStreamIdentifier());
      const expected = expectedOf(o as { hasAny(): boolean; hasNoStream(): boolean; hasStreamExists?(): boolean }, () => o.getRevision());
      const result = kind === 'delete' ? log.softDelete(name, expected) : log.tombstone(name, expected);
      if (result.kind === 'deleted') return callback(streamDeletedError(name));
      if (result.kind === 'wrong_expected_version') return callback(wrongExpectedVersionError(name, expected, result.current));
      if (result.kind !== 'written') return callback(commandError(grpc.status.UNKNOWN, 'unknown', 'unexpected'));
      const Resp = kind === 'delete' ? streamsPb.DeleteResp : streamsPb.TombstoneResp;
      const resp = new Resp();
      const pos = new Resp.Position();
      pos.setCommitPosition(result.position.toString());
      pos.setPreparePosition(result.position.toString());
      resp.setPosition(pos);
      callback(null, resp);
    };
  }

  const implementation = {
    read,
    append,
    batchAppend,
    delete: deleteLike('delete'),
    tombstone: deleteLike('tombstone'),
  };

  // The gRPC server listens on a port of its own; clients reach it through a TCP relay on the public port, so an
  // outage can drop connections the way a crash or a network cut does (a reset socket, then refused
  // connections), which a gRPC server shutdown does not (it cancels each call cleanly).
  const grpcServer = new grpc.Server();
  grpcServer.addService(streamsGrpc.StreamsService, implementation as unknown as import('@grpc/grpc-js').UntypedServiceImplementation);
  grpcServer.addService(featuresGrpc.ServerFeaturesService, {
    getSupportedMethods: features,
  } as unknown as import('@grpc/grpc-js').UntypedServiceImplementation);
  const innerPort = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  const sockets = new Set<Socket>();
  let relay: NetServer | null = null;

  async function listen(): Promise<void> {
    const r = createServer((client) => {
      const upstream = connect(innerPort, host);
      for (const sock of [client, upstream]) {
        sock.setNoDelay(true); // Nagle on a relay adds a round of delayed ACKs to every small gRPC frame
        sockets.add(sock);
        sock.on('close', () => sockets.delete(sock));
        sock.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      r.once('error', reject);
      r.listen(port, host, () => resolve());
    });
    port = (r.address() as AddressInfo).port;
    relay = r;
  }

  async function cut(): Promise<void> {
    const r = relay;
    relay = null;
    for (const sock of sockets) sock.resetAndDestroy();
    sockets.clear();
    if (r) await new Promise<void>((resolve) => r.close(() => resolve()));
  }

  await listen();

  let stats: NodeJS.Timeout | null = null;
  if (options.statsIntervalMs) {
    stats = setInterval(() => {
      if (relay) log.writeSystemEvent(`$stats-${host}:${port}`, '$statsCollected', { 'proc-cpu': 0 });
    }, options.statsIntervalMs);
    stats.unref();
  }

  return {
    get url() {
      return `kurrentdb://${host}:${port}?tls=false`;
    },
    get port() {
      return port;
    },
    log,
    async goUnavailable() {
      await cut();
    },
    async comeBack() {
      if (!relay) await listen();
    },
    loseRepliesAfterCommit(n = 1) {
      repliesToLose = n;
    },
    hold(streamName) {
      if (!holding.has(streamName)) holding.set(streamName, []);
    },
    held(streamName) {
      return holding.get(streamName)?.length ?? 0;
    },
    release(streamName, { reply = true } = {}) {
      const held = holding.get(streamName) ?? [];
      holding.delete(streamName);
      for (const commit of held) commit(reply);
    },
    eventsServed() {
      return served;
    },
    stall() {
      stalling = true;
    },
    unstall() {
      stalling = false;
    },
    async stop() {
      if (stats) clearInterval(stats);
      await cut();
      grpcServer.forceShutdown();
    },
  };
}

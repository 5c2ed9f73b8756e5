-- The event store on PostgreSQL / PGlite.
-- Global order is (txid, position). Readers only read below a horizon: the oldest transaction that may still
-- insert events (see crm_es_read_horizon), so an event whose transaction commits late is never skipped (a
-- plain sequence high-water mark would skip it).

CREATE TABLE crm_es_streams (
  stream_name text PRIMARY KEY,
  revision bigint NOT NULL,
  -- The transaction that wrote the stream last. A transaction whose id is older must not write after it:
  -- its events would come before the newer ones in (txid, position) order, against the stream's revisions.
  last_txid xid8 NOT NULL DEFAULT pg_current_xact_id()
);

CREATE TABLE crm_es_events (
  position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  event_id uuid NOT NULL UNIQUE,
  stream_name text NOT NULL,
  revision bigint NOT NULL,
  type text NOT NULL,
  data jsonb NOT NULL,
  metadata jsonb NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (stream_name, revision)
);

CREATE INDEX crm_es_events_global_order ON crm_es_events (txid, position);

-- One round trip for a batch of appends (group commit: concurrent appends of one process share a
-- transaction). Each item is decided on its own, in order, exactly as if appended alone; callers sort items
-- by stream so that concurrent batches lock stream rows in one order and cannot deadlock.
-- One row per item:
--   status 'ok' | 'duplicate' | 'conflict' | 'idempotency_conflict'
--   actual: the stream's revision (-1: no stream), for conflicts
CREATE FUNCTION crm_es_append_batch(
  p_streams text[], p_expected text[], p_counts integer[],
  p_ids uuid[], p_types text[], p_data jsonb[], p_meta jsonb[]
) RETURNS TABLE (item integer, status text, last_revision bigint, commit_id text, last_position bigint, actual bigint)
LANGUAGE plpgsql AS $$
DECLARE
  off integer := 0;
  n integer;
  ids uuid[];
  stream text;
  expected text;
  cur bigint;
  prev_txid xid8;
  exists_now boolean;
  found_any integer;
  found_here integer;
BEGIN
  -- Before this transaction gets an id: from now until it ends, readers see it in pg_locks as an appender.
  LOCK TABLE crm_es_events IN ROW EXCLUSIVE MODE;
  FOR i IN 1 .. cardinality(p_streams) LOOP
    item := i;
    n := p_counts[i];
    stream := p_streams[i];
    expected := p_expected[i];
    ids := p_ids[off + 1 : off + n];
    status := NULL;
    last_revision := NULL; commit_id := NULL; last_position := NULL; actual := NULL;

    FOR attempt IN 1 .. 2 LOOP
      -- An append is applied at most once per event id: a retried request returns the first result.
      SELECT count(*), count(*) FILTER (WHERE e.stream_name = stream),
             max(e.revision), max(e.txid::text), max(e.position)
        INTO found_any, found_here, last_revision, commit_id, last_position
        FROM crm_es_events e WHERE e.event_id = ANY (ids);
      IF found_here = n THEN
        status := 'duplicate';
      ELSIF found_any > 0 THEN
        status := 'idempotency_conflict';
        last_revision := NULL; commit_id := NULL; last_position := NULL;
      END IF;
      EXIT WHEN status IS NOT NULL OR attempt = 2;

      SELECT s.revision, s.last_txid INTO cur, prev_txid FROM crm_es_streams s WHERE s.stream_name = stream FOR UPDATE;
      exists_now := FOUND;
      IF exists_now AND prev_txid > pg_current_xact_id() THEN
        -- Only a transaction that touched another stream first can hold an id older than the last writer's:
        -- the caller retries the append in a fresh transaction.
        RAISE EXCEPTION 'crm_es_out_of_order' USING ERRCODE = '40001';
      END IF;

      IF (expected = 'no_stream' AND exists_now)
         OR (expected = 'stream_exists' AND NOT exists_now)
         OR (expected NOT IN ('no_stream', 'stream_exists', 'any') AND (NOT exists_now OR cur <> expected::bigint)) THEN
        CONTINUE; -- a conflict, unless this very append committed concurrently: the second look tells
      END IF;

      IF exists_now THEN
        UPDATE crm_es_streams s SET revision = s.revision + n, last_txid = pg_current_xact_id()
          WHERE s.stream_name = stream RETURNING s.revision INTO cur;
      ELSE
        INSERT INTO crm_es_streams AS s (stream_name, revision) VALUES (stream, n - 1)
          ON CONFLICT (stream_name) DO NOTHING RETURNING s.revision INTO cur;
        IF cur IS NULL THEN
          -- Created concurrently: 'no_stream' has lost; anything else decides again on the new row.
          IF expected = 'no_stream' THEN CONTINUE; END IF;
          RAISE EXCEPTION 'crm_es_created_concurrently' USING ERRCODE = '40001';
        END IF;
      END IF;

      WITH ins AS (
        INSERT INTO crm_es_events (event_id, stream_name, revision, type, data, metadata)
          SELECT u.id, stream, cur - n + u.ord, u.type, u.data, u.meta
            FROM unnest(ids, p_types[off + 1 : off + n], p_data[off + 1 : off + n], p_meta[off + 1 : off + n])
                 WITH ORDINALITY AS u(id, type, data, meta, ord)
          RETURNING crm_es_events.position
      ) SELECT max(ins.position) INTO last_position FROM ins;
      status := 'ok';
      last_revision := cur;
      commit_id := pg_current_xact_id()::text;
      EXIT;
    END LOOP;

    IF status IS NULL THEN
      status := 'conflict';
      SELECT coalesce(max(s.revision), -1) INTO actual FROM crm_es_streams s WHERE s.stream_name = stream;
    END IF;
    RETURN NEXT;
    off := off + n;
  END LOOP;
END
$$;

-- The read horizon: every event with a txid below it is committed or will never exist. It is the oldest
-- in-progress transaction of the snapshot whose backend holds crm_es_events' append lock (taken before an
-- appender has a transaction id), or the snapshot's xmax. Transactions that do not append (in this schema,
-- or in other databases) do not hold readers back, as pg_snapshot_xmin would. The holders' transaction ids
-- come from pg_stat_activity.backend_xid, which PostgreSQL publishes as it assigns the id (before the id's
-- own lock appears in pg_locks). Readers must see the appenders' sessions: run the service as one role.
-- Call it in its own statement, before the read it bounds.
CREATE FUNCTION crm_es_read_horizon() RETURNS xid8 LANGUAGE sql STABLE AS $$
  WITH snap AS (SELECT pg_current_snapshot() AS s),
  appenders AS (
    SELECT DISTINCT a.backend_xid::text::numeric AS x
      FROM pg_locks l
      JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'relation' AND l.relation = 'crm_es_events'::regclass AND l.mode = 'RowExclusiveLock'
       AND a.backend_xid IS NOT NULL
  )
  SELECT least(
    pg_snapshot_xmax(snap.s),
    (SELECT min(x8) FROM pg_snapshot_xip(snap.s) AS x8 WHERE (x8::text::numeric % 4294967296) IN (SELECT x FROM appenders))
  ) FROM snap
$$;

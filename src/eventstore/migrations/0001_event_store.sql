-- The event store on PostgreSQL / PGlite.
-- Global order is (txid, position): readers only read below pg_snapshot_xmin, so an event whose
-- transaction commits late is never skipped (a plain sequence high-water mark would skip it).

CREATE TABLE crm_es_streams (
  stream_name text PRIMARY KEY,
  revision bigint NOT NULL
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
  found_any integer;
  found_here integer;
BEGIN
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

      cur := NULL;
      IF expected = 'no_stream' THEN
        INSERT INTO crm_es_streams AS s (stream_name, revision) VALUES (stream, n - 1)
          ON CONFLICT (stream_name) DO NOTHING RETURNING s.revision INTO cur;
      ELSIF expected = 'stream_exists' THEN
        UPDATE crm_es_streams s SET revision = s.revision + n WHERE s.stream_name = stream RETURNING s.revision INTO cur;
      ELSIF expected = 'any' THEN
        INSERT INTO crm_es_streams AS s (stream_name, revision) VALUES (stream, n - 1)
          ON CONFLICT (stream_name) DO UPDATE SET revision = s.revision + n RETURNING s.revision INTO cur;
      ELSE
        UPDATE crm_es_streams s SET revision = s.revision + n
          WHERE s.stream_name = stream AND s.revision = expected::bigint RETURNING s.revision INTO cur;
      END IF;

      IF cur IS NOT NULL THEN
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
      END IF;
      -- Otherwise the expectation failed, perhaps because this very append committed concurrently (a retry
      -- racing its original): the row lock we waited on makes that commit visible to the second look.
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

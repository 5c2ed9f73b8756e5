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

-- One round trip per append. Returns one row:
--   status 'ok' | 'duplicate' | 'conflict' | 'idempotency_conflict'
--   actual: the stream's revision before the append (-1: no stream), for conflicts
CREATE FUNCTION crm_es_append(
  p_stream text, p_expected text, p_ids uuid[], p_types text[], p_data jsonb[], p_meta jsonb[]
) RETURNS TABLE (status text, last_revision bigint, commit_id text, last_position bigint, actual bigint)
LANGUAGE plpgsql AS $$
DECLARE
  n integer := cardinality(p_ids);
  cur bigint;
  pos bigint;
  dup_count integer;
  dup_last bigint;
  dup_commit text;
  dup_pos bigint;
BEGIN
  -- An append is applied at most once per event id: a retried request returns the first result.
  FOR attempt IN 1..2 LOOP
    SELECT count(*), max(e.revision), max(e.txid::text), max(e.position)
      INTO dup_count, dup_last, dup_commit, dup_pos
      FROM crm_es_events e WHERE e.event_id = ANY (p_ids) AND e.stream_name = p_stream;
    IF dup_count = n THEN
      RETURN QUERY SELECT 'duplicate'::text, dup_last, dup_commit, dup_pos, NULL::bigint;
      RETURN;
    ELSIF dup_count > 0 OR EXISTS (SELECT 1 FROM crm_es_events e WHERE e.event_id = ANY (p_ids)) THEN
      RETURN QUERY SELECT 'idempotency_conflict'::text, NULL::bigint, NULL::text, NULL::bigint, NULL::bigint;
      RETURN;
    END IF;
    EXIT WHEN attempt = 2;

    IF p_expected = 'no_stream' THEN
      INSERT INTO crm_es_streams AS s (stream_name, revision) VALUES (p_stream, n - 1)
        ON CONFLICT (stream_name) DO NOTHING RETURNING s.revision INTO cur;
    ELSIF p_expected = 'stream_exists' THEN
      UPDATE crm_es_streams s SET revision = s.revision + n WHERE s.stream_name = p_stream RETURNING s.revision INTO cur;
    ELSIF p_expected = 'any' THEN
      INSERT INTO crm_es_streams AS s (stream_name, revision) VALUES (p_stream, n - 1)
        ON CONFLICT (stream_name) DO UPDATE SET revision = s.revision + n RETURNING s.revision INTO cur;
    ELSE
      UPDATE crm_es_streams s SET revision = s.revision + n
        WHERE s.stream_name = p_stream AND s.revision = p_expected::bigint RETURNING s.revision INTO cur;
    END IF;

    IF cur IS NOT NULL THEN
      WITH ins AS (
        INSERT INTO crm_es_events (event_id, stream_name, revision, type, data, metadata)
          SELECT u.id, p_stream, cur - n + u.ord, u.type, u.data, u.meta
          FROM unnest(p_ids, p_types, p_data, p_meta) WITH ORDINALITY AS u(id, type, data, meta, ord)
          RETURNING crm_es_events.position
      ) SELECT max(ins.position) INTO pos FROM ins;
      RETURN QUERY SELECT 'ok'::text, cur, pg_current_xact_id()::text, pos, NULL::bigint;
      RETURN;
    END IF;
    -- The expectation failed. It may have failed because this very append committed concurrently
    -- (a retry racing its original): the row lock we waited on makes that commit visible to the re-check.
  END LOOP;
  SELECT s.revision INTO cur FROM crm_es_streams s WHERE s.stream_name = p_stream;
  RETURN QUERY SELECT 'conflict'::text, NULL::bigint, NULL::text, NULL::bigint, coalesce(cur, -1);
END
$$;

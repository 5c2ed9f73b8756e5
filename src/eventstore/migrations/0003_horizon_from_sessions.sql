-- The read horizon without pg_locks. Reading pg_locks takes every lock-manager partition lock and each
-- backend's fast-path lock in turn: milliseconds per call under load, and it stalls the very appenders it
-- looks for. Appenders are now recognised by what they run: their session's current (or last) statement calls
-- crm_es_append_batch. A session reports its statement before the statement runs, so before the appender has a
-- transaction id; and the horizon reads the sessions after its snapshot was taken (the function runs on the
-- calling statement's snapshot). So an appender in the snapshot's in-progress list always shows as one.
-- Sessions of this database appending in other schemas hold the horizon back too: conservative, never wrong.
-- The adapter writes the function's name in the statement's first bytes (`SELECT * FROM crm_es_append_batch(`)
-- and refuses to start unless track_activities is on and track_activity_query_size keeps those bytes. Should
-- the reader's own session have track_activities off, the horizon is the snapshot's xmin, which counts every
-- running transaction (slower readers, never a skipped event).
CREATE OR REPLACE FUNCTION crm_es_read_horizon() RETURNS xid8 LANGUAGE sql STABLE AS $$
  WITH snap AS (SELECT pg_current_snapshot() AS s),
  appenders AS (
    SELECT DISTINCT a.backend_xid::text::numeric AS x
      FROM pg_stat_activity a
     WHERE a.datname = current_database()
       AND a.backend_xid IS NOT NULL
       AND a.query LIKE '%crm_es_append_batch(%'
  )
  SELECT CASE
    WHEN current_setting('track_activities')::boolean THEN least(
      pg_snapshot_xmax(snap.s),
      (SELECT min(x8) FROM pg_snapshot_xip(snap.s) AS x8 WHERE (x8::text::numeric % 4294967296) IN (SELECT x FROM appenders))
    )
    ELSE pg_snapshot_xmin(snap.s)
  END FROM snap
$$;

-- The read horizon of 0003, same rule, cheaper to run: as a LANGUAGE sql function with a CTE it was planned
-- afresh on every call (the pg_stat_activity view joins pg_database and pg_authid), about 0.45 ms of server
-- CPU per call. As plpgsql its query plan is cached per session, and it reads pg_stat_get_activity directly.
-- A STABLE function runs on the calling statement's snapshot, and the sessions are read after that snapshot
-- was taken: the reasoning of 0003 holds unchanged.
CREATE OR REPLACE FUNCTION crm_es_read_horizon() RETURNS xid8 LANGUAGE plpgsql STABLE AS $$
DECLARE
  snap pg_snapshot := pg_current_snapshot();
  oldest_appender xid8;
BEGIN
  IF NOT current_setting('track_activities')::boolean THEN
    RETURN pg_snapshot_xmin(snap);
  END IF;
  SELECT min(x8) INTO oldest_appender
    FROM pg_snapshot_xip(snap) AS x8
   WHERE (x8::text::numeric % 4294967296) IN (
     SELECT a.backend_xid::text::numeric
       FROM pg_stat_get_activity(NULL) AS a
      WHERE a.datid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
        AND a.backend_xid IS NOT NULL
        AND a.query LIKE '%crm_es_append_batch(%');
  RETURN least(pg_snapshot_xmax(snap), oldest_appender);
END
$$;

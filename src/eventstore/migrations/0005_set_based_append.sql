-- The append function, set-based. 0002 ran four statements per item (lock the stream row, update or insert
-- it, insert the events); under load that per-statement cost was most of an append's server time. Now a
-- batch costs four statements whatever its size: lock every stream row of the batch (in name order, so
-- concurrent batches cannot deadlock), decide the items in memory, in order, each exactly as if appended
-- alone, then write the stream rows and all the events at once. Items whose ids the caller supplied, or that
-- are sent again after an unknown outcome, still look their ids up (after the locks, so that a concurrent
-- commit of the same append is seen). Rare races (a stream created by another transaction meanwhile, a row
-- written by a newer transaction, an item with the same ids as an earlier one of the batch) raise, and the
-- adapter appends each item of the batch again on its own.
CREATE OR REPLACE FUNCTION crm_es_append_batch(
  p_streams text[], p_expected text[], p_counts integer[],
  p_ids uuid[], p_types text[], p_data jsonb[], p_meta jsonb[],
  p_fresh boolean[]
) RETURNS TABLE (item integer, status text, last_revision text, commit_id text, last_position text, actual text)
LANGUAGE plpgsql AS $$
DECLARE
  k integer := cardinality(p_streams);
  me xid8;
  names text[];
  revs bigint[];       -- each stream's revision as the batch goes (NULL: no stream)
  existed boolean[];   -- the stream had a row before this batch
  r record;
  j integer;
  n integer;
  off integer := 0;
  cur bigint;
  expected text;
  ids uuid[];
  found_any integer;
  found_here integer;
  dup_last text;
  dup_commit text;
  dup_pos text;
  s_status text[] := array_fill(NULL::text, ARRAY[k]);
  s_last text[] := array_fill(NULL::text, ARRAY[k]);
  s_commit text[] := array_fill(NULL::text, ARRAY[k]);
  s_pos text[] := array_fill(NULL::text, ARRAY[k]);
  s_actual text[] := array_fill(NULL::text, ARRAY[k]);
  ev_at integer[] := '{}';  -- index of each event to insert in the p_ arrays
  ev_stream text[] := '{}';
  ev_rev bigint[] := '{}';
  ev_last integer[] := array_fill(NULL::integer, ARRAY[k]);  -- each ok item's last event, as an index into ev_
  new_names text[];
  created integer;
  positions text[];
  ok_ids uuid[] := '{}';  -- ids of the items decided ok so far (not yet in the table)
BEGIN
  SELECT array_agg(u.s ORDER BY u.s) INTO names FROM (SELECT DISTINCT unnest(p_streams) AS s) AS u;
  revs := array_fill(NULL::bigint, ARRAY[cardinality(names)]);
  existed := array_fill(false, ARRAY[cardinality(names)]);
  me := pg_current_xact_id();
  FOR r IN SELECT s.stream_name, s.revision, s.last_txid FROM crm_es_streams s
            WHERE s.stream_name = ANY (names) ORDER BY s.stream_name FOR UPDATE LOOP
    IF r.last_txid > me THEN
      -- Written since this transaction began by a newer one: its events would sort after ours in (txid,
      -- position) order against the stream's revisions. A fresh transaction gets a newer id.
      RAISE EXCEPTION 'crm_es_out_of_order' USING ERRCODE = '40001';
    END IF;
    j := array_position(names, r.stream_name);
    revs[j] := r.revision;
    existed[j] := true;
  END LOOP;

  FOR i IN 1 .. k LOOP
    n := p_counts[i];
    expected := p_expected[i];
    ids := p_ids[off + 1 : off + n];
    IF NOT p_fresh[i] THEN
      -- The same ids as an earlier item of this batch (a retry grouped with its original): the lookup below
      -- cannot see that item's events yet. Each item goes again alone, where it is answered as before.
      IF ids && ok_ids THEN
        RAISE EXCEPTION 'crm_es_same_ids_in_batch' USING ERRCODE = '40001';
      END IF;
      -- Applied at most once per event id: a retried request gets the first result.
      SELECT count(*), count(*) FILTER (WHERE e.stream_name = p_streams[i]),
             max(e.revision)::text, max(e.txid::text), max(e.position)::text
        INTO found_any, found_here, dup_last, dup_commit, dup_pos
        FROM crm_es_events e WHERE e.event_id = ANY (ids);
      IF found_here = n THEN
        s_status[i] := 'duplicate';
        s_last[i] := dup_last; s_commit[i] := dup_commit; s_pos[i] := dup_pos;
      ELSIF found_any > 0 THEN
        s_status[i] := 'idempotency_conflict';
      END IF;
    END IF;
    IF s_status[i] IS NULL THEN
      j := array_position(names, p_streams[i]);
      cur := revs[j];
      IF (expected = 'no_stream' AND cur IS NOT NULL)
         OR (expected = 'stream_exists' AND cur IS NULL)
         OR (expected NOT IN ('no_stream', 'stream_exists', 'any') AND (cur IS NULL OR cur <> expected::bigint)) THEN
        s_status[i] := 'conflict';
        s_actual[i] := coalesce(cur, -1)::text;
      ELSE
        cur := coalesce(cur, -1);
        FOR x IN 1 .. n LOOP
          ev_at := ev_at || (off + x);
          ev_stream := ev_stream || p_streams[i];
          ev_rev := ev_rev || (cur + x);
        END LOOP;
        revs[j] := cur + n;
        ev_last[i] := cardinality(ev_at);
        ok_ids := ok_ids || ids;
        s_status[i] := 'ok';
        s_last[i] := (cur + n)::text;
        s_commit[i] := me::text;
      END IF;
    END IF;
    off := off + n;
  END LOOP;

  IF cardinality(ev_at) > 0 THEN
    UPDATE crm_es_streams s SET revision = u.rev, last_txid = me
      FROM unnest(names, revs, existed) AS u(name, rev, was)
     WHERE u.was AND s.stream_name = u.name AND s.revision <> u.rev;
    SELECT array_agg(u.name) INTO new_names FROM unnest(names, revs, existed) AS u(name, rev, was) WHERE NOT u.was AND u.rev IS NOT NULL;
    IF new_names IS NOT NULL THEN
      WITH ins AS (
        INSERT INTO crm_es_streams AS s (stream_name, revision, last_txid)
          SELECT u.name, u.rev, me FROM unnest(names, revs, existed) AS u(name, rev, was) WHERE NOT u.was AND u.rev IS NOT NULL
          ON CONFLICT (stream_name) DO NOTHING RETURNING 1
      ) SELECT count(*) INTO created FROM ins;
      IF created <> cardinality(new_names) THEN
        RAISE EXCEPTION 'crm_es_created_concurrently' USING ERRCODE = '40001';
      END IF;
    END IF;
    -- In item and revision order. Identities are drawn in that order (above the sort), so the k-th smallest
    -- position returned is the k-th event: a stream's events keep their order in $all, and each item's last
    -- position is found by its index, without joining the items to the rows.
    WITH ins AS (
      INSERT INTO crm_es_events (event_id, stream_name, revision, type, data, metadata)
        SELECT p_ids[u.at], u.stream, u.rev, p_types[u.at], p_data[u.at], p_meta[u.at]
          FROM unnest(ev_at, ev_stream, ev_rev) WITH ORDINALITY AS u(at, stream, rev, ord)
         ORDER BY u.ord
        RETURNING crm_es_events.position
    ) SELECT array_agg(ins.position::text ORDER BY ins.position) INTO positions FROM ins;
    FOR i IN 1 .. k LOOP
      IF s_status[i] = 'ok' THEN
        s_pos[i] := positions[ev_last[i]];
      END IF;
    END LOOP;
  END IF;

  RETURN QUERY SELECT u.i::integer, u.st, u.lst, u.cmt, u.pos, u.act
    FROM unnest(s_status, s_last, s_commit, s_pos, s_actual) WITH ORDINALITY AS u(st, lst, cmt, pos, act, i)
   ORDER BY u.i;
END
$$;

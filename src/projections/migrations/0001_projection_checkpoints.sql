-- One row per projection: where it has read the log up to. Written in the same transaction as its rows.
CREATE TABLE crm_projection_checkpoints (
  name text PRIMARY KEY,
  commit_pos numeric(20, 0) NOT NULL DEFAULT 0,
  prepare_pos numeric(20, 0) NOT NULL DEFAULT 0,
  events_applied bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);

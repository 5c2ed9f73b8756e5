-- Facts about the installation, not projections of the log: no projection owns this table, so rebuilding the
-- read models never drops it. First holder: the check value of the secrets master key (src/secrets/key-check.ts).
CREATE TABLE crm_instance_settings (
  name text PRIMARY KEY,
  value text NOT NULL,
  set_at timestamptz NOT NULL DEFAULT now()
);

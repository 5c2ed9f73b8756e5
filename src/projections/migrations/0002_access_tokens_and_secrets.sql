CREATE TABLE crm_access_tokens (
  id uuid PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('board', 'agent')),
  token_hash text NOT NULL UNIQUE,
  user_id text,
  agent_id text,
  company_ids uuid[] NOT NULL DEFAULT '{}',
  instance_admin boolean NOT NULL DEFAULT false,
  expires_at timestamptz,
  revoked_at timestamptz,
  created_at timestamptz NOT NULL,
  created_by text NOT NULL
);
CREATE INDEX crm_access_tokens_company ON crm_access_tokens USING gin (company_ids);

-- Usage telemetry, not a fact of the domain: written by the auth middleware (throttled), kept apart so
-- that rebuilding crm_access_tokens from the log does not wipe it.
CREATE TABLE crm_access_token_usage (
  token_id uuid PRIMARY KEY,
  last_used_at timestamptz NOT NULL
);

CREATE TABLE crm_secrets (
  id uuid PRIMARY KEY,
  company_id uuid NOT NULL,
  name text NOT NULL,
  latest_version integer NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  created_by text NOT NULL
);
CREATE INDEX crm_secrets_company ON crm_secrets (company_id, created_at);

CREATE TABLE crm_outboxes (
  id uuid PRIMARY KEY,
  company_id uuid NOT NULL,
  channel text NOT NULL,
  niche text,
  secret_ref text NOT NULL,
  credential_id uuid NOT NULL,
  config jsonb NOT NULL,
  daily_cap integer NOT NULL,
  timezone text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  deleted_at timestamptz
);
CREATE INDEX crm_outboxes_company ON crm_outboxes (company_id, created_at) WHERE deleted_at IS NULL;
CREATE INDEX crm_outboxes_credential ON crm_outboxes (company_id, credential_id) WHERE deleted_at IS NULL;

CREATE TABLE crm_allowlist_entries (
  id uuid PRIMARY KEY,
  company_id uuid NOT NULL,
  pattern text NOT NULL,
  channel text,
  note text,
  created_at timestamptz NOT NULL,
  created_by text NOT NULL
);
CREATE INDEX crm_allowlist_company ON crm_allowlist_entries (company_id, created_at);

CREATE TABLE crm_approval_rules (
  id uuid PRIMARY KEY,
  company_id uuid NOT NULL,
  predicate jsonb NOT NULL,
  action text NOT NULL,
  priority integer NOT NULL,
  seq integer NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX crm_approval_rules_order ON crm_approval_rules (company_id, priority, seq);

CREATE TABLE crm_activities (
  id uuid PRIMARY KEY,
  company_id uuid NOT NULL,
  outbox_id uuid NOT NULL,
  channel text NOT NULL,
  recipient text NOT NULL,
  status text NOT NULL,
  approval_id uuid,
  content_piece_id uuid,
  client_dedup_key text,
  provider_message_id text,
  error jsonb,
  bucket text,
  lease_until timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX crm_activities_company_created ON crm_activities (company_id, created_at DESC, id DESC);
CREATE INDEX crm_activities_unsettled ON crm_activities (updated_at) WHERE status IN ('requested', 'approved', 'dispatching');

CREATE TABLE crm_approvals (
  id uuid PRIMARY KEY,
  company_id uuid NOT NULL,
  activity_id uuid NOT NULL,
  outbox_id uuid NOT NULL,
  channel text NOT NULL,
  recipient text NOT NULL,
  rule_id uuid,
  status text NOT NULL,
  decided_by text,
  reason text,
  created_at timestamptz NOT NULL,
  decided_at timestamptz
);
CREATE INDEX crm_approvals_company_status ON crm_approvals (company_id, status, created_at);

CREATE TABLE crm_credential_buckets (
  company_id uuid NOT NULL,
  credential_id uuid NOT NULL,
  day text NOT NULL,
  cap integer NOT NULL,
  used integer NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (company_id, credential_id, day)
);

-- Which activity holds a unit: makes the counter idempotent under re-delivery.
CREATE TABLE crm_credential_bucket_units (
  company_id uuid NOT NULL,
  credential_id uuid NOT NULL,
  day text NOT NULL,
  activity_id uuid NOT NULL,
  PRIMARY KEY (company_id, credential_id, day, activity_id)
);

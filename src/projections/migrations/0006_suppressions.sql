CREATE TABLE crm_suppressions (
  id uuid PRIMARY KEY,
  company_id uuid NOT NULL,
  recipient text NOT NULL,
  channel text,
  source text NOT NULL,
  reason text,
  created_at timestamptz NOT NULL,
  created_by text NOT NULL
);
CREATE INDEX crm_suppressions_company_created ON crm_suppressions (company_id, created_at DESC, id DESC);
CREATE INDEX crm_suppressions_company_recipient ON crm_suppressions (company_id, recipient);

CREATE TABLE crm_content_pieces (
  id uuid PRIMARY KEY,
  company_id uuid NOT NULL,
  title text NOT NULL,
  summary text,
  source_path text NOT NULL,
  source_sha256 text NOT NULL,
  tags text[] NOT NULL DEFAULT '{}',
  channel_intent text,
  niche text,
  frontmatter jsonb,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  deleted_at timestamptz
);
-- Uniqueness is enforced on the write side (a claim stream per path); this index serves lookups.
CREATE INDEX crm_content_pieces_company_path ON crm_content_pieces (company_id, source_path) WHERE deleted_at IS NULL;
CREATE INDEX crm_content_pieces_company_created ON crm_content_pieces (company_id, created_at) WHERE deleted_at IS NULL;

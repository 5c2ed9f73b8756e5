CREATE TABLE crm_brand_voice_cache (
  company_id uuid NOT NULL,
  content_sha256 text NOT NULL,
  guide_version integer NOT NULL,
  channel text NOT NULL DEFAULT '',
  pass boolean NOT NULL,
  score real NOT NULL,
  findings jsonb NOT NULL,
  checker text NOT NULL,
  checked_at timestamptz NOT NULL,
  PRIMARY KEY (company_id, content_sha256, guide_version, channel)
);

-- An outbox's limits beyond its daily cap (issue 18): shared by the outboxes on a credential, as the cap is.
ALTER TABLE crm_outboxes ADD COLUMN limits jsonb NOT NULL DEFAULT '[]';
-- When and for whom each unit was taken, so the credential-buckets view can show each limit's use in its window
-- (rows from before: null, counted at their day's start, until `crm projections rebuild credential_buckets`).
ALTER TABLE crm_credential_bucket_units ADD COLUMN at timestamptz, ADD COLUMN recipient text;
CREATE INDEX crm_credential_bucket_units_at ON crm_credential_bucket_units (company_id, credential_id, at);

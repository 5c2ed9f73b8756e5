-- Instance secrets (for instance configuration such as post-issue hooks) belong to no company: their
-- company_id is null, which `company_id = $1` never matches, so no company's list shows them.
ALTER TABLE crm_secrets ALTER COLUMN company_id DROP NOT NULL;

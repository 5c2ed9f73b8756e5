-- A person's resend after an unknown outcome links two activities: the new one names the original
-- (resend_of), the original names the new one (resent_as). Both null on every other send.
ALTER TABLE crm_activities ADD COLUMN resend_of uuid, ADD COLUMN resent_as uuid;

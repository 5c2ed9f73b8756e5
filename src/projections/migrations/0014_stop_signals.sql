-- What stops an enrollment though it answers none of its sends: a person writing to the company on any channel,
-- a booking they made themselves, a bounce that matched no send. Keyed by the recipient as sends name them.
CREATE TABLE crm_contact_signals (
  event_id uuid PRIMARY KEY,
  company_id uuid NOT NULL,
  channel text NOT NULL,
  recipient text NOT NULL,
  kind text NOT NULL, -- reply | booking | bounce
  at timestamptz NOT NULL
);
CREATE INDEX crm_contact_signals_recipient ON crm_contact_signals (company_id, recipient, at);

-- The channel of each step of the enrollment's version: a suppression on one channel stops only a step on it.
ALTER TABLE crm_enrollments ADD COLUMN channels jsonb;
-- Completed enrollments not yet marked replied are still read by the stop scan (a reply after the last step).
CREATE INDEX crm_enrollments_unreplied ON crm_enrollments (company_id, recipient) WHERE status = 'completed' AND NOT replied;

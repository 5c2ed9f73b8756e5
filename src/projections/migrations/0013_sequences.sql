-- Sequences (their latest version; every version is in the sequence's stream) and their enrollments: what the
-- scheduler scans for due steps, and what the enrollment routes and the stats read.
CREATE TABLE crm_sequences (
  id uuid PRIMARY KEY,
  company_id uuid NOT NULL,
  name text NOT NULL,
  status text NOT NULL, -- active | paused | deleted
  version integer NOT NULL,
  definition jsonb NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX crm_sequences_company ON crm_sequences (company_id, created_at, id);

CREATE TABLE crm_enrollments (
  id uuid PRIMARY KEY,
  company_id uuid NOT NULL,
  sequence_id uuid NOT NULL,
  version integer NOT NULL,
  recipient text NOT NULL,
  status text NOT NULL, -- active | waiting_approval | completed | stopped
  current_step integer NOT NULL,
  attempt integer NOT NULL,
  next_due_at timestamptz,
  waiting_for uuid,
  steps jsonb NOT NULL,
  stop_reason text,
  replied boolean NOT NULL DEFAULT false,
  stop_on jsonb NOT NULL, -- what stops it: the causes of its version's stopOn
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX crm_enrollments_due ON crm_enrollments (next_due_at) WHERE status = 'active';
CREATE INDEX crm_enrollments_waiting ON crm_enrollments (waiting_for) WHERE status = 'waiting_approval';
CREATE INDEX crm_enrollments_sequence ON crm_enrollments (sequence_id, created_at, id);
CREATE INDEX crm_enrollments_recipient ON crm_enrollments (company_id, recipient) WHERE status IN ('active', 'waiting_approval');

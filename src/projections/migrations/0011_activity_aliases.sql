-- The names a send is known by besides the ones crm_activities holds (its provider message id, its recipient as
-- requested): a rescheduled booking's later uids, a recipient's canonical spelling and the other names the
-- provider gave it (a LinkedIn member id found when sending). Webhooks find a send by any of them.
CREATE TABLE crm_activity_aliases (
  kind text NOT NULL, -- 'message' | 'recipient'
  alias text NOT NULL,
  activity_id uuid NOT NULL,
  PRIMARY KEY (kind, alias, activity_id)
);

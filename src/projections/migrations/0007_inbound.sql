-- What providers reported about sent messages (delivery receipts, bounces, bookings, replies), per activity.
CREATE TABLE crm_activity_delivery_events (
  activity_id uuid NOT NULL,
  provider_event_id text NOT NULL,
  kind text NOT NULL,
  state text,
  at timestamptz NOT NULL,
  text text,
  error jsonb,
  PRIMARY KEY (activity_id, provider_event_id)
);

-- Webhooks find the send a provider event is about by the provider's message id, or the latest send to a person.
CREATE INDEX crm_activities_provider_message ON crm_activities (company_id, provider_message_id) WHERE provider_message_id IS NOT NULL;
CREATE INDEX crm_activities_sent_recipient ON crm_activities (company_id, channel, recipient, created_at DESC) WHERE status = 'sent';

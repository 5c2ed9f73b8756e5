-- A reply that is a tapped button or list row (WhatsApp interactive replies): what was picked, by the id the
-- business gave it. Rows written before have none; a rebuild fills them from the events.
ALTER TABLE crm_activity_delivery_events ADD COLUMN choice jsonb;

-- The message a pending approval would send (absent for approvals requested before): the console's approvals page
-- shows it from the list, without one history request per row.
ALTER TABLE crm_approvals ADD COLUMN payload jsonb;

-- Alert v4: each reason, and the status reason, as codes and parameters, so that the dashboard
-- words them in its reader's language. Versions stored before v4 keep only their English.
ALTER TABLE alert_versions ADD COLUMN reason_codes jsonb NOT NULL DEFAULT '[]';
ALTER TABLE alert_versions ADD COLUMN status_reason_code jsonb;
ALTER TABLE alerts ADD COLUMN status_reason_code jsonb;

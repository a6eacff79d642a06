-- The alert's whole life (alert schema v2): the episode's status and why it changed, the
-- closure that a later version reopened, and every local authority involved.
-- ``status`` stays the practitioners' workflow (open, acknowledged, assigned, closed, reopened);
-- ``episode_status`` is the worker's (open, ended, withdrawn).
ALTER TABLE alerts ADD COLUMN episode_status text NOT NULL DEFAULT 'open';
ALTER TABLE alerts ADD COLUMN status_reason text;
ALTER TABLE alerts ADD COLUMN reopened_after_closure boolean NOT NULL DEFAULT false;
ALTER TABLE alerts ADD COLUMN local_authorities text[] NOT NULL DEFAULT '{}';
ALTER TABLE alerts ADD COLUMN closed_by text;
ALTER TABLE alerts ADD COLUMN closure_outcome text;
ALTER TABLE alerts ADD COLUMN closed_at timestamptz;
CREATE INDEX alerts_involved_areas ON alerts USING gin (local_authorities);

ALTER TABLE alert_versions ADD COLUMN status text NOT NULL DEFAULT 'open';
ALTER TABLE alert_versions ADD COLUMN status_reason text;

-- The schools' reference data (the compacted schools topic), so that the dashboard names a
-- school instead of showing its number. Written by the alert store; public information only.
CREATE TABLE schools (
    school_id           text PRIMARY KEY,
    name                text NOT NULL,
    local_authority     text NOT NULL,
    near_port_of_entry  boolean NOT NULL DEFAULT false,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Which service a dashboard user works in, so that the guidance beside each action shows first
-- the practice points for their role. Optional: a user without one sees every point.
ALTER TABLE users ADD COLUMN service text CHECK (service IN (
    'school', 'health', 'police', 'social_care', 'border_force', 'youth_justice', 'voluntary',
    'local_authority'));

-- The child's page reads every alert of a reference, and those naming it among their links.
CREATE INDEX alerts_child_ref ON alerts (child_ref);

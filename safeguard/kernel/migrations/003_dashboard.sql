-- Dashboard users (passwords hashed with scrypt), what practitioners do with alerts, and the audit
-- trail of every view of an alert page and every action.
CREATE TABLE users (
    username        text PRIMARY KEY,
    password_hash   text NOT NULL,
    role            text NOT NULL CHECK (role IN ('practitioner', 'admin')),
    local_authority text,
    created_at      timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE alerts ADD COLUMN assignee text;
ALTER TABLE alerts ADD COLUMN closed_reason text;

CREATE TABLE audit (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    username text NOT NULL,
    action   text NOT NULL,
    alert_id text,
    detail   text
);
CREATE INDEX audit_by_alert ON audit (alert_id, at);

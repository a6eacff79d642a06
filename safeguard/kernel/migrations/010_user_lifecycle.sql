-- A user's life: disabled (no sign-in, every session ended) and enabled again, and when the
-- password last changed (a reset ends every session too).
ALTER TABLE users ADD COLUMN disabled_at timestamptz;
ALTER TABLE users ADD COLUMN password_changed_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX audit_by_user ON audit (username, at);

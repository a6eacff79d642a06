-- Dashboard sessions kept on the server: the signed cookie only names one, so signing out, an
-- expiry or removing the user ends it at once, whatever copies of the cookie exist.
CREATE TABLE sessions (
    session_id  text PRIMARY KEY,
    username    text NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    ended_at    timestamptz
);
CREATE INDEX sessions_by_user ON sessions (username);

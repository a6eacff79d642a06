-- Agencies that publish through the HTTP intake, their bearer tokens (stored hashed), and the
-- event ids the intake has accepted (so the same event_id sent twice is accepted once).
CREATE TABLE agencies (
    agency_id   text PRIMARY KEY,
    agency_type text NOT NULL,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agency_tokens (
    token_id    text PRIMARY KEY,
    agency_id   text NOT NULL REFERENCES agencies (agency_id),
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE intake_events (
    event_id    text PRIMARY KEY,
    agency_id   text NOT NULL REFERENCES agencies (agency_id),
    kind        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

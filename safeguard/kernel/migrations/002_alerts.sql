-- Alerts as the alert store keeps them: the current version of each alert, and every version
-- with its full evidence (the history a practitioner sees), idempotent on (alert_id, version).
CREATE TABLE alerts (
    alert_id          text PRIMARY KEY,
    child_ref         text NOT NULL,
    kind              text NOT NULL,
    version           int NOT NULL,
    level             text NOT NULL,
    rule_id           text NOT NULL,
    rule_version      int NOT NULL,
    local_authority   text NOT NULL,
    agencies          int NOT NULL,
    family_move       boolean NOT NULL,
    first_evidence_at timestamptz NOT NULL,
    last_evidence_at  timestamptz NOT NULL,
    raised_at         timestamptz NOT NULL,
    status            text NOT NULL DEFAULT 'open',
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_open_by_area ON alerts (local_authority, status, raised_at DESC);

CREATE TABLE alert_versions (
    alert_id     text NOT NULL,
    version      int NOT NULL,
    level        text NOT NULL,
    rule_id      text NOT NULL,
    rule_version int NOT NULL,
    raised_at    timestamptz NOT NULL,
    evidence     jsonb NOT NULL,
    reasons      jsonb NOT NULL,
    actions      jsonb NOT NULL,
    payload      bytea NOT NULL,
    source       text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alert_id, version)
);

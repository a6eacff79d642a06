-- What retention and erasure leave behind so that nothing removed comes back: a version of a
-- purged or erased alert read again from the alert topics (a replay, a version still in
-- flight) is not stored again. Neither table holds personal data: an alert id is a one-way
-- digest, and an erased reference is kept only as the SHA-256 of it. Rows go once the source
-- retention has passed (the purge), when no record they stand against can be read any more.
CREATE TABLE forgotten_alerts (
    alert_id        text PRIMARY KEY,
    through_version int NOT NULL,
    why             text NOT NULL CHECK (why IN ('retention', 'erasure')),
    forgotten_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE erased_references (
    ref_digest  text PRIMARY KEY,
    erasure_id  text NOT NULL,
    erased_at   timestamptz NOT NULL
);

CREATE INDEX alerts_ended ON alerts (episode_status, updated_at);
CREATE INDEX intake_events_by_child ON intake_events (child_ref);

-- The references an alert joined (alert v3): an erasure finds every reference of the child.
ALTER TABLE alerts ADD COLUMN linked_refs text[] NOT NULL DEFAULT '{}';
ALTER TABLE alerts ADD COLUMN merged_into text;
CREATE INDEX alerts_linked_refs ON alerts USING gin (linked_refs);

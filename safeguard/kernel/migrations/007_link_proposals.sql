-- Links the pipeline proposes between two references of what may be one child (from agencies'
-- privacy-preserving encodings), and what a practitioner decided. A proposal is never a link: a
-- confirmation publishes the identity link; a rejection keeps the pair from being asked again.
CREATE TABLE link_proposals (
    proposal_id       text PRIMARY KEY,
    ref_a             text NOT NULL,
    ref_b             text NOT NULL,
    agency_a          text NOT NULL,
    agency_b          text NOT NULL,
    local_authorities text[] NOT NULL,
    similarity        double precision NOT NULL,
    threshold         double precision NOT NULL,
    scheme            text NOT NULL,
    proposed_at       timestamptz NOT NULL,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'confirmed', 'rejected')),
    decided_by        text,
    decided_at        timestamptz,
    link_event_id     text,
    received_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ref_a, ref_b)
);
CREATE INDEX link_proposals_pending ON link_proposals (status, proposed_at);

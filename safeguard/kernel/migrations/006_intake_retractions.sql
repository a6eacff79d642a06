-- What a retraction through the intake needs: which child an accepted event was about, and for
-- a registration, its school. Rows from before this migration have neither and cannot be
-- retracted through the intake (``safeguard publish retraction`` still can).
ALTER TABLE intake_events ADD COLUMN child_ref text;
ALTER TABLE intake_events ADD COLUMN school_id text;

-- The local authorities an agency serves (NULL: every one, as registered on purpose with
-- `--serves all`), and when each intake token stops working.
ALTER TABLE agencies ADD COLUMN local_authorities text[];
ALTER TABLE agency_tokens ADD COLUMN expires_at timestamptz NOT NULL
    DEFAULT now() + interval '365 days';

-- Event ids are unique per agency: one agency reusing another's id must not suppress its event.
ALTER TABLE intake_events DROP CONSTRAINT intake_events_pkey;
ALTER TABLE intake_events ADD PRIMARY KEY (agency_id, event_id);

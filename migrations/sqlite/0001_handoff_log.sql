-- The handoff log: every incident event, appended in order and hash-chained.
CREATE TABLE handoff_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    offset_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    event TEXT NOT NULL,
    details TEXT NOT NULL,
    hotline TEXT NOT NULL,
    category TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

CREATE INDEX handoff_events_by_incident ON handoff_events (incident, id);

-- Appending is the only change the service makes; these stop accidents, not an attacker
-- with the file (the hash chain is what exposes those).
CREATE TRIGGER handoff_events_no_update BEFORE UPDATE ON handoff_events
BEGIN
    SELECT RAISE(ABORT, 'the handoff log is append-only');
END;

CREATE TRIGGER handoff_events_no_delete BEFORE DELETE ON handoff_events
BEGIN
    SELECT RAISE(ABORT, 'the handoff log is append-only');
END;

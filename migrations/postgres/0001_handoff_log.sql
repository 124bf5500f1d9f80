-- The handoff log: every incident event, appended in order and hash-chained.
CREATE TABLE handoff_events (
    id BIGSERIAL PRIMARY KEY,
    incident BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    offset_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    event TEXT NOT NULL,
    details TEXT NOT NULL,
    hotline TEXT NOT NULL,
    category TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

CREATE INDEX handoff_events_by_incident ON handoff_events (incident, id);

-- Appending is the only change the service makes; this stops accidents, not an attacker
-- with the database (the hash chain is what exposes those).
CREATE FUNCTION handoff_events_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the handoff log is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER handoff_events_no_change BEFORE UPDATE OR DELETE ON handoff_events
FOR EACH ROW EXECUTE FUNCTION handoff_events_append_only();

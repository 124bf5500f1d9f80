-- Tickets (工单 at 12345, 警单 at 110), created and updated from the handoff log's events
-- in the same transaction, and the feedback entries on them.
CREATE TABLE tickets (
    number TEXT PRIMARY KEY,
    incident INTEGER NOT NULL UNIQUE,
    platform TEXT NOT NULL,
    caller TEXT NOT NULL,
    first_receiver TEXT,
    received_ms INTEGER NOT NULL,
    answered_ms INTEGER,
    ended_ms INTEGER,
    category TEXT,
    owner TEXT,
    handoff_mode TEXT NOT NULL,
    handed_to TEXT,
    followed_rule INTEGER,
    dispatch INTEGER NOT NULL,
    peer_ticket TEXT,
    status TEXT NOT NULL,
    finished_ms INTEGER,
    work_log_deadline_ms INTEGER,
    deadline_estimated INTEGER NOT NULL DEFAULT 0,
    updated_ms INTEGER NOT NULL
);

CREATE TABLE ticket_feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket TEXT NOT NULL REFERENCES tickets (number),
    at_ms INTEGER NOT NULL,
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL
);

CREATE INDEX ticket_feedback_by_ticket ON ticket_feedback (ticket, id);

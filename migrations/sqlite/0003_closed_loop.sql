-- The closed loop with the other platform: messages waiting to be delivered (the outbox),
-- messages received once (the inbox, for idempotency), work logs received, and the
-- supervision notices (督办) recorded on tickets.
ALTER TABLE tickets ADD COLUMN handed_over_ms INTEGER;
ALTER TABLE tickets ADD COLUMN accepted_ms INTEGER;
ALTER TABLE tickets ADD COLUMN work_log_sent_ms INTEGER;
ALTER TABLE tickets ADD COLUMN work_log_received_ms INTEGER;

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    ticket TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    delivered_ms INTEGER,
    last_error TEXT
);

CREATE INDEX outbox_pending ON outbox (delivered_ms, next_attempt_ms);

CREATE TABLE inbox (
    idempotency_key TEXT PRIMARY KEY,
    received_ms INTEGER NOT NULL,
    response TEXT NOT NULL
);

CREATE TABLE work_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    body TEXT NOT NULL
);

CREATE TABLE supervision (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    reason TEXT NOT NULL,
    deadline_ms INTEGER NOT NULL,
    UNIQUE (ticket, reason)
);

-- The closed loop with the other platform: messages waiting to be delivered (the outbox),
-- messages received once (the inbox, for idempotency), work logs received, and the
-- supervision notices (督办) recorded on tickets.
ALTER TABLE tickets ADD COLUMN handed_over_ms BIGINT;
ALTER TABLE tickets ADD COLUMN accepted_ms BIGINT;
ALTER TABLE tickets ADD COLUMN work_log_sent_ms BIGINT;
ALTER TABLE tickets ADD COLUMN work_log_received_ms BIGINT;

CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    created_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    ticket TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT NOT NULL,
    delivered_ms BIGINT,
    last_error TEXT
);

CREATE INDEX outbox_pending ON outbox (delivered_ms, next_attempt_ms);

CREATE TABLE inbox (
    idempotency_key TEXT PRIMARY KEY,
    received_ms BIGINT NOT NULL,
    response TEXT NOT NULL
);

CREATE TABLE work_logs (
    id BIGSERIAL PRIMARY KEY,
    ticket TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    body TEXT NOT NULL
);

CREATE TABLE supervision (
    id BIGSERIAL PRIMARY KEY,
    ticket TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    reason TEXT NOT NULL,
    deadline_ms BIGINT NOT NULL,
    UNIQUE (ticket, reason)
);

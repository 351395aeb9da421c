-- Digital payments (SQLite): a payment paid by the caller on the hosted
-- payment page through a single-use link, and the SMS messages that carried
-- the link. The link's token is never stored: only its SHA-256. No column
-- holds card data; the SMS rows hold the number and the delivery status,
-- never the message (it holds the link).

ALTER TABLE payments ADD COLUMN payment_type TEXT NOT NULL DEFAULT 'agent_assist'
    CHECK (payment_type IN ('agent_assist', 'digital'));

CREATE TABLE payment_links (
    payment_id      TEXT    PRIMARY KEY REFERENCES payments (id),
    token_hash      TEXT    NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    state           TEXT    NOT NULL CHECK (state IN ('created', 'sent', 'opened', 'paid', 'expired', 'cancelled', 'locked')),
    phone           TEXT    NOT NULL DEFAULT '',
    expires_at      TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    failed_attempts INTEGER NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    max_attempts    INTEGER NOT NULL CHECK (max_attempts > 0),
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL,
    opened_at       TEXT
) STRICT;

-- The sweep that expires links looks for these only.
CREATE INDEX payment_links_open ON payment_links (expires_at) WHERE state IN ('created', 'sent', 'opened');

CREATE TABLE sms_messages (
    id          TEXT    PRIMARY KEY,
    payment_id  TEXT    NOT NULL REFERENCES payments (id),
    to_number   TEXT    NOT NULL,
    provider    TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('queued', 'sent', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    provider_id TEXT    NOT NULL DEFAULT '',
    error_code  TEXT    NOT NULL DEFAULT '',
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
) STRICT;

CREATE INDEX sms_messages_payment ON sms_messages (payment_id, created_at);

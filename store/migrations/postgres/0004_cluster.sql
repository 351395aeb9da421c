-- What several dtmfgw nodes on one database share. Nodes heartbeat their
-- row; idempotency keys of payment creations are claimed here, so a retry
-- reaching another node, or the same after a restart, finds the payment
-- the first made.

CREATE TABLE nodes (
    id           TEXT        PRIMARY KEY,
    api_url      TEXT        NOT NULL,
    sip_address  TEXT        NOT NULL DEFAULT '',
    started_at   TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    draining     BOOLEAN     NOT NULL DEFAULT FALSE
);

CREATE TABLE idempotency_keys (
    key          TEXT        PRIMARY KEY,
    request_hash TEXT        NOT NULL CHECK (length(request_hash) = 64),
    payment_id   TEXT        NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

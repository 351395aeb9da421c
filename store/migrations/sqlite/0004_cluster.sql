-- What several dtmfgw nodes on one database share (SQLite: a single node
-- registers itself too, so one code path serves both). Nodes heartbeat
-- their row; idempotency keys of payment creations are claimed here, so a
-- retry reaching another node, or the same after a restart, finds the
-- payment the first made.

CREATE TABLE nodes (
    id           TEXT    PRIMARY KEY,
    api_url      TEXT    NOT NULL,
    sip_address  TEXT    NOT NULL DEFAULT '',
    started_at   TEXT    NOT NULL,
    heartbeat_at TEXT    NOT NULL,
    draining     INTEGER NOT NULL DEFAULT 0 CHECK (draining IN (0, 1))
) STRICT;

CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL CHECK (length(request_hash) = 64),
    payment_id   TEXT NOT NULL,
    created_at   TEXT NOT NULL
) STRICT;

CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

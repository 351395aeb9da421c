-- Where each live call, and each payment taken on one, is held: the node
-- whose memory has its media and its event stream. Any node finds here the
-- node to hand a command to. A call's row goes when the call ends; a
-- payment's route stays (a finished payment is answered from the record by
-- any node, whatever its route says).

CREATE TABLE live_calls (
    id              TEXT PRIMARY KEY,
    node_id         TEXT NOT NULL,
    inbound_call_id TEXT NOT NULL DEFAULT '',
    primary_call_id TEXT NOT NULL DEFAULT '',
    agent_id        TEXT NOT NULL DEFAULT '',
    outbound        BOOLEAN NOT NULL DEFAULT FALSE,
    started_at      TIMESTAMPTZ NOT NULL
);

CREATE INDEX live_calls_primary ON live_calls (primary_call_id);
CREATE INDEX live_calls_agent ON live_calls (agent_id);
CREATE INDEX live_calls_inbound ON live_calls (inbound_call_id);
CREATE INDEX live_calls_node ON live_calls (node_id);

CREATE TABLE payment_routes (
    payment_id TEXT PRIMARY KEY,
    node_id    TEXT NOT NULL,
    call_id    TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);

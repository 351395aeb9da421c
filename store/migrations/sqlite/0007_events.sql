-- The calls' payment events, as their event streams sent them, for a
-- stream that resumes on another node after the call's node died: the
-- events it missed are read here. Kept for as long as a stream can resume
-- (an hour), then pruned. No event holds card data: lengths, validity, a
-- brand, the last four of a valid card number at most.

CREATE TABLE payment_events (
    call_id    TEXT    NOT NULL,
    seq        INTEGER NOT NULL CHECK (seq > 0),
    payment_id TEXT    NOT NULL DEFAULT '',
    at         TEXT    NOT NULL,
    type       TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    PRIMARY KEY (call_id, seq)
) STRICT;

CREATE INDEX payment_events_at ON payment_events (at);

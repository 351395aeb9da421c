-- The webhook outbox (PostgreSQL): one row per delivery of one event to
-- one payment configuration's webhook. A payment.result row is written in
-- the transaction that makes the payment final, so a result is never
-- committed without the delivery that reports it. A row is pending while
-- delivered_at and gave_up_at are both NULL; next_attempt_at is when it
-- is next due (a claimed row's lease). The body holds no card data: the
-- brand and last 4 at most.

CREATE TABLE webhook_deliveries (
    id               TEXT        PRIMARY KEY,
    payment_id       TEXT        NOT NULL REFERENCES payments (id),
    configuration_id TEXT        NOT NULL,
    event_type       TEXT        NOT NULL,
    body             TEXT        NOT NULL,
    attempts         INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    last_status      TEXT        NOT NULL DEFAULT '',
    created_at       TIMESTAMPTZ NOT NULL,
    delivered_at     TIMESTAMPTZ,
    gave_up_at       TIMESTAMPTZ
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX webhook_deliveries_payment ON webhook_deliveries (payment_id, created_at);

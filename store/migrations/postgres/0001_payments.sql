-- Payments and their audit trail (PostgreSQL).
-- No column may ever hold a card number, security code, expiry or
-- postcode: only the brand and the last 4 digits.

CREATE TABLE payments (
    id                  TEXT        PRIMARY KEY,
    call_id             TEXT        NOT NULL DEFAULT '',
    inbound_call_id     TEXT        NOT NULL DEFAULT '',
    outbound_call_id    TEXT        NOT NULL DEFAULT '',
    primary_call_id     TEXT        NOT NULL DEFAULT '',
    agent_id            TEXT        NOT NULL DEFAULT '',
    configuration_id    TEXT        NOT NULL DEFAULT '',
    state               TEXT        NOT NULL CHECK (state IN ('created', 'collecting', 'ready', 'processing', 'unknown',
                                                              'approved', 'declined', 'failed', 'cancelled', 'timed_out')),
    brand               TEXT        NOT NULL DEFAULT '',
    last4               TEXT        NOT NULL DEFAULT '' CHECK (last4 = '' OR last4 ~ '^[0-9]{4}$'),
    amount              BIGINT      NOT NULL DEFAULT 0 CHECK (amount >= 0),
    currency            TEXT        NOT NULL DEFAULT '',
    reference           TEXT        NOT NULL DEFAULT '',
    processor           TEXT        NOT NULL DEFAULT '',
    processor_reference TEXT        NOT NULL DEFAULT '',
    idempotency_key     TEXT        UNIQUE, -- NULL until the payment has one
    decline_code        TEXT        NOT NULL DEFAULT '',
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    completed_at        TIMESTAMPTZ           -- NULL until the payment is final
);

CREATE INDEX payments_call_id ON payments (call_id);
CREATE INDEX payments_primary_call_id ON payments (primary_call_id);
CREATE INDEX payments_agent_id ON payments (agent_id);
CREATE INDEX payments_created_at ON payments (created_at, id);
-- Reconciliation after a restart looks for these only.
CREATE INDEX payments_unresolved ON payments (created_at) WHERE state IN ('processing', 'unknown');

CREATE TABLE payment_audit (
    seq        BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id TEXT        NOT NULL REFERENCES payments (id),
    at         TIMESTAMPTZ NOT NULL,
    actor      TEXT        NOT NULL CHECK (actor IN ('agent', 'api', 'system')),
    action     TEXT        NOT NULL,
    detail     TEXT        NOT NULL DEFAULT ''
);

CREATE INDEX payment_audit_payment ON payment_audit (payment_id, seq);

-- The audit trail is append-only: the database itself refuses to change
-- or remove an entry, whoever asks.
CREATE FUNCTION payment_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'payment_audit is append-only';
END;
$$;

CREATE TRIGGER payment_audit_no_change BEFORE UPDATE OR DELETE ON payment_audit
    FOR EACH ROW EXECUTE FUNCTION payment_audit_append_only();

CREATE TRIGGER payment_audit_no_truncate BEFORE TRUNCATE ON payment_audit
    FOR EACH STATEMENT EXECUTE FUNCTION payment_audit_append_only();

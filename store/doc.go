// Package store keeps payment records durably through database/sql: SQLite
// by default (the pure-Go modernc.org/sqlite driver, so no cgo) and
// PostgreSQL (pgx) for deployments with several nodes, by one code path
// with small dialect differences (placeholders, column types, locking).
//
// What it keeps: each payment's correlation ids (call, inbound and
// outbound SIP Call-IDs, the contact centre's primary call id, agent,
// configuration), its state, the card brand and last 4 digits the caller
// hands over, the amount in minor units and currency, the references and
// idempotency key of the processor call, and timestamps; and, per payment,
// an append-only audit trail of who (agent, API, system) did what, when.
//
// What it never keeps is card data: there is no field for a card number,
// security code, expiry or postcode, and as a safety net an audit detail
// with a run of six or more digits is refused (ErrCardData) rather than
// stored. Errors never echo a value the caller passed.
//
// Durability: a result and its audit entry are committed in one
// transaction before CommitResult returns, so a result the caller then
// reports survives a crash of the process (kill -9). SQLite runs in WAL
// mode with synchronous=FULL, so a committed transaction also survives a
// power loss once the disk has acknowledged it.
//
// The webhook outbox (outbox.go) holds the deliveries package webhook
// sends: with WithOutbox, the delivery that announces a payment's final
// state is written in the transaction that makes it final, so a result is
// never committed without it. Deliveries are claimed with a lease (on
// PostgreSQL, FOR UPDATE SKIP LOCKED, so several nodes share the outbox)
// and finished under the attempt number that claimed them.
//
// The schema is migrated on Open from numbered SQL files embedded in the
// binary (one set per dialect), in one transaction, and recorded in the
// schema_migrations table.
package store

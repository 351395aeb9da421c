// Package webhook tells a payment configuration's backend what became of
// its payments: signed HTTP POSTs of JSON, retried until they are taken,
// from an outbox kept in the store so that a restart loses none.
//
// Durability: a payment's payment.result delivery is written by the store
// in the same transaction that makes the payment final (Directory.Outbox,
// passed to store.Open with store.WithOutbox), so no result is committed without
// the delivery that reports it, whichever path ended the payment (the
// processor's answer, a reconciliation after a restart, a cancel, the
// session timeout). The Dispatcher claims due deliveries with a lease
// (a process that dies mid-attempt leaves them to be claimed again once
// the lease runs out), POSTs them, and records the outcome. Delivery is
// at least once: a receiver drops a Dtmfgw-Delivery id it has taken.
//
// Retries: an attempt fails on anything but a 2xx (a redirect too), a
// connection error, or the per-attempt timeout; the next is due after
// initial_backoff, doubled after every failure up to max_backoff, each
// wait drawn from its upper half (jitter). An attempt that fails when the
// delivery is max_age old (24 h by default) gives it up: logged at error
// level and counted (Stats.GaveUp).
//
// Progress (payment.progress, for configurations with progress: true) is
// best-effort: the payment events reach the dispatcher through
// payment.WithEventHook, wait in a bounded queue (dropped and counted
// when it is full), and are then written to the outbox and delivered like
// results. Their order of arrival is not guaranteed; the event's seq
// gives the order.
//
// Signature (header Dtmfgw-Signature): "t=<unix seconds>,v1=<hex>" where
// the hex is HMAC-SHA256 keyed with the configuration's webhook secret
// over the timestamp, ".", and the body as sent. Receivers check it with
// Verify (docs/webhooks.md shows it in Go and with openssl).
//
// Formats (payment.WebhookFormat): a configuration's webhook gets
// dtmfgw's JSON documents (Body), or, with format: compatible,
// form-urlencoded callbacks in the parameter names and values of the
// best-known programmable-voice platform's keypad payment verb
// (compatible.go): capture started, a partial result per key, the
// required fields left, an error for a failed field, and the final
// result, which replaces the JSON payment.result and is written in the
// same transaction. Both go through the same outbox, retries and
// signature; the Content-Type follows the body.
//
// No card data: a body holds the payment's correlation ids, amount,
// state and result (brand and last four at most), or a payment.Event,
// which holds no digit; a compatible callback masks every digit it
// reports but the last four of a complete, valid card number.
package webhook

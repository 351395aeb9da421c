// Package payment is dtmfgw's payment domain: the card payments taken on
// the calls of package call, from the caller's key presses to the
// processor's answer, durably recorded. A call reaches it only through the
// small Call interface (its id, correlation, secure status and secure
// mode) and its press queue.
//
//   - Payments (payments.go) is one per process: the payment
//     configurations (payment_config.go), the processors and the durable
//     store. Its TakeCall, the call.Manager's WithNewCall hook, gives
//     every call a Set that takes its digits; a Set holds the call's
//     payments, one open at a time.
//   - A Payment (payment.go) is the state machine (payment_state.go)
//     created → collecting ⇄ ready → processing → approved | declined |
//     failed | reconciling, or cancelled | timed out: digits go only to the
//     armed field, into fixed []byte capture buffers (capture.go) that are
//     never copied into a string and are zeroed at hand-off, end and
//     timeout; card checks (card.go: brand by IIN range, lengths, Luhn,
//     expiry, security code) say valid or not, never which digit; free
//     text that holds a card number is refused (cardtext.go); the amount,
//     currency, reference and name are its attributes (attributes.go),
//     which the back end may fix for the agent. What the API and the form
//     see of it is a view (payment_view.go) that holds no digit.
//   - A Ref (payment_ref.go) is a payment found by id, wherever it
//     is: live, waiting for the form to choose its configuration, or
//     stored once its call has ended (Payments.Find).
//   - Progress events (events.go) go out through a non-blocking,
//     resumable bus per call and hold no digit; WithEventHook hands every
//     payment event, in order, to package webhook without a subscription
//     per call. A configuration may name a webhook (webhook_config.go; its
//     Secret never prints).
//   - A record is committed (handoff.go; StorePayments over package store,
//     store.go) before the processor gets the card (payment_process.go)
//     and again before a result is reported; a Reconciler (reconcile.go)
//     settles, in the background and with bounded concurrency, what a
//     crash or a silent processor left unknown, by asking, never by
//     charging again.
//   - A digital payment (link.go) is paid by the caller on the hosted
//     payment page through a single-use link sent by SMS: it lives in
//     the store, each step one transaction of the payment and its link;
//     the page's side (link_page.go) is the Desk of package paypage, its
//     types in page.go.
//   - The results and the processor and press-to-event latencies
//     (metrics.go) are read by package metrics at scrape time
//     (Payments.Metrics).
//
// Keys stay dtmf.Key, which prints as "•": nothing here logs, formats or
// stores a key outside a capture buffer. Every timed behaviour runs off
// the payments' clock (WithClock) and the time package's timers, so
// tests drive them in a testing/synctest bubble.
package payment

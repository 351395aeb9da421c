// Package session is dtmfgw's call domain, between the signalling edge
// (sip) and the media path (media): the call registry over media, and the
// payments taken on the calls.
//
//   - Manager (manager.go) is one per process: it owns the RTP port pool,
//     the media.Reactors (DefaultReactorsPerCPU per CPU) that read every
//     call's sockets, one media.TickWheel that times every call's masking
//     pipeline, and the
//     live calls, found by id or listed by agent, primary call id or
//     Call-ID. MediaConfig (config.go) is its part of the configuration
//     file, with defaults and a Validate that names the bad key.
//   - Call (call.go) is one bridged call's media. The SIP layer, which
//     never opens a socket, creates it before it offers SDP to the agent
//     (it needs our addresses), tells it each side's SDP and every
//     re-INVITE's (new address, hold, new payload types) without the relay
//     restarting, starts it at the agent's first answer (early media
//     included), and ends it; a media timeout ends it by itself, with a
//     reason that tells the SIP layer to send BYE both ways. Secure says
//     whether a key pressed now would be masked toward the agent.
//   - The caller's packets never come up here: the call hands its relay a
//     mask.Path (media/mask), which it configures — a new masking pipeline
//     when the caller's payload types change, secure mode — and a
//     mask.Joiner, the one way key presses leave the call: RFC 4733,
//     in-band and SIP INFO (Call.SIPInfoDigit) reports joined into one
//     dtmf.Press per press, numbered, queued without ever blocking the
//     media path (Call.Presses).
//   - Payments (payments.go) is one per process: the payment
//     configurations (payment_config.go), the processors and the durable
//     store. With Manager.WithPayments every call gets a PaymentSet that
//     takes its digits; a PaymentSet holds the call's payments, one open
//     at a time. A Payment (payment.go) is the state machine created →
//     collecting ⇄ ready → processing → approved | declined | failed |
//     reconciling, or cancelled | timed out: digits go only to the armed
//     field, into fixed []byte capture buffers (capture.go) that are never
//     copied into a string and are zeroed at hand-off, end and timeout;
//     card checks (card.go: brand by IIN range, lengths, Luhn, expiry,
//     security code) say valid or not, never which digit; progress events
//     (events.go) go out through a non-blocking, resumable bus and hold no
//     digit. A record is committed (StorePayments over package store)
//     before the processor gets the card and again before a result is
//     reported; a Reconciler (reconcile.go) settles, in the background
//     and with bounded concurrency, what a crash or a silent processor
//     left unknown, by asking, never by charging again. A
//     configuration may name a webhook (webhook_config.go; its Secret
//     never prints); WithEventHook hands every payment event, in order,
//     to package webhook without a subscription per call.
//
// Keys stay dtmf.Key, which prints as "•": nothing here logs, formats or
// stores a key outside the digit queue. Every timed behaviour runs off the
// Manager's clock (WithClock), so tests drive it with a fake one.
package session

// Package call is dtmfgw's call domain, between the signalling edge (sip)
// and the media path (media): the registry of live calls over media, each
// call's legs, relay and masking path, and the one queue its key presses
// leave it by. It knows nothing of payments: whoever takes a call's
// presses is handed each new call (WithNewCall).
//
//   - Manager (manager.go) is one per process: it owns the RTP port pool,
//     the media.Reactors (DefaultReactorsPerCPU per CPU) that read every
//     call's sockets, one media.TickWheel that times every call's masking
//     pipeline, and the live calls, found by id or listed by agent,
//     primary call id or Call-ID. MediaConfig (config.go) is its part of
//     the configuration file, with defaults and a Validate that names the
//     bad key. WithNewCall hands every new call, before NewCall returns,
//     to a hook: the gateway sets the payments' (payment.Payments.TakeCall).
//   - Call (call.go) is one bridged call's media. The SIP layer, which
//     never opens a socket, creates it before it offers SDP to the agent
//     (it needs our addresses), tells it each side's SDP and every
//     re-INVITE's (new address, hold, new payload types) without the relay
//     restarting, starts it at the agent's first answer (early media
//     included), and ends it; a media timeout ends it by itself, with a
//     reason (EndReason, reason.go) that tells the SIP layer to send BYE
//     both ways. Secure says whether a key pressed now would be masked
//     toward the agent. Correlation (correlation.go) holds the identifiers
//     the signalling and the contact centre know the call by.
//   - The caller's packets never come up here: the call hands its relay a
//     mask.Path (media/mask), which it configures — a new masking pipeline
//     when the caller's payload types change, secure mode — and a
//     mask.Joiner, the one way key presses leave the call: RFC 4733,
//     in-band and SIP INFO (Call.SIPInfoDigit) reports joined into one
//     dtmf.Press per press, numbered, queued without ever blocking the
//     media path (Call.Presses).
//   - The Manager's counters and histograms (metrics.go) are read by
//     package metrics at scrape time (Manager.Metrics).
//
// Keys stay dtmf.Key, which prints as "•": nothing here logs, formats or
// stores a key outside the press queue. Every timed behaviour runs off the
// Manager's clock (WithClock), so tests drive it with a fake one.
package call

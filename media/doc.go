// Package media is everything between the two UDP sockets of one call:
// sockets and packets only. It never parses SIP or SDP; the signalling
// layer tells it the addresses and payload types it learned from SDP.
//
// It holds, from the socket up:
//
//   - PortPool hands out RTP/RTCP socket pairs (even RTP port, RTCP on the
//     port above, RFC 3550 §11) from a configured range, binding to
//     allocate and keeping released pairs out of use for a drain period,
//     so that one call never receives the previous call's packets.
//     ErrPortsExhausted means no pair is free (the SIP layer answers 503).
//   - Leg is one side of a call: its sockets, the peer's address, and a
//     reading goroutine that accepts RTP only from that address (or, in
//     NAT mode, from the first packet on the peer's IP, latched once),
//     drops and counts everything else, parses the header into a reused
//     buffer and hands each packet to a PacketHandler without allocating.
//     It reports a media timeout when no RTP arrives for a configured time.
//     On linux/amd64 it can read in batches with recvmmsg(2) (BatchRead).
//   - ReceiveStats and SendStats count packets, bytes, loss, duplicates,
//     reordering and interarrival jitter (RFC 3550 §A.1, §A.3, §A.8),
//     updated lock-free on the reading goroutine and readable at any time
//     through Snapshot.
//   - The caller→agent handler a Relay is given is not here: it is the
//     masking path of package media/mask, which takes media's Packet and
//     writes through a Sender (DirectSender, LegSender) to the agent leg.
//   - Relay carries one call: the caller leg's packets through the
//     caller→agent handler (the masking path) to the agent leg, the agent's unchanged to the caller, on
//     the legs' reading goroutines, with ticks driven by the caller's
//     packets and, while the caller is silent, by a TickWheel shared by
//     many calls. A Reactor (Linux, epoll) can read many calls' sockets
//     from one goroutine instead of one per leg: a level-triggered epoll
//     set of its own, the legs' sockets taken out of the Go runtime's
//     poller when their relay starts (so their traffic wakes nothing
//     else), each ready call's state prefetched before any is served,
//     sends with a plain sendto(2). Leg and Reactor share the leg's
//     receive path (receiver), so a packet is judged the same either way.
//   - With RelayConfig.RTCP the Relay runs one rtcp.Session (package
//     media/rtcp) per leg on the leg's RTCP socket: RTCP is terminated and
//     regenerated, never forwarded (RFC 3550 §7.2: the agent's stream is
//     rewritten), Sender Reports from what the masking path sent toward
//     the agent and from the forwarded packets toward the caller,
//     reception blocks from each leg's statistics (ReceptionOf), ticked
//     from the relay's tick path, BYE on Close, counters in Relay.Stats.
//
// The end-to-end proof is media/mask/loopback_test.go: a caller stream
// carrying all sixteen keys as events, tones and both, relayed over UDP on
// 127.0.0.1 (also under seeded loss, duplicates, reordering and jitter),
// and an agent recording in which neither our Detector nor multimon-ng
// hears a key.
//
// All timed behaviour (drain, media timeout, arrival times) is judged by an
// injected clock, so tests do not sleep. media imports nothing of ours but
// dtmf and media/rtcp.
package media

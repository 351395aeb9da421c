// Package media is everything between the two UDP sockets of one call:
// sockets and packets only. It never parses SIP or SDP; the signalling
// layer tells it the addresses and payload types it learned from SDP.
//
// Today it holds the foundation of the relay:
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
//
// All timed behaviour (drain, media timeout, arrival times) is judged by an
// injected clock, so tests do not sleep. media imports nothing of ours but
// dtmf.
package media

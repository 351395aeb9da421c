// Package rtcp terminates and regenerates RTCP for one leg of a call
// (RFC 3550 §6): the agent's stream is rewritten by the masking path, so
// the caller's reports cannot be relayed truthfully and are never
// forwarded. A Session reads the peer's compound packets from the leg's
// RTCP socket (RTP port + 1) and sends our own Sender or Receiver Reports
// at the RFC 3550 §6.2 interval, from what was sent (SentCounter) and
// received (Reception). It knows nothing of legs or relays: media wires
// one Session per leg.
package rtcp

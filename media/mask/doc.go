// Package mask is the caller→agent masking path: what the agent, its
// platform and its recorders hear of the caller is what leaves here, so it
// is the gateway's security boundary, and the package a PCI assessor
// reads. It opens no socket and makes no system call: media hands it each
// caller packet (media.Packet) and it writes through a media.Sender.
//
// A packet's way, one file a step:
//
//   - path.go: Path, the call's handler, swaps in a new Pipeline at a
//     packet boundary when a re-INVITE changes the caller's payload types,
//     and carries the agent's stream on across pipelines;
//   - pipeline.go: Pipeline classifies the packet and drives the stages
//     (the comment at its top lists them with their RFCs);
//   - events.go: RFC 4733 telephone events to dtmf.Tracker, never
//     forwarded;
//   - inband.go: the look-ahead that holds G.711 audio while dtmf.Detector
//     listens, and the spans of audio that must not reach the agent;
//   - tone.go: the one mask tone per press;
//   - rewrite.go: our RTP header on every packet out (RFC 3550 §5.1);
//   - press.go: Joiner, one dtmf.Press per key press, RFC 4733, in-band
//     and SIP INFO alike, queued without blocking.
//
// docs/masking.md says what the agent hears and why.
package mask

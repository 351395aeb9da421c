// Package sipptest is the integration harness that drives real SIP peers on
// loopback against dtmfgw: SIPp (Debian package sip-tester) as caller and as
// agent, baresip as a softphone, and a Go media recorder standing in for the
// agent's media so that what reaches the agent can be searched for key
// presses (package leakcheck).
//
// The pieces:
//
//   - Scenario: the SIPp XML scenarios, embedded (scenarios/*.xml), one per
//     call flow: a caller playing RTP from a pcap, CANCEL while ringing,
//     SIP INFO DTMF, hold and unhold, a malformed offer, refusals (403,
//     486, 488), an agent that answers, rings, hangs up or is busy, and a
//     lean pair for load runs. Each file says what it does and which RFC
//     rules it follows; they run as they are with sipp -sf.
//   - Run and Start: run sipp with a scenario on loopback addresses, bounded
//     by a context and by SIPp's own -timeout, and report its exit status,
//     its successful and failed calls (from the -trace_stat CSV) and an
//     excerpt of its error log (Result).
//   - CallerRTP: the caller's RTP as a pcap for SIPp's play_pcap_audio, made
//     at test time: keys as RFC 4733 events, as in-band G.711 tones, or
//     both, between G.711 silence.
//   - Recorder: a UDP socket on 127.0.0.1 that keeps the RTP it receives,
//     bounded, and reports the key presses found in it.
//   - Baresip: baresip started headless with a generated configuration,
//     driven through its ctrl_tcp module (netstring-framed JSON): dial,
//     send RFC 4733 digits, hang up, wait for call events.
//
// Every external program is looked up first and a missing one fails the
// test with the Debian package to install (make deps): an integration test
// that skips proves nothing. Every process gets a bounded lifetime and is
// killed on cleanup; everything listens on 127.0.0.x only.
//
// SIPp's play_pcap_audio sends through a raw socket, so the tests that play
// RTP must run as root (or with CAP_NET_RAW), as make test does.
package sipptest

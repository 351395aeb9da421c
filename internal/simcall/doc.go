// Package simcall simulates the two far ends of a call through dtmfgw on
// loopback: a Caller (a sipgo user agent client that sends PCMU audio and
// key presses as RFC 4733 telephone-events) and an Agent (a sipgo user
// agent server that answers with SDP, sends silence back and records what
// it receives). `dtmfgw demo` and the end-to-end tests use them in place of
// a phone and a contact-centre platform.
//
// Both ends are plain: UDP only, one call each, PCMU at 20 ms
// (RFC 3551 §4.5.14), telephone-event on the payload type the gateway
// answers with (RFC 4733 §2.1). Every loop runs on a ticker or a socket
// read that ends when the end is closed; each end closes itself, hanging
// up a call still in progress, when the context it was made with ends.
//
// Card data: KeyDigits takes the keys as []byte, keeps its own copy only
// while it sends them and zeroes that copy; no digit appears in an error
// or a log line. The caller's slice is the caller's to zero.
package simcall

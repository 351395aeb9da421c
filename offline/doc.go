// Package offline is dtmfgw's tools for files, the commands that run
// without a gateway or a call: detect (the DTMF key presses in an audio
// file or an RTP capture), inspect (per RTP stream of a capture: codec,
// loss, jitter, and whether it carries DTMF) and tone (key presses written
// as audio). Each is a function that takes the command's arguments and
// writes to the standard output and error it is given; cmd/dtmfgw runs
// them, and package internal/cli says how they report a usage error or an
// exit code.
//
// The tools are for telephony engineers looking at a call after the fact:
// what they print about a capture counts digits, and prints them only when
// asked (inspect --show-digits), since a capture may hold a card number.
package offline

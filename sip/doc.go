// Package sip is dtmfgw's signalling edge: a SIP B2BUA on
// github.com/emiago/sipgo that bridges the caller's leg to the agent's and
// asks call and media for the RTP sockets; it never opens one itself.
//
// The pieces here are pure and typed on sipgo's messages:
//
//   - ValidateHeaderValue, CopyHeader and SetHeader check every header value
//     we copy between legs or build from input (no CR, LF, NUL or other
//     control character, bounded length, RFC 3261 §7.3.1, §25.1); sipgo does
//     not. Errors name the header and never quote the value.
//   - ACL decides which peers may send INVITEs (default loopback), on the
//     transport source address (SourceAddr), never on a Via.
//   - Router chooses the agent target: configured rules on the Request-URI
//     user or a header, else an override header from a trusted peer, else
//     the default target, else ErrNoRoute. ParseTarget checks a target URI.
//   - Correlate records the inbound Call-ID, caller and called numbers,
//     direction, agent id and primary call id, dropping invalid values with
//     a reason.
//   - Config is the "sip:" section of the config file, with DefaultConfig and
//     Validate, whose errors name the key.
//
// The SDP offer/answer between the two legs is package sip/sdp; the B2BUA
// answers what it refuses with 488 and the Warning it gives.
package sip

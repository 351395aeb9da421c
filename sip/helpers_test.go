package sip

import (
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

// baseInvite is the header section of the INVITE the tests start from, in
// order; invite replaces or removes lines by header name.
var baseInvite = []string{
	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds",
	"Max-Forwards: 70",
	"From: \"Alice\" <sip:+441632960001@carrier.example>;tag=1928301774",
	"To: <sip:+441632960999@gw.example>",
	"Call-ID: a84b4c76e66710@pc33.example",
	"CSeq: 314159 INVITE",
	"Contact: <sip:+441632960001@192.0.2.1:5060>",
}

// invite parses an INVITE to ruri whose headers are baseInvite with each
// "Name: value" in hdrs replacing the base line of that name (the first
// time the name appears) or appended after it; "Name:" alone with nothing
// after the colon removes the base line. Parsing goes through sipgo's
// parser, as a request from the network would.
func invite(t testing.TB, ruri string, hdrs ...string) *sipmsg.Request {
	t.Helper()
	lines := append([]string(nil), baseInvite...)
	replaced := map[string]bool{}
	for _, h := range hdrs {
		name, value, _ := strings.Cut(h, ":")
		key := strings.ToLower(strings.TrimSpace(name))
		idx := -1
		for i, l := range lines {
			n, _, _ := strings.Cut(l, ":")
			if strings.ToLower(n) == key {
				idx = i
				break
			}
		}
		switch {
		case idx >= 0 && !replaced[key] && value == "":
			lines = append(lines[:idx], lines[idx+1:]...)
		case idx >= 0 && !replaced[key]:
			lines[idx] = h
		default:
			lines = append(lines, h)
		}
		replaced[key] = true
	}
	raw := "INVITE " + ruri + " SIP/2.0\r\n" + strings.Join(lines, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
	m, err := sipmsg.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatalf("parse test INVITE: %v\n%s", err, raw)
	}
	req, ok := m.(*sipmsg.Request)
	if !ok {
		t.Fatalf("test INVITE parsed as %T", m)
	}
	return req
}

// values returns the values of every instance of name in m, in order.
func values(m interface{ GetHeaders(string) []sipmsg.Header }, name string) []string {
	var out []string
	for _, h := range m.GetHeaders(name) {
		out = append(out, h.Value())
	}
	return out
}

package sip

import (
	"testing"
)

func TestCountOutgoing(t *testing.T) {
	for _, tc := range []struct {
		name          string
		msg           string
		method, class int // class -1: a request
		counted       bool
	}{
		{"invite", "INVITE sip:a@b SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n", 0, -1, true},
		{"bye", "BYE sip:a@b SIP/2.0\r\n\r\n", 2, -1, true},
		{"made-up method", "FROBNICATE sip:a@b SIP/2.0\r\n\r\n", len(Methods) - 1, -1, true},
		{"200 to INVITE", "SIP/2.0 200 OK\r\nVia: x\r\nCSeq: 7 INVITE\r\n\r\n", 0, 1, true},
		{"487 to INVITE", "SIP/2.0 487 Request Terminated\r\nCSeq: 7 INVITE\r\n", 0, 3, true},
		{"200 to OPTIONS", "SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\n\r\n", 4, 1, true},
		{"response without CSeq", "SIP/2.0 100 Trying\r\n\r\n", len(Methods) - 1, 0, true},
		{"status 700", "SIP/2.0 700 Nope\r\nCSeq: 1 BYE\r\n", 0, 0, false},
		{"status not digits", "SIP/2.0 2x0 OK\r\n", 0, 0, false},
		{"short", "SIP/2.0 20", 0, 0, false},
		{"empty", "", 0, 0, false},
		{"keepalive", "\r\n\r\n", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c messageCounters
			c.outgoing([]byte(tc.msg))
			total := uint64(0)
			for i := range c.requests {
				total += c.requests[i][dirOut].Load() + c.requests[i][dirIn].Load()
				for k := range c.responses[i] {
					total += c.responses[i][k][dirOut].Load() + c.responses[i][k][dirIn].Load()
				}
			}
			if !tc.counted {
				if total != 0 {
					t.Fatalf("counted %d messages, want none", total)
				}
				return
			}
			if total != 1 {
				t.Fatalf("counted %d messages, want 1", total)
			}
			var got uint64
			if tc.class < 0 {
				got = c.requests[tc.method][dirOut].Load()
			} else {
				got = c.responses[tc.method][tc.class][dirOut].Load()
			}
			if got != 1 {
				t.Fatalf("not counted as method %s class %d out", Methods[tc.method], tc.class)
			}
		})
	}
}

// FuzzCountOutgoing feeds arbitrary datagrams to the outgoing counter:
// it never panics, and counts at most one message per write.
func FuzzCountOutgoing(f *testing.F) {
	f.Add([]byte("INVITE sip:a@b SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n"))
	f.Add([]byte("SIP/2.0 200 OK\r\nCSeq: 7 INVITE\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c messageCounters
		c.outgoing(b)
		total := uint64(0)
		for i := range c.requests {
			total += c.requests[i][dirOut].Load()
			for k := range c.responses[i] {
				total += c.responses[i][k][dirOut].Load()
			}
		}
		if total > 1 {
			t.Fatalf("one write counted as %d messages", total)
		}
	})
}

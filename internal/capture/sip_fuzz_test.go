package capture

import (
	"net/netip"
	"strings"
	"testing"

	"dtmfgw/internal/testkit/capturetest"
)

// FuzzSIPMessage feeds arbitrary SIP messages to the two SIP readers of
// this package, the SDP media reader (pion/sdp with a line-by-line
// fallback) and the INFO reader, and checks that what they return stays
// within their bounds.
func FuzzSIPMessage(f *testing.F) {
	f.Add(capturetest.SIPWithSDP(netip.MustParseAddrPort("10.0.0.2:5000"), 101, 8000))
	f.Add(capturetest.SIPWithSDP(netip.MustParseAddrPort("[2001:db8::2]:5000"), 96, 48000))
	f.Add(capturetest.SIPInfo(7, "application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n")))
	f.Add([]byte("SIP/2.0 200 OK\r\n\r\nv=0\r\nt=0 0\r\nc=IN IP4 10.0.0.2\r\nm=audio 5000 RTP/AVP 101\r\na=rtpmap:101 telephone-event/8000\r\n"))
	f.Add([]byte("INFO sip:x SIP/2.0\nc: application/dtmf\nl: 1\n\n#"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		for _, m := range sdpMediaFromSIP(msg) {
			if len(m.TelephoneEvents) > maxRTPMaps {
				t.Fatalf("%d rtpmaps", len(m.TelephoneEvents))
			}
			for pt, rate := range m.TelephoneEvents {
				if pt > 127 || rate < 1000 || rate > 192000 {
					t.Fatalf("rtpmap %d/%d", pt, rate)
				}
			}
			if len(m.Encodings) > maxRTPMaps {
				t.Fatalf("%d encodings", len(m.Encodings))
			}
			for pt, enc := range m.Encodings {
				if pt > 127 || len(enc) > maxEncodingLen || !strings.Contains(enc, "/") {
					t.Fatalf("rtpmap %d %q", pt, enc)
				}
			}
			if m.Addr.Port() == 0 {
				t.Fatalf("media without port: %+v", m)
			}
		}
		if info, ok := sipInfoOf(msg); ok {
			if len(info.Body) == 0 || len(info.Body) > maxInfoBody || info.ContentType == "" {
				t.Fatalf("info %+v", info)
			}
		}
	})
}

package simcall

import (
	"net/netip"
	"testing"
)

// FuzzParseSDP: any body gives a usable stream or an error wrapping
// errSDP, never a panic; an accepted stream has a port.
func FuzzParseSDP(f *testing.F) {
	f.Add(sdpBody(netip.MustParseAddrPort("127.0.0.1:4000"), true, 101))
	f.Add(sdpBody(netip.MustParseAddrPort("127.0.0.1:4002"), false, 0))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 96\r\nc=IN IP4 127.0.0.1\r\na=rtpmap:96 telephone-event/8000\r\n"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\nm=audio 0 RTP/AVP 0\r\n"))
	f.Add([]byte("v=0\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		rm, err := parseSDP(body)
		if err != nil {
			return
		}
		if rm.addr.Port() == 0 || !rm.addr.Addr().IsValid() {
			t.Fatalf("accepted a stream without an address: %v", rm.addr)
		}
		if rm.events && rm.eventPT > 127 {
			t.Fatalf("telephone-event payload type %d", rm.eventPT)
		}
	})
}

func TestParseSDP(t *testing.T) {
	for _, c := range []struct {
		name   string
		body   string
		want   netip.AddrPort
		pt     uint8
		events bool
		ok     bool
	}{
		{"ours with events", string(sdpBody(netip.MustParseAddrPort("127.0.0.1:4000"), true, 101)), netip.MustParseAddrPort("127.0.0.1:4000"), 101, true, true},
		{"ours without", string(sdpBody(netip.MustParseAddrPort("127.0.0.1:4002"), false, 0)), netip.MustParseAddrPort("127.0.0.1:4002"), 0, false, true},
		{"media-level c=, event on 96", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 96\r\nc=IN IP4 127.0.0.2\r\na=rtpmap:96 telephone-event/8000\r\n", netip.MustParseAddrPort("127.0.0.2:4000"), 96, true, true},
		{"no audio", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n", netip.AddrPort{}, 0, false, false},
		{"no address", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", netip.AddrPort{}, 0, false, false},
		{"a host name", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 pbx.example\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", netip.AddrPort{}, 0, false, false},
		{"not SDP", "hello", netip.AddrPort{}, 0, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			rm, err := parseSDP([]byte(c.body))
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok %v", err, c.ok)
			}
			if c.ok && (rm.addr != c.want || rm.events != c.events || rm.eventPT != c.pt) {
				t.Errorf("got %+v", rm)
			}
		})
	}
}

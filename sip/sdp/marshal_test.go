package sdp

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	pion "github.com/pion/sdp/v3"
)

// strictParse parses b with pion/sdp alone: what we send must pass the
// strictest reader we know.
func strictParse(t testing.TB, b []byte) *pion.SessionDescription {
	t.Helper()
	var sd pion.SessionDescription
	if err := sd.Unmarshal(b); err != nil {
		t.Fatalf("pion/sdp refuses our SDP: %v\n%s", err, b)
	}
	return &sd
}

// strictParseOurs is strictParse of an answer without the m= lines it
// rejects (port 0, no attributes): those repeat the offer's media and
// transport, which may be what pion/sdp does not know (m=image udptl for
// T.38, RFC 3362), and must be listed all the same (RFC 3264 §6).
func strictParseOurs(t testing.TB, b []byte) *pion.SessionDescription {
	t.Helper()
	var kept []string
	for l := range strings.Lines(string(b)) {
		if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[0], "m=") && f[1] == "0" {
			continue
		}
		kept = append(kept, l)
	}
	return strictParse(t, []byte(strings.Join(kept, "")))
}

func TestMarshal(t *testing.T) {
	relay := netip.MustParseAddrPort("203.0.113.5:20000")
	tests := []struct {
		name string
		md   *Media
		user string
		want string
	}{
		{
			name: "offer with events and ptime",
			md:   &Media{Addr: relay, Formats: []Format{pcmu, pcma}, Event: ev(101, "0-15"), Ptime: 20},
			want: "v=0\r\no=- 77 0 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n" +
				"m=audio 20000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n" +
				"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
		},
		{
			name: "IPv6, opus stereo with fmtp, inactive, own username",
			md: &Media{Addr: netip.MustParseAddrPort("[2001:db8::5]:20002"), Direction: Inactive,
				Formats: []Format{{PT: 111, Name: "opus", ClockRate: 48000, Channels: 2, Fmtp: "useinbandfec=1"}}},
			user: "dtmfgw",
			want: "v=0\r\no=dtmfgw 77 0 IN IP6 2001:db8::5\r\ns=-\r\nc=IN IP6 2001:db8::5\r\nt=0 0\r\n" +
				"m=audio 20002 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\na=inactive\r\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Origin{SessionID: 77, Username: tc.user}
			b, err := o.Marshal(tc.md)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got\n%s\nwant\n%s", b, tc.want)
			}
			strictParse(t, b)
			back := mustParse(t, b)
			if back.Addr != tc.md.Addr || !slices.Equal(back.Formats, tc.md.Formats) || !sameEvent(back.Event, tc.md.Event) || back.Direction != tc.md.Direction {
				t.Errorf("parsed back as %+v", back)
			}
		})
	}
}

func TestMarshalRefuses(t *testing.T) {
	relay := netip.MustParseAddrPort("203.0.113.5:20000")
	tests := []struct {
		name string
		md   *Media
	}{
		{"nil", nil},
		{"no address", &Media{Formats: []Format{pcmu}}},
		{"port 0", &Media{Addr: netip.MustParseAddrPort("203.0.113.5:0"), Formats: []Format{pcmu}}},
		{"zone", &Media{Addr: netip.MustParseAddrPort("[fe80::1%eth0]:2000"), Formats: []Format{pcmu}}},
		{"no formats", &Media{Addr: relay}},
		{"payload type twice", &Media{Addr: relay, Formats: []Format{pcmu, pcmu}}},
		{"event on a codec's type", &Media{Addr: relay, Formats: []Format{pcmu}, Event: ev(0, "")}},
		{"payload type 128", &Media{Addr: relay, Formats: []Format{{PT: 128, Name: "X", ClockRate: 8000}}}},
		{"name with a space", &Media{Addr: relay, Formats: []Format{{PT: 96, Name: "X Y", ClockRate: 8000}}}},
		{"name with a slash", &Media{Addr: relay, Formats: []Format{{PT: 96, Name: "X/1", ClockRate: 8000}}}},
		{"no clock", &Media{Addr: relay, Formats: []Format{{PT: 96, Name: "X"}}}},
		{"line break in fmtp", &Media{Addr: relay, Formats: []Format{{PT: 96, Name: "X", ClockRate: 8000, Fmtp: "a\r\nm=video 1 RTP/AVP 0"}}}},
		{"bad ptime", &Media{Addr: relay, Formats: []Format{pcmu}, Ptime: -1}},
		{"bad direction", &Media{Addr: relay, Formats: []Format{pcmu}, Direction: 7}},
	}
	for _, tc := range tests {
		var o Origin
		if b, err := o.Marshal(tc.md); err == nil {
			t.Errorf("%s: marshalled\n%s", tc.name, b)
		}
	}
}

func TestOriginVersion(t *testing.T) {
	relay := netip.MustParseAddrPort("203.0.113.5:20000")
	active := &Media{Addr: relay, Formats: []Format{pcmu}}
	held := &Media{Addr: relay, Formats: []Format{pcmu}, Direction: SendOnly}
	steps := []struct {
		md      *Media
		version uint64
	}{
		{active, 0}, // first SDP
		{active, 0}, // session refresh: identical, same version (RFC 3264 §8)
		{held, 1},   // hold
		{held, 1},   // again identical
		{active, 2}, // unhold: differs from the last one sent
		{active, 2}, //
		{&Media{Addr: netip.MustParseAddrPort("203.0.113.5:20002"), Formats: []Format{pcmu}}, 3},
	}
	var o Origin
	var id uint64
	for i, s := range steps {
		b, err := o.Marshal(s.md)
		if err != nil {
			t.Fatal(err)
		}
		sd := strictParse(t, b)
		if i == 0 {
			id = sd.Origin.SessionID
			if id == 0 || id >= 1<<62 {
				t.Errorf("session id %d: want random in 1..2^62", id)
			}
		}
		if sd.Origin.SessionID != id || sd.Origin.SessionVersion != s.version || o.Version != s.version {
			t.Errorf("step %d: o= %d %d (Origin.Version %d), want %d %d", i, sd.Origin.SessionID, sd.Origin.SessionVersion, o.Version, id, s.version)
		}
	}
	var other Origin
	if _, err := other.Marshal(active); err != nil || other.SessionID == id {
		t.Errorf("two origins share session id %d (%v)", id, err)
	}
}

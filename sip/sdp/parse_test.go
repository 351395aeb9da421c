package sdp

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"dtmfgw/dtmf/g711"
)

// crlf joins SDP lines with CRLF, as RFC 4566 §5 writes them.
func crlf(lines ...string) []byte { return []byte(strings.Join(lines, "\r\n") + "\r\n") }

// carrierOffer is a typical carrier offer: G.711 both laws, events 0-16.
var carrierOffer = crlf(
	"v=0",
	"o=carrier 1718000000 1718000001 IN IP4 198.51.100.7",
	"s=SBC",
	"c=IN IP4 198.51.100.7",
	"t=0 0",
	"m=audio 40000 RTP/AVP 0 8 101",
	"a=rtpmap:0 PCMU/8000",
	"a=rtpmap:8 PCMA/8000",
	"a=rtpmap:101 telephone-event/8000",
	"a=fmtp:101 0-16",
	"a=ptime:20",
	"a=sendrecv",
)

var (
	pcmu = Format{PT: 0, Name: "PCMU", ClockRate: 8000, Channels: 1}
	pcma = Format{PT: 8, Name: "PCMA", ClockRate: 8000, Channels: 1}
	g729 = Format{PT: 18, Name: "G729", ClockRate: 8000, Channels: 1}
	cn   = Format{PT: 13, Name: "CN", ClockRate: 8000, Channels: 1}
)

func ev(pt uint8, fmtp string) *Format {
	return &Format{PT: pt, Name: "telephone-event", ClockRate: 8000, Channels: 1, Fmtp: fmtp}
}

func mustParse(t *testing.T, body []byte) *Media {
	t.Helper()
	m, err := Parse(body)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, body)
	}
	return m
}

func TestParse(t *testing.T) {
	caller := netip.MustParseAddrPort("198.51.100.7:40000")
	tests := []struct {
		name    string
		body    []byte
		addr    netip.AddrPort
		rtcp    netip.AddrPort
		formats []Format
		event   *Format
		ptime   int
		dir     Direction
		hold    bool
	}{
		{
			name: "carrier offer", body: carrierOffer, addr: caller, rtcp: netip.MustParseAddrPort("198.51.100.7:40001"),
			formats: []Format{pcmu, pcma}, event: ev(101, "0-16"), ptime: 20,
		},
		{
			name: "session c= only, after t=",
			body: crlf("v=0", "o=- 1 1 IN IP4 198.51.100.7", "s=-", "t=0 0", "c=IN IP4 198.51.100.7",
				"m=audio 40000 RTP/AVP 0", "a=rtpmap:0 PCMU/8000"),
			addr: caller, rtcp: netip.MustParseAddrPort("198.51.100.7:40001"), formats: []Format{pcmu},
		},
		{
			name: "media c= overrides session c=, attributes before it",
			body: crlf("v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
				"m=audio 40000 RTP/AVP 8", "a=ptime:30", "c=IN IP4 198.51.100.7"),
			addr: caller, rtcp: netip.MustParseAddrPort("198.51.100.7:40001"), formats: []Format{pcma}, ptime: 30,
		},
		{
			name: "LF line ends, trailing blanks, blank lines, no s=",
			body: []byte("v=0 \no=- 1 1 IN IP4 198.51.100.7\t\n\nc=IN IP4 198.51.100.7  \nt=0 0\nm=audio 40000 RTP/AVP 0 101 \na=rtpmap:101 telephone-event/8000  \n"),
			addr: caller, rtcp: netip.MustParseAddrPort("198.51.100.7:40001"), formats: []Format{pcmu}, event: ev(101, ""),
		},
		{
			name: "no t= either, upper and lower case tokens",
			body: crlf("v=0", "o=- 1 1 in ip4 198.51.100.7", "c=in ip4 198.51.100.7", "m=audio 40000 rtp/avp 0"),
			addr: caller, rtcp: netip.MustParseAddrPort("198.51.100.7:40001"), formats: []Format{pcmu},
		},
		{
			name: "static types without rtpmap",
			body: crlf("v=0", "o=- 1 1 IN IP4 198.51.100.7", "s=-", "c=IN IP4 198.51.100.7", "t=0 0",
				"m=audio 40000 RTP/AVP 18 0 8", "a=fmtp:18 annexb=no"),
			addr: caller, rtcp: netip.MustParseAddrPort("198.51.100.7:40001"),
			formats: []Format{{PT: 18, Name: "G729", ClockRate: 8000, Channels: 1, Fmtp: "annexb=no"}, pcmu, pcma},
		},
		{
			name: "codec names in any case, double blanks in rtpmap",
			body: crlf("v=0", "o=- 1 1 IN IP4 198.51.100.7", "s=-", "c=IN IP4 198.51.100.7", "t=0 0",
				"m=audio 40000 RTP/AVP 0 8 96", "a=rtpmap:0 pcmu/8000", "a=rtpmap:8  PcMa/8000", "a=rtpmap:96 TELEPHONE-EVENT/8000", "a=fmtp:96 0-15"),
			addr: caller, rtcp: netip.MustParseAddrPort("198.51.100.7:40001"),
			formats: []Format{{PT: 0, Name: "pcmu", ClockRate: 8000, Channels: 1}, {PT: 8, Name: "PcMa", ClockRate: 8000, Channels: 1}},
			event:   &Format{PT: 96, Name: "TELEPHONE-EVENT", ClockRate: 8000, Channels: 1, Fmtp: "0-15"},
		},
		{
			name: "dynamic type without rtpmap is skipped, rtpmap for an unlisted type ignored",
			body: crlf("v=0", "o=- 1 1 IN IP4 198.51.100.7", "s=-", "c=IN IP4 198.51.100.7", "t=0 0",
				"m=audio 40000 RTP/AVP 97 0", "a=rtpmap:98 opus/48000/2"),
			addr: caller, rtcp: netip.MustParseAddrPort("198.51.100.7:40001"), formats: []Format{pcmu},
		},
		{
			name: "opus with channels and two telephone-events: the 8000 Hz one",
			body: crlf("v=0", "o=- 1 1 IN IP4 198.51.100.7", "s=-", "c=IN IP4 198.51.100.7", "t=0 0",
				"m=audio 40000 RTP/AVP 111 0 110 126", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1",
				"a=rtpmap:110 telephone-event/48000", "a=rtpmap:126 telephone-event/8000"),
			addr: caller, rtcp: netip.MustParseAddrPort("198.51.100.7:40001"),
			formats: []Format{{PT: 111, Name: "opus", ClockRate: 48000, Channels: 2, Fmtp: "minptime=10;useinbandfec=1"}, pcmu},
			event:   &Format{PT: 126, Name: "telephone-event", ClockRate: 8000, Channels: 1},
		},
		{
			name: "a=rtcp with address, fractional ptime",
			body: crlf("v=0", "o=- 1 1 IN IP4 198.51.100.7", "s=-", "c=IN IP4 198.51.100.7", "t=0 0",
				"m=audio 40000 RTP/AVP 0", "a=rtcp:40011 IN IP4 198.51.100.8", "a=ptime:20.0"),
			addr: caller, rtcp: netip.MustParseAddrPort("198.51.100.8:40011"), formats: []Format{pcmu}, ptime: 20,
		},
		{
			name: "a=rtcp port only",
			body: crlf("v=0", "o=- 1 1 IN IP4 198.51.100.7", "s=-", "c=IN IP4 198.51.100.7", "t=0 0",
				"m=audio 40000 RTP/AVP 0", "a=rtcp:40005"),
			addr: caller, rtcp: netip.MustParseAddrPort("198.51.100.7:40005"), formats: []Format{pcmu},
		},
		{
			name: "IPv6",
			body: crlf("v=0", "o=- 1 1 IN IP6 2001:db8::7", "s=-", "c=IN IP6 2001:db8::7", "t=0 0", "m=audio 40000 RTP/AVP 0"),
			addr: netip.MustParseAddrPort("[2001:db8::7]:40000"), rtcp: netip.MustParseAddrPort("[2001:db8::7]:40001"), formats: []Format{pcmu},
		},
		{
			name: "video first, then SRTP audio, then plain audio: the plain audio",
			body: crlf("v=0", "o=- 1 1 IN IP4 198.51.100.7", "s=-", "c=IN IP4 198.51.100.7", "t=0 0",
				"m=video 50000 RTP/AVP 96", "a=rtpmap:96 H264/90000",
				"m=audio 40002 RTP/SAVP 0", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:xxxx",
				"m=audio 40000 RTP/AVP 8", "m=image 0 udptl t38"),
			addr: caller, rtcp: netip.MustParseAddrPort("198.51.100.7:40001"), formats: []Format{pcma},
		},
		{
			name: "lines we have no use for, and y= of no RFC, are skipped",
			body: crlf("v=0", "o=- 1 1 IN IP4 198.51.100.7", "s=-", "i=info", "u=:: not a url", "e=x", "p=+1",
				"c=IN IP4 198.51.100.7", "b=XYZ:oops", "t=0 0", "r=bad", "z=bad", "k=clear:x", "y=0123456789",
				"m=audio 40000 RTP/AVP 0", "b=AS:64", "k=prompt", "i=title"),
			addr: caller, rtcp: netip.MustParseAddrPort("198.51.100.7:40001"), formats: []Format{pcmu},
		},
		{
			name: "hold: sendonly", body: withAttr(carrierOffer, "a=sendonly"), addr: caller, rtcp: netip.MustParseAddrPort("198.51.100.7:40001"),
			formats: []Format{pcmu, pcma}, event: ev(101, "0-16"), ptime: 20, dir: SendOnly, hold: true,
		},
		{
			name: "hold: inactive", body: withAttr(carrierOffer, "a=inactive"), addr: caller, rtcp: netip.MustParseAddrPort("198.51.100.7:40001"),
			formats: []Format{pcmu, pcma}, event: ev(101, "0-16"), ptime: 20, dir: Inactive, hold: true,
		},
		{
			name: "recvonly is not hold", body: withAttr(carrierOffer, "a=recvonly"), addr: caller, rtcp: netip.MustParseAddrPort("198.51.100.7:40001"),
			formats: []Format{pcmu, pcma}, event: ev(101, "0-16"), ptime: 20, dir: RecvOnly,
		},
		{
			name: "hold: RFC 2543 c=0.0.0.0",
			body: []byte(strings.ReplaceAll(string(carrierOffer), "c=IN IP4 198.51.100.7", "c=IN IP4 0.0.0.0")),
			addr: netip.MustParseAddrPort("0.0.0.0:40000"), rtcp: netip.MustParseAddrPort("0.0.0.0:40001"),
			formats: []Format{pcmu, pcma}, event: ev(101, "0-16"), ptime: 20, hold: true,
		},
		{
			name: "session-level direction, media-level wins",
			body: crlf("v=0", "o=- 1 1 IN IP4 198.51.100.7", "s=-", "c=IN IP4 198.51.100.7", "t=0 0", "a=sendonly",
				"m=audio 40000 RTP/AVP 0", "m=audio 40002 RTP/AVP 0", "a=inactive"),
			addr: caller, rtcp: netip.MustParseAddrPort("198.51.100.7:40001"), formats: []Format{pcmu}, dir: SendOnly, hold: true,
		},
		{
			name: "IPv4-mapped address is unmapped",
			body: crlf("v=0", "o=- 1 1 IN IP4 198.51.100.7", "s=-", "c=IN IP6 ::ffff:198.51.100.7", "t=0 0", "m=audio 40000 RTP/AVP 0"),
			addr: caller, rtcp: netip.MustParseAddrPort("198.51.100.7:40001"), formats: []Format{pcmu},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mustParse(t, tc.body)
			if m.Addr != tc.addr || m.RTCP != tc.rtcp {
				t.Errorf("addr %v rtcp %v, want %v %v", m.Addr, m.RTCP, tc.addr, tc.rtcp)
			}
			if !slices.Equal(m.Formats, tc.formats) {
				t.Errorf("formats %v, want %v", m.Formats, tc.formats)
			}
			if !sameEvent(m.Event, tc.event) {
				t.Errorf("event %v, want %v", m.Event, tc.event)
			}
			if m.Ptime != tc.ptime || m.Direction != tc.dir || m.Hold != tc.hold {
				t.Errorf("ptime %d direction %v hold %v, want %d %v %v", m.Ptime, m.Direction, m.Hold, tc.ptime, tc.dir, tc.hold)
			}
		})
	}
}

// withAttr removes a=sendrecv from body and appends attr as its last media
// attribute.
func withAttr(body []byte, attr string) []byte {
	s := strings.Replace(string(body), "a=sendrecv\r\n", "", 1)
	return []byte(s + attr + "\r\n")
}

func TestParseOriginAndStreams(t *testing.T) {
	m := mustParse(t, crlf("v=0", "o=carrier 42 7 IN IP4 198.51.100.7", "s=-", "c=IN IP4 198.51.100.7", "t=0 0",
		"m=video 50000 RTP/AVP 96", "m=audio 40000 RTP/AVP 0", "m=image 0 udptl t38"))
	want := Origin{Username: "carrier", SessionID: 42, Version: 7, Addr: netip.MustParseAddr("198.51.100.7")}
	if m.Origin != want {
		t.Errorf("origin %+v, want %+v", m.Origin, want)
	}
	wantLines := []mLine{{"video", "RTP/AVP", "96", 50000}, {"audio", "RTP/AVP", "0", 40000}, {"image", "udptl", "t38", 0}}
	if !slices.Equal(m.lines, wantLines) || m.index != 1 {
		t.Errorf("lines %v index %d, want %v 1", m.lines, m.index, wantLines)
	}
}

func TestParseErrors(t *testing.T) {
	// Every body carries a marker; no error may repeat it (the Warning
	// text never echoes input).
	const marker = "Zq7marker"
	head := "v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=" + marker + "\r\nt=0 0\r\n"
	audio := "c=IN IP4 198.51.100.7\r\nm=audio 40000 RTP/AVP 0\r\n"
	tests := []struct {
		name string
		body string
		code int
	}{
		{"empty", "", WarnMisc},
		{"blank", " \r\n\r\n", WarnParameter},
		{"too large", head + audio + "a=x:" + strings.Repeat(marker, MaxSize/len(marker)) + "\r\n", WarnMisc},
		{"too many lines", head + audio + strings.Repeat("a="+marker+"\r\n", maxSDPLines), WarnMisc},
		{"line too long", head + audio + "a=" + strings.Repeat(marker, maxLineLen/len(marker)+1) + "\r\n", WarnParameter},
		{"does not start with v=0", "o=" + marker + "\r\n" + audio, WarnParameter},
		{"v=1", "v=1\r\n" + audio, WarnParameter},
		{"SIP headers, not SDP", "Content-Type: application/sdp\r\n\r\n" + head + audio, WarnParameter},
		{"not type=value", head + marker + "\r\n" + audio, WarnParameter},
		{"upper-case type", head + "A=" + marker + "\r\n" + audio, WarnParameter},
		{"NUL", head + audio + "a=" + marker + "\x00\r\n", WarnParameter},
		{"bare CR inside a line", head + audio + "a=" + marker + "\rm=audio 1 RTP/AVP 0\r\n", WarnParameter},
		{"second v=", head + audio + "v=0\r\n", WarnParameter},
		{"no o=", "v=0\r\ns=" + marker + "\r\n" + audio, WarnParameter},
		{"bad o=", "v=0\r\no=- x 1 IN IP4 " + marker + "\r\n" + audio, WarnParameter},
		{"o= with too few fields", "v=0\r\no=- 1 1 IN " + marker + "\r\n" + audio, WarnParameter},
		{"bad m= port", head + "c=IN IP4 198.51.100.7\r\nm=audio " + marker + " RTP/AVP 0\r\n", WarnParameter},
		{"m= port too big", head + "c=IN IP4 198.51.100.7\r\nm=audio 65536 RTP/AVP 0\r\n", WarnParameter},
		{"m= without formats", head + "c=IN IP4 198.51.100.7\r\nm=audio 4000 RTP/AVP\r\n", WarnParameter},
		{"m= bad token", head + "c=IN IP4 198.51.100.7\r\nm=audio 4000 RTP/AVP 0 \"" + marker + "\"\r\n", WarnParameter},
		{"too many m=", head + strings.Repeat("m=video 0 RTP/AVP "+marker+"\r\n", maxMedia+1), WarnMisc},
		{"too many formats", head + "c=IN IP4 198.51.100.7\r\nm=audio 4000 RTP/AVP" + strings.Repeat(" 0", maxFormats+1) + "\r\n", WarnParameter},
		{"no m=", head + "c=IN IP4 198.51.100.7\r\n", WarnMediaType},
		{"video only", head + "c=IN IP4 198.51.100.7\r\nm=video 4000 RTP/AVP 96\r\na=rtpmap:96 " + marker + "/90000\r\n", WarnMediaType},
		{"T.38 only", head + "c=IN IP4 198.51.100.7\r\nm=image 4000 udptl t38\r\n", WarnMediaType},
		{"audio disabled", head + "c=IN IP4 198.51.100.7\r\nm=audio 0 RTP/AVP 0\r\n", WarnMediaType},
		{"SRTP only", head + "c=IN IP4 198.51.100.7\r\nm=audio 4000 RTP/SAVP 0\r\na=crypto:" + marker + "\r\n", WarnTransport},
		{"DTLS-SRTP only", head + "c=IN IP4 198.51.100.7\r\nm=audio 4000 UDP/TLS/RTP/SAVPF 0\r\n", WarnTransport},
		{"no c=", head + "m=audio 4000 RTP/AVP 0\r\n", WarnAddress},
		{"c= host name", head + "c=IN IP4 " + marker + ".example\r\nm=audio 4000 RTP/AVP 0\r\n", WarnAddress},
		{"c= multicast", head + "c=IN IP4 224.2.1.1/127\r\nm=audio 4000 RTP/AVP 0\r\n", WarnAddress},
		{"c= with zone", head + "c=IN IP6 fe80::1%" + marker + "\r\nm=audio 4000 RTP/AVP 0\r\n", WarnAddress},
		{"c= not IN", head + "c=XX IP4 " + marker + "\r\nm=audio 4000 RTP/AVP 0\r\n", WarnAddress},
		{"media c= broken, session c= fine", head + audio + "c=IN IP4\r\n", WarnAddress},
		{"telephone-event only", head + audio[:len(audio)-3] + "101\r\na=rtpmap:101 telephone-event/8000\r\n", WarnMediaFormat},
		{"dynamic type without rtpmap only", head + audio[:len(audio)-3] + "96\r\n", WarnMediaFormat},
		{"rtpmap garbage only", head + audio[:len(audio)-3] + "96\r\na=rtpmap:96 " + marker + "\r\n", WarnMediaFormat},
		{"fmtp too long", head + audio + "a=fmtp:0 " + strings.Repeat("x", maxFmtpLen+1) + "\r\n", WarnMediaFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse([]byte(tc.body))
			if err == nil {
				t.Fatalf("accepted: %+v", m)
			}
			if !errors.Is(err, ErrUnacceptable) {
				t.Fatalf("%v does not wrap ErrUnacceptable", err)
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("%T is not an *Error", err)
			}
			if se.Code != tc.code {
				t.Errorf("code %d (%s), want %d", se.Code, se.Text, tc.code)
			}
			checkWarningText(t, se.Text)
			if strings.Contains(err.Error(), marker) {
				t.Errorf("error echoes input: %v", err)
			}
		})
	}
}

// checkWarningText checks that text fits a Warning header's quoted string
// (RFC 3261 §20.43, §25.1) as it is, and is short.
func checkWarningText(t testing.TB, text string) {
	t.Helper()
	if text == "" || len(text) > 60 {
		t.Errorf("warning text %q: want 1 to 60 bytes", text)
	}
	for _, c := range []byte(text) {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			t.Errorf("warning text %q has byte %#x", text, c)
		}
	}
}

func TestFormatLaw(t *testing.T) {
	tests := []struct {
		f   Format
		law g711.Law
		ok  bool
	}{
		{pcmu, g711.Ulaw, true},
		{pcma, g711.Alaw, true},
		{Format{PT: 0, Name: "pcmu", ClockRate: 8000}, g711.Ulaw, true},
		{Format{PT: 97, Name: "PcMa", ClockRate: 8000, Channels: 1}, g711.Alaw, true},
		{Format{PT: 97, Name: "PCMA", ClockRate: 16000, Channels: 1}, 0, false},
		{Format{PT: 97, Name: "PCMU", ClockRate: 8000, Channels: 2}, 0, false},
		{g729, 0, false},
		{*ev(101, ""), 0, false},
	}
	for _, tc := range tests {
		law, ok := tc.f.Law()
		if law != tc.law || ok != tc.ok {
			t.Errorf("%v: Law() = %v %v, want %v %v", tc.f, law, ok, tc.law, tc.ok)
		}
	}
	if !ev(101, "").IsTelephoneEvent() || !(Format{Name: "Telephone-Event"}).IsTelephoneEvent() || pcmu.IsTelephoneEvent() {
		t.Error("IsTelephoneEvent")
	}
}

func TestDirection(t *testing.T) {
	tests := []struct {
		d              Direction
		name           string
		sends, receive bool
	}{
		{SendRecv, "sendrecv", true, true},
		{SendOnly, "sendonly", true, false},
		{RecvOnly, "recvonly", false, true},
		{Inactive, "inactive", false, false},
	}
	for _, tc := range tests {
		if tc.d.String() != tc.name || tc.d.Sends() != tc.sends || tc.d.Receives() != tc.receive || directionOf(tc.sends, tc.receive) != tc.d {
			t.Errorf("%v: %q sends %v receives %v", tc.d, tc.d.String(), tc.d.Sends(), tc.d.Receives())
		}
		if d, ok := parseDirection(strings.ToUpper(tc.name)); !ok || d != tc.d {
			t.Errorf("parseDirection(%q) = %v %v", strings.ToUpper(tc.name), d, ok)
		}
	}
	if s := Direction(9).String(); s != "Direction(9)" {
		t.Errorf("Direction(9) = %q", s)
	}
}

package capture

import (
	"maps"
	"net/netip"
	"slices"
	"testing"
)

// Encodings keeps every rtpmap of an audio m= line, as written, whichever
// reader (pion/sdp or the line-by-line fallback) took the body apart.
func TestSDPMediaEncodings(t *testing.T) {
	const media = "m=audio 5000 RTP/AVP 0 8 9 96 101\r\n" +
		"a=rtpmap:0 PCMU/8000\r\na=rtpmap:9 G722/8000\r\na=rtpmap:96 opus/48000/2\r\n" +
		"a=rtpmap:101 telephone-event/8000\r\na=rtpmap:200 bad/8000\r\na=rtpmap:97 noslash\r\n"
	want := map[uint8]string{0: "PCMU/8000", 9: "G722/8000", 96: "opus/48000/2", 101: "telephone-event/8000"}
	tests := []struct{ name, msg string }{
		{"pion/sdp", "SIP/2.0 200 OK\r\n\r\nv=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n" + media},
		{"line by line", "SIP/2.0 200 OK\r\n\r\nv=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nt=0 0\r\nc=IN IP4 10.0.0.2\r\n" + media},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := sdpMediaFromSIP([]byte(tc.msg))
			if len(got) != 1 {
				t.Fatalf("got %+v, want one audio media", got)
			}
			if !maps.Equal(got[0].Encodings, want) {
				t.Errorf("Encodings %v, want %v", got[0].Encodings, want)
			}
			if got[0].TelephoneEvents[101] != 8000 || len(got[0].TelephoneEvents) != 1 {
				t.Errorf("TelephoneEvents %v", got[0].TelephoneEvents)
			}
		})
	}
}

// MediaFor puts the receiver's SDP first, then the sender's, then either
// by port alone; the latest first within each.
func TestMediaForOrder(t *testing.T) {
	ap := netip.MustParseAddrPort
	key := StreamKey{Src: ap("10.0.0.1:4000"), Dst: ap("10.0.0.2:5000"), SSRC: 1}
	addrs := []string{
		"10.0.0.1:4000",    // 0: sender
		"192.168.0.2:5000", // 1: receiver's port behind NAT
		"10.0.0.2:5000",    // 2: receiver
		"10.0.0.9:9999",    // 3: another stream's
		"10.0.0.2:5000",    // 4: receiver, re-INVITE
		"192.168.0.1:4000", // 5: sender's port behind NAT
	}
	media := make([]SDPMedia, len(addrs))
	for i, a := range addrs {
		media[i] = SDPMedia{Addr: ap(a), TelephoneEvents: map[uint8]int{0: i}} // the map tells them apart
	}
	var order []int
	for m := range MediaFor(key, media) {
		order = append(order, m.TelephoneEvents[0])
	}
	// Receiver exact (4, 2), sender exact (0), receiver's port (4, 2, 1),
	// sender's port (5, 0).
	if want := []int{4, 2, 0, 4, 2, 1, 5, 0}; !slices.Equal(order, want) {
		t.Errorf("order %v, want %v", order, want)
	}
	n := 0
	for range MediaFor(key, media) {
		n++
		break
	}
	if n != 1 {
		t.Error("MediaFor does not stop when asked")
	}
}

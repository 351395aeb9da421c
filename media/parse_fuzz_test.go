package media

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
)

// FuzzParseMatchesPion checks the leg's RTP parse against pion/rtp on any
// datagram: the leg accepts exactly the version 2 packets pion parses
// whose padding (RFC 3550 §5.1) fits, and returns the same payload. Our
// own checks ahead of pion exist to spare it building error values; they
// must neither let through what pion refuses nor refuse what it accepts.
func FuzzParseMatchesPion(f *testing.F) {
	f.Add([]byte{0x80, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 0xAA})
	f.Add([]byte{0x90, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE, 0xDE, 0x00, 0x01, 0x13, 0xAA, 0xBB, 0xCC})
	f.Add([]byte{0x90, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 0x10, 0x00, 0x00, 0x01, 0x05, 0x09, 0x00, 0x00})
	f.Add([]byte{0xA0, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 0xAA, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r receiver
		r.init(false, 0, 0)
		payload, ok := r.parse(b)

		var p rtp.Packet
		pionErr := p.Unmarshal(bytes.Clone(b))
		pionOK := pionErr == nil && p.Version == 2
		if ok != pionOK {
			t.Fatalf("leg parse ok=%v, pion ok=%v (err %v) for % x", ok, pionOK, pionErr, b)
		}
		if ok && !bytes.Equal(payload, p.Payload) {
			t.Fatalf("payload % x, pion % x", payload, p.Payload)
		}
		if ok && (r.pkt.Header.Version != 2 || r.pkt.Header.SequenceNumber != p.SequenceNumber || r.pkt.Header.SSRC != p.SSRC) {
			t.Fatalf("header %+v, pion %+v", r.pkt.Header, p.Header)
		}
	})
}

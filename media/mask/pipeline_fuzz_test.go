package mask

import (
	"dtmfgw/media"
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/rtp"

	"dtmfgw/dtmf/g711"
)

// FuzzPipeline feeds random packets — payload types, sequence numbers,
// timestamps, SSRCs, payloads, arrival steps — to a pipeline and checks it
// never panics and never sends a telephone-event packet, nor any packet of
// a payload type other than audio or comfort noise. Each record of the
// input is: PT, 2-byte sequence, 4-byte timestamp, SSRC selector, arrival
// step in ms, payload length, payload.
func FuzzPipeline(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 0, 0, 0, 0, 20, 4, 0xFF, 0xFF, 0xFF, 0xFF, 101, 0, 2, 0, 0, 0, 0, 0, 1, 4, 5, 10, 0, 160})
	f.Add([]byte{110, 0, 1, 0, 0, 0, 9, 0, 5, 4, 3, 10, 0, 80, 110, 0, 2, 0, 0, 0, 9, 0, 5, 4, 3, 0x8A, 0, 80})
	f.Add([]byte{8, 0, 1, 0, 0, 0, 0, 1, 20, 0, 13, 0, 2, 0, 0, 0, 0, 1, 0, 1, 40})
	f.Fuzz(pipelineFuzzOne)
}

// pipelineFuzzOne is FuzzPipeline's check of one input.
func pipelineFuzzOne(t *testing.T, data []byte) {
	{
		for _, law := range []g711.Law{g711.Ulaw, 0} {
			var sink fuzzSink
			p, err := NewPipeline(Config{Law: law, AudioPT: 0, EventPTs: []uint8{101}, SSRC: 1}, &sink)
			if err != nil {
				t.Fatal(err)
			}
			var pk media.Packet
			at := hEpoch
			rest := data
			for len(rest) >= 10 {
				pt := rest[0] & 0x7F
				seq := binary.BigEndian.Uint16(rest[1:])
				ts := binary.BigEndian.Uint32(rest[3:])
				ssrc := uint32(rest[7] & 3)
				at = at.Add(time.Duration(rest[8]) * time.Millisecond)
				n := int(rest[9])
				rest = rest[10:]
				if n > len(rest) {
					n = len(rest)
				}
				pay := rest[:n]
				rest = rest[n:]
				pk.Header = rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc}
				pk.Payload = pay
				pk.Arrival = at
				p.HandleRTP(&pk)
				if pt&1 == 1 {
					p.Tick(at.Add(7 * time.Millisecond))
				}
				if pt&2 == 2 {
					p.SetSecure(pt&4 == 4)
				}
			}
			if sink.bad != "" {
				t.Fatal(sink.bad)
			}
		}
	}
}

type fuzzSink struct{ bad string }

func (s *fuzzSink) SendRTP(b []byte) error {
	var h rtp.Header
	if _, err := h.Unmarshal(b); err != nil {
		s.bad = "pipeline sent a packet that is not RTP"
	}
	if h.PayloadType != 0 && h.PayloadType != ptComfortNoise {
		s.bad = "pipeline sent a packet of payload type other than audio or comfort noise"
	}
	if h.SSRC != 1 {
		s.bad = "pipeline sent a packet with a foreign SSRC"
	}
	return nil
}

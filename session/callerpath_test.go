package session

import (
	"encoding/binary"
	"testing"
	"time"

	"dtmfgw/dtmf/g711"
	"dtmfgw/media"
	"dtmfgw/media/mask"
)

// sentRecorder is a media.Sender that keeps the headers it was given.
type sentRecorder struct{ seqs, tss []uint32 }

func (r *sentRecorder) SendRTP(b []byte) error {
	if len(b) >= 12 {
		r.seqs = append(r.seqs, uint32(binary.BigEndian.Uint16(b[2:])))
		r.tss = append(r.tss, binary.BigEndian.Uint32(b[4:]))
	}
	return nil
}

func rtpHeader(seq uint16, ts uint32) []byte {
	b := make([]byte, 12+160)
	b[0] = 0x80
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	return b
}

func TestAgentStreamCarriesOnAcrossPipelines(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	rec := &sentRecorder{}
	s := &agentStream{next: rec}

	// Nothing sent yet: a new pipeline starts as it likes.
	s.rebase(media.SentStream{}, t0)
	// The first pipeline's packets pass untouched.
	for i := range 3 {
		s.SendRTP(rtpHeader(65534+uint16(i), 1000+160*uint32(i)))
	}
	// Swap 100 ms after its last packet: the next pipeline starts at
	// sequence 1 (65534, 65535, 0 were sent) and 800 samples on.
	s.rebase(media.SentStream{Packets: 3, LastTimestamp: 1320, LastSent: t0}, t0.Add(100*time.Millisecond))
	first := rtpHeader(7, 5)
	s.SendRTP(first)
	s.SendRTP(rtpHeader(8, 165))
	// A pipeline that sent nothing is swapped again at once: the step
	// is still judged from the last packet that went out.
	s.rebase(media.SentStream{}, t0.Add(100*time.Millisecond))
	s.SendRTP(rtpHeader(50000, 1<<31))

	wantSeq := []uint32{65534, 65535, 0, 1, 2, 3}
	wantTS := []uint32{1000, 1160, 1320, 2120, 2280, 2280 + 800}
	for i := range wantSeq {
		if rec.seqs[i] != wantSeq[i] || rec.tss[i] != wantTS[i] {
			t.Errorf("packet %d: sequence %d timestamp %d, want %d %d", i, rec.seqs[i], rec.tss[i], wantSeq[i], wantTS[i])
		}
	}
	if first[1]&0x80 == 0 {
		t.Error("the new pipeline's first packet has no marker")
	}
	// Not RTP: passed on as it is.
	if err := s.SendRTP([]byte{1, 2, 3}); err != nil {
		t.Error(err)
	}
}

// discard is a media.Sender that sends nothing.
type discard struct{}

func (discard) SendRTP([]byte) error { return nil }

// newBenchPath returns a caller path with a G.711 masking pipeline taken
// in, writing through an agentStream to nowhere, and one audio packet.
func newBenchPath(tb testing.TB) (*callerPath, *media.Packet) {
	tb.Helper()
	out := &agentStream{next: discard{}}
	path := &callerPath{out: out}
	pl, err := mask.NewPipeline(mask.Config{Law: g711.Ulaw, AudioPT: testAudioPT, EventPTs: []uint8{testEventPT}, Presses: make(chan mask.Press, 4)}, out)
	if err != nil {
		tb.Fatal(err)
	}
	path.pending.Store(pl)
	raw := rtpHeader(1, 0)
	pkt := &media.Packet{Raw: raw, Payload: raw[12:], Arrival: time.Unix(0, 0)}
	pkt.Header.Version, pkt.Header.PayloadType, pkt.Header.SSRC = 2, testAudioPT, 0x1234
	copy(pkt.Payload, silence(160))
	path.HandleRTP(pkt) // takes the pipeline in
	return path, pkt
}

// next moves pkt on by one 20 ms packet.
func next(pkt *media.Packet) {
	pkt.Header.SequenceNumber++
	pkt.Header.Timestamp += 160
	pkt.Arrival = pkt.Arrival.Add(ptime)
}

func TestCallerPathAllocatesNothingPerPacket(t *testing.T) {
	path, pkt := newBenchPath(t)
	if n := testing.AllocsPerRun(200, func() {
		next(pkt)
		path.HandleRTP(pkt)
		path.Tick(pkt.Arrival)
	}); n != 0 {
		t.Errorf("%v allocations per packet", n)
	}
}

func BenchmarkCallerPath(b *testing.B) {
	path, pkt := newBenchPath(b)
	b.ReportAllocs()
	for b.Loop() {
		next(pkt)
		path.HandleRTP(pkt)
	}
}

func BenchmarkAgentStreamSendRTP(b *testing.B) {
	for _, rebased := range []bool{false, true} {
		name := "first-pipeline"
		if rebased {
			name = "after-swap"
		}
		b.Run(name, func(b *testing.B) {
			s := &agentStream{next: discard{}}
			pkt := rtpHeader(1, 0)
			s.SendRTP(pkt)
			if rebased {
				s.rebase(media.SentStream{Packets: 1, LastSent: time.Unix(0, 0)}, time.Unix(1, 0))
			}
			b.ReportAllocs()
			for b.Loop() {
				binary.BigEndian.PutUint16(pkt[2:], binary.BigEndian.Uint16(pkt[2:])+1)
				s.SendRTP(pkt)
			}
		})
	}
}

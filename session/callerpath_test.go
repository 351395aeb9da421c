package session

import (
	"encoding/binary"
	"testing"
	"time"

	"dtmfgw/media"
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

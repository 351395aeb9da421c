package media

import (
	"math"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// FuzzReceiveStats drives ReceiveStats with arbitrary packet sequences and
// checks its bookkeeping: every packet is counted once, received and
// duplicates never exceed what arrived, lost is expected − received, and
// jitter stays a finite, non-negative number. Each 6-byte record of the
// input is: SSRC selector (one of 3), sequence number (2 bytes), timestamp
// step (signed, ×160), arrival step (ms), payload type bit (0 or 101).
func FuzzReceiveStats(f *testing.F) {
	f.Add([]byte{0, 0, 1, 1, 20, 0, 0, 0, 2, 1, 20, 0, 0, 0, 4, 1, 25, 0, 0, 0, 3, 1, 10, 0})
	f.Add([]byte{0, 0xFF, 0xFE, 1, 20, 0, 0, 0xFF, 0xFF, 1, 20, 0, 0, 0, 0, 1, 20, 0, 1, 0, 9, 1, 20, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		var s ReceiveStats
		s.SetEventPayloadTypes(101)
		ssrcs := [3]uint32{1, 2, 0xFFFFFFFF}
		at := t0
		var ts uint32
		n := 0
		for ; len(in) >= 6; in = in[6:] {
			ts += uint32(int32(int8(in[3])) * 160)
			at = at.Add(time.Duration(in[4]) * time.Millisecond)
			pt := uint8(0)
			if in[5]&1 != 0 {
				pt = 101
			}
			h := rtp.Header{Version: 2, SSRC: ssrcs[int(in[0])%3], SequenceNumber: uint16(in[1])<<8 | uint16(in[2]), Timestamp: ts, PayloadType: pt}
			s.Update(&h, 172, 160, at)
			n++
			snap := s.Snapshot()
			if snap.Packets != uint64(n) {
				t.Fatalf("Packets = %d after %d updates", snap.Packets, n)
			}
			if snap.Received+snap.Duplicates > snap.Packets || snap.Reordered > snap.Received {
				t.Fatalf("received %d, duplicates %d, reordered %d of %d packets", snap.Received, snap.Duplicates, snap.Reordered, snap.Packets)
			}
			if snap.Lost != int64(snap.Expected)-int64(snap.Received) {
				t.Fatalf("lost %d != expected %d − received %d", snap.Lost, snap.Expected, snap.Received)
			}
			if snap.JitterTS < 0 || math.IsNaN(snap.JitterTS) || math.IsInf(snap.JitterTS, 0) {
				t.Fatalf("jitter %v", snap.JitterTS)
			}
		}
	})
}

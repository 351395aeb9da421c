package mask

import (
	"encoding/binary"
	"testing"
	"time"
)

func TestRewriterStream(t *testing.T) {
	type step struct {
		op         string // "fwd", "drop", "synth"
		ssrc       uint32
		seq        uint16
		ts         uint32
		wantSeq    uint16
		wantTS     uint32
		wantMarker bool
	}
	steps := []step{
		{op: "fwd", ssrc: 1, seq: 100, ts: 1000, wantSeq: 500, wantTS: 9000, wantMarker: true},
		{op: "fwd", ssrc: 1, seq: 101, ts: 1160, wantSeq: 501, wantTS: 9160},
		{op: "drop", ssrc: 1, seq: 102},
		{op: "fwd", ssrc: 1, seq: 103, ts: 1320, wantSeq: 502, wantTS: 9320}, // the dropped event opens no gap
		{op: "fwd", ssrc: 1, seq: 105, ts: 1640, wantSeq: 504, wantTS: 9640}, // the input's own gap is kept
		{op: "synth", wantSeq: 505, wantTS: 9800},                            // made-up packets continue
		{op: "synth", wantSeq: 506, wantTS: 9960},
		{op: "fwd", ssrc: 1, seq: 106, ts: 1800, wantSeq: 507, wantTS: 10120},               // and the input lands after them
		{op: "fwd", ssrc: 2, seq: 7, ts: 55, wantSeq: 508, wantTS: 10280, wantMarker: true}, // new caller SSRC: ours continues
	}
	w := newRewriter(0xCAFE, 500, 9000)
	var buf [rtpHeaderLen]byte
	now := hEpoch
	for i, s := range steps {
		now = now.Add(20 * time.Millisecond)
		switch s.op {
		case "drop":
			w.drop(s.ssrc, s.seq)
			continue
		case "synth":
			w.synth(buf[:], 0, 160, now)
		default:
			w.forward(buf[:], s.ssrc, s.seq, s.ts, false, 0, 160, now)
		}
		seq := binary.BigEndian.Uint16(buf[2:])
		ts := binary.BigEndian.Uint32(buf[4:])
		if seq != s.wantSeq || ts != s.wantTS || (buf[1]&0x80 != 0) != s.wantMarker || binary.BigEndian.Uint32(buf[8:]) != 0xCAFE || buf[0] != 0x80 {
			t.Errorf("step %d (%s): seq %d ts %d marker %v, want %d %d %v", i, s.op, seq, ts, buf[1]&0x80 != 0, s.wantSeq, s.wantTS, s.wantMarker)
		}
	}
}

package mask

import (
	"testing"
	"time"
	"unsafe"

	"github.com/pion/rtp"

	"dtmfgw/dtmf/g711"
	"dtmfgw/media"
)

// A pipeline names, after each packet, the memory its next packet will
// use: its own state, the look-ahead's ring where the next packet is
// written and read, and the Detector's state and history. (The relay's
// and the legs' names are media's test.)
func TestPipelineNamesWhatItsNextPacketUses(t *testing.T) {
	p, err := NewPipeline(Config{Law: g711.Ulaw, AudioPT: 0, EventPTs: []uint8{101}, SSRC: 9}, discardSender{})
	if err != nil {
		t.Fatal(err)
	}
	var w media.WarmList
	pk := media.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 5}, Payload: speechLike(), Warm: &w}
	// Thirty packets: the look-ahead's ring wraps on the way, splitting
	// its spans; the list must still have room for everything.
	var marker [64]byte
	for i := range 30 {
		w.Reset()
		// What the receiver and the relay name before the pipeline: six
		// spans.
		for range 6 {
			w.Add(unsafe.Pointer(&marker), 1)
		}
		pk.Header.SequenceNumber = uint16(i)
		pk.Header.Timestamp = uint32(i * hFrame)
		pk.Arrival = hEpoch.Add(time.Duration(i) * 20 * time.Millisecond)
		p.HandleRTP(&pk)
		la := p.la
		det := la.det.NextRegions(hFrame)
		for _, c := range []struct {
			what string
			p    unsafe.Pointer
			size uintptr
		}{
			{"pipeline counters", unsafe.Pointer(&p.c), unsafe.Sizeof(p.c)},
			{"pipeline sequence state", unsafe.Pointer(&p.lastAudioSeq), 2},
			{"packet buffer", unsafe.Pointer(&p.buf), rtpHeaderLen + hFrame},
			{"look-ahead positions", unsafe.Pointer(&la.writePos), 8},
			{"ring at the next write", unsafe.Pointer(&la.ring[la.writePos&(ringCap-1)]), 1},
			{"ring at the next read", unsafe.Pointer(&la.ring[la.readPos&(ringCap-1)]), 1},
			{"detector state", det[0].Addr, det[0].Len},
			{"detector history", det[1].Addr, det[1].Len},
		} {
			if !w.Covers(c.p, c.size) {
				t.Fatalf("packet %d: the list does not name the %s (a full list drops what comes last)", i, c.what)
			}
		}
		if det[1].Len == 0 {
			t.Fatalf("detector history region is empty")
		}
	}
}

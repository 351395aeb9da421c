package mask

import (
	"encoding/binary"
	"testing"
	"time"

	"dtmfgw/dtmf/g711"
	"dtmfgw/media"
)

// headerRecorder is a media.Sender that keeps the headers it was given.
type headerRecorder struct {
	seqs, tss []uint32
	marks     []bool
	ssrcs     []uint32
}

func (r *headerRecorder) SendRTP(b []byte) error {
	r.seqs = append(r.seqs, uint32(binary.BigEndian.Uint16(b[2:])))
	r.tss = append(r.tss, binary.BigEndian.Uint32(b[4:]))
	r.marks = append(r.marks, b[1]&0x80 != 0)
	r.ssrcs = append(r.ssrcs, binary.BigEndian.Uint32(b[8:]))
	return nil
}

// audioPacket is a caller's 20 ms packet of payload type 0.
func audioPacket(seq uint16, ts uint32, at time.Time) *media.Packet {
	pk := &media.Packet{Payload: make([]byte, 160), Arrival: at}
	pk.Header.Version, pk.Header.PayloadType, pk.Header.SSRC = 2, 0, 0x1234
	pk.Header.SequenceNumber, pk.Header.Timestamp = seq, ts
	return pk
}

// A re-INVITE's new pipeline carries the agent's stream on: same SSRC,
// the next sequence number, a timestamp advanced by the time that passed,
// marker set. A pipeline replaced before it saw a packet changes nothing.
func TestPathCarriesTheAgentStreamAcrossPipelines(t *testing.T) {
	rec := &headerRecorder{}
	path := NewPath(rec, NewJoiner(4))
	cfg := Config{AudioPT: 0} // relayed as it is: one packet out per packet in
	if err := path.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	ms := func(n int) time.Time { return hEpoch.Add(time.Duration(n) * time.Millisecond) }
	for i := range 3 {
		path.HandleRTP(audioPacket(uint16(100+i), uint32(8000+160*i), ms(20*i)))
	}
	// A new pipeline, then another before a packet came: the second wins.
	if err := path.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	if err := path.Configure(Config{AudioPT: 0, EventPTs: []uint8{101}}); err != nil {
		t.Fatal(err)
	}
	// The caller's stream starts afresh (new SSRC, sequence, timestamp)
	// 100 ms after the last packet out.
	for i, pk := range []*media.Packet{audioPacket(7, 5, ms(140)), audioPacket(8, 165, ms(160))} {
		pk.Header.SSRC = 0x9999
		path.HandleRTP(pk)
		if i == 0 && path.Swaps() != 1 {
			t.Fatalf("Swaps = %d after the first packet, want 1 (the displaced pipeline never taken in)", path.Swaps())
		}
	}

	if len(rec.seqs) != 5 {
		t.Fatalf("%d packets out, want 5", len(rec.seqs))
	}
	for i := 1; i < 5; i++ {
		if rec.seqs[i] != (rec.seqs[i-1]+1)&0xFFFF {
			t.Errorf("packet %d: sequence %d after %d", i, rec.seqs[i], rec.seqs[i-1])
		}
		if rec.ssrcs[i] != rec.ssrcs[0] {
			t.Errorf("packet %d: SSRC %#x, want the call's %#x", i, rec.ssrcs[i], rec.ssrcs[0])
		}
	}
	if d := rec.tss[3] - rec.tss[2]; d != 800 {
		t.Errorf("timestamp step across the swap %d, want 800 (100 ms at 8 kHz)", d)
	}
	if d := rec.tss[4] - rec.tss[3]; d != 160 {
		t.Errorf("timestamp step after the swap %d, want 160", d)
	}
	if !rec.marks[3] || rec.marks[4] {
		t.Errorf("markers %v: want the new pipeline's first packet marked, the next not", rec.marks)
	}
	if st := path.Stats(); st.Sent != 5 || st.AudioPackets != 5 {
		t.Errorf("stats over the pipelines: sent %d, audio %d; want 5 and 5", st.Sent, st.AudioPackets)
	}
}

// newBenchPath returns a path with a G.711 masking pipeline taken in,
// writing to nowhere, and one audio packet.
func newBenchPath(tb testing.TB) (*Path, *media.Packet) {
	tb.Helper()
	path := NewPath(discardSender{}, NewJoiner(4))
	if err := path.Configure(Config{Law: g711.Ulaw, AudioPT: 0, EventPTs: []uint8{101}}); err != nil {
		tb.Fatal(err)
	}
	pk := audioPacket(1, 0, hEpoch)
	copy(pk.Payload, speechLike())
	path.HandleRTP(pk) // takes the pipeline in
	return path, pk
}

func TestPathAllocatesNothingPerPacket(t *testing.T) {
	path, pk := newBenchPath(t)
	if n := testing.AllocsPerRun(200, func() {
		pk.Header.SequenceNumber++
		pk.Header.Timestamp += 160
		pk.Arrival = pk.Arrival.Add(20 * time.Millisecond)
		path.HandleRTP(pk)
		path.Tick(pk.Arrival)
	}); n != 0 {
		t.Errorf("%v allocations per packet", n)
	}
}

func BenchmarkPath(b *testing.B) {
	path, pk := newBenchPath(b)
	b.ReportAllocs()
	for b.Loop() {
		pk.Header.SequenceNumber++
		pk.Header.Timestamp += 160
		pk.Arrival = pk.Arrival.Add(20 * time.Millisecond)
		path.HandleRTP(pk)
	}
}

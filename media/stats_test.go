package media

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// t0 is an arbitrary arrival-time origin for the stats tests.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// pkt is one packet fed to ReceiveStats: SSRC, sequence number, timestamp
// and arrival in milliseconds after t0.
type pkt struct {
	ssrc uint32
	seq  uint16
	ts   uint32
	atMs int
}

// seqs makes packets of one SSRC with the given sequence numbers, 20 ms
// apart on both clocks.
func seqs(ssrc uint32, ns ...uint16) []pkt {
	out := make([]pkt, len(ns))
	for i, n := range ns {
		out[i] = pkt{ssrc: ssrc, seq: n, ts: uint32(n) * 160, atMs: 20 * i}
	}
	return out
}

func feed(s *ReceiveStats, ps []pkt) []PacketClass {
	classes := make([]PacketClass, len(ps))
	for i, p := range ps {
		h := rtp.Header{Version: 2, SSRC: p.ssrc, SequenceNumber: p.seq, Timestamp: p.ts}
		classes[i] = s.Update(&h, 12+160, 160, t0.Add(time.Duration(p.atMs)*time.Millisecond))
	}
	return classes
}

func TestReceiveStatsSequence(t *testing.T) {
	tests := []struct {
		name    string
		packets []pkt
		// want: expected, received, lost, duplicates, reordered, sources
		expected, received uint64
		lost               int64
		dups, reordered    uint64
		sources            uint64
	}{
		{
			// RFC 3550 §A.1: the first packet of a new source is on
			// probation and not counted; the second becomes the base.
			name:     "in order: first packet on probation",
			packets:  seqs(1, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109),
			expected: 9, received: 9, lost: 0, sources: 1,
		},
		{
			name:     "gaps are loss",
			packets:  seqs(1, 1, 2, 3, 5, 6, 9),
			expected: 8, received: 5, lost: 3, sources: 1,
		},
		{
			name:     "sequence wrap keeps counting (cycles)",
			packets:  seqs(1, 65533, 65534, 65535, 0, 1, 2),
			expected: 5, received: 5, lost: 0, sources: 1,
		},
		{
			name:     "loss across the wrap",
			packets:  seqs(1, 65534, 65535, 1, 2),
			expected: 4, received: 3, lost: 1, sources: 1,
		},
		{
			name:     "duplicates are not counted as received",
			packets:  seqs(1, 1, 2, 3, 3, 4, 2),
			expected: 3, received: 3, lost: 0, dups: 2, sources: 1,
		},
		{
			name:     "reordered packet fills its gap",
			packets:  seqs(1, 1, 2, 4, 3, 5),
			expected: 4, received: 4, lost: 0, reordered: 1, sources: 1,
		},
		{
			name:     "late packet then its duplicate",
			packets:  seqs(1, 1, 2, 3, 4, 6, 5, 5),
			expected: 5, received: 5, lost: 0, dups: 1, reordered: 1, sources: 1,
		},
		{
			name:     "late duplicate across the wrap",
			packets:  seqs(1, 65534, 65535, 0, 1, 65535),
			expected: 3, received: 3, lost: 0, dups: 1, sources: 1,
		},
		{
			name:     "large gap within max dropout is loss",
			packets:  seqs(1, 1, 2, 1000),
			expected: 999, received: 2, lost: 997, sources: 1,
		},
		{
			// Behind by more than maxMisorder: a jump awaiting a second
			// packet in sequence, not counted.
			name:     "very old packet is not counted",
			packets:  seqs(1, 1, 2, 300, 50),
			expected: 299, received: 2, lost: 297, sources: 1,
		},
		{
			// §A.1: a jump confirmed by the next packet in sequence is a
			// restarted sender; the old epoch is folded into the totals.
			name:     "restart after a confirmed jump",
			packets:  seqs(1, 1, 2, 3, 20000, 20001, 20002),
			expected: 4, received: 4, lost: 0, sources: 1,
		},
		{
			name:     "SSRC change starts a new source on probation",
			packets:  append(seqs(1, 1, 2, 3, 4, 5), seqs(2, 1000, 1001, 1002)...),
			expected: 6, received: 6, lost: 0, sources: 2,
		},
		{
			name:     "SSRC change keeps the loss of the old source",
			packets:  append(seqs(1, 1, 2, 3, 5), seqs(2, 10, 11, 13)...),
			expected: 7, received: 5, lost: 2, sources: 2,
		},
		{
			name:     "new source failing probation is not counted",
			packets:  append(seqs(1, 1, 2, 3), seqs(2, 10, 12, 14)...),
			expected: 2, received: 2, lost: 0, sources: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s ReceiveStats
			feed(&s, tc.packets)
			got := s.Snapshot()
			if got.Packets != uint64(len(tc.packets)) {
				t.Errorf("Packets = %d, want %d", got.Packets, len(tc.packets))
			}
			if got.Bytes != uint64(len(tc.packets))*172 || got.PayloadBytes != uint64(len(tc.packets))*160 {
				t.Errorf("Bytes, PayloadBytes = %d, %d", got.Bytes, got.PayloadBytes)
			}
			if got.Expected != tc.expected || got.Received != tc.received || got.Lost != tc.lost {
				t.Errorf("expected/received/lost = %d/%d/%d, want %d/%d/%d",
					got.Expected, got.Received, got.Lost, tc.expected, tc.received, tc.lost)
			}
			if got.Duplicates != tc.dups || got.Reordered != tc.reordered {
				t.Errorf("duplicates/reordered = %d/%d, want %d/%d", got.Duplicates, got.Reordered, tc.dups, tc.reordered)
			}
			if got.Sources != tc.sources || got.SSRC != tc.packets[len(tc.packets)-1].ssrc {
				t.Errorf("sources/SSRC = %d/%d, want %d/%d", got.Sources, got.SSRC, tc.sources, tc.packets[len(tc.packets)-1].ssrc)
			}
		})
	}
}

func TestReceiveStatsSourceTable(t *testing.T) {
	// RFC 3550 keeps state per SSRC: a source that comes back continues
	// where it was, without a new probation.
	at := func(ps []pkt, fromMs int) []pkt {
		for i := range ps {
			ps[i].atMs = fromMs + 20*i
		}
		return ps
	}
	tests := []struct {
		name               string
		packets            []pkt
		expected, received uint64
		sources            uint64
		ssrc               uint32
	}{
		{
			name: "a source that returns continues",
			packets: append(append(at(seqs(1, 1, 2, 3), 0), at(seqs(2, 10, 11, 12), 60)...),
				at(seqs(1, 4, 5, 6), 120)...),
			// SSRC 1: 2..6 (1 on probation); SSRC 2: 11..12.
			expected: 7, received: 7, sources: 2, ssrc: 1,
		},
		{
			name: "the least recently heard source is dropped when the table is full",
			packets: append(append(append(append(append(
				at(seqs(1, 1, 2, 3), 0), at(seqs(2, 1, 2, 3), 60)...), at(seqs(3, 1, 2, 3), 120)...),
				at(seqs(4, 1, 2, 3), 180)...), at(seqs(5, 1, 2, 3), 240)...),
				at(seqs(1, 4, 5), 300)...),
			// Five sources of 2 counted packets each; SSRC 1 was dropped
			// for SSRC 5 (its counts kept), and on return is new again:
			// 4 on probation, 5 counted.
			expected: 11, received: 11, sources: 6, ssrc: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s ReceiveStats
			feed(&s, tc.packets)
			got := s.Snapshot()
			if got.Expected != tc.expected || got.Received != tc.received || got.Lost != 0 {
				t.Errorf("expected/received/lost = %d/%d/%d, want %d/%d/0", got.Expected, got.Received, got.Lost, tc.expected, tc.received)
			}
			if got.Sources != tc.sources || got.SSRC != tc.ssrc {
				t.Errorf("sources/SSRC = %d/%d, want %d/%d", got.Sources, got.SSRC, tc.sources, tc.ssrc)
			}
		})
	}
}

func TestReceiveStatsEventsOnTheirOwnSSRC(t *testing.T) {
	// Some senders put telephone-events on an SSRC of their own, in the
	// middle of the audio. Neither stream may disturb the other's loss,
	// and jitter and SSRC stay the audio's.
	var s ReceiveStats
	s.SetEventPayloadTypes(101)
	aseq, eseq := uint16(1000), uint16(50)
	for i := range 40 {
		at := t0.Add(time.Duration(i) * 20 * time.Millisecond)
		a := rtp.Header{Version: 2, SSRC: 0xA, PayloadType: 0, SequenceNumber: aseq, Timestamp: uint32(i) * 160}
		s.Update(&a, 172, 160, at)
		aseq++
		if i >= 10 && i < 20 {
			e := rtp.Header{Version: 2, SSRC: 0xE, PayloadType: 101, SequenceNumber: eseq, Timestamp: 10 * 160}
			s.Update(&e, 16, 4, at.Add(3*time.Millisecond))
			eseq++
		}
	}
	got := s.Snapshot()
	// Audio: 40 packets, 39 counted; events: 10 packets, 9 counted.
	if got.Expected != 48 || got.Received != 48 || got.Lost != 0 {
		t.Errorf("expected/received/lost = %d/%d/%d, want 48/48/0", got.Expected, got.Received, got.Lost)
	}
	if got.SSRC != 0xA || got.JitterTS != 0 || got.Sources != 2 {
		t.Errorf("SSRC %#x, jitter %v, sources %d; want the audio's 0xa, 0, 2", got.SSRC, got.JitterTS, got.Sources)
	}
}

func TestReceiveStatsClassifiesPackets(t *testing.T) {
	var s ReceiveStats
	got := feed(&s, seqs(7, 1, 2, 4, 3, 3, 5, 40000))
	want := []PacketClass{Probation, InSequence, InSequence, Late, Duplicate, InSequence, Probation}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("packet %d: class %d, want %d", i, got[i], want[i])
		}
	}
}

func TestReceiveStatsManyWraps(t *testing.T) {
	// 200 000 packets in order cross three wraps of the 16-bit sequence
	// number; the extended sequence number must keep counting (§A.1 cycles).
	var s ReceiveStats
	h := rtp.Header{Version: 2, SSRC: 9, SequenceNumber: 60000}
	const n = 200000
	for i := range n {
		s.Update(&h, 172, 160, t0.Add(time.Duration(i)*20*time.Millisecond))
		h.SequenceNumber++
		h.Timestamp += 160
	}
	got := s.Snapshot()
	if got.Expected != n-1 || got.Received != n-1 || got.Lost != 0 {
		t.Fatalf("expected/received/lost = %d/%d/%d, want %d/%d/0", got.Expected, got.Received, got.Lost, n-1, n-1)
	}
}

func TestReceiveStatsJitterHandComputed(t *testing.T) {
	// 8 kHz, 20 ms packets (160 timestamp units). Arrivals 0, 20, 45, 60,
	// 80 ms. The first packet is on probation; the second sets the transit
	// time. RFC 3550 §A.8, J += (|D| − J)/16, D in timestamp units:
	//   packet 3: 5 ms late  → |D| = 40 → J = 0 + 40/16             = 2.5
	//   packet 4: back on time → |D| = 40 → J = 2.5 + (40−2.5)/16   = 4.84375
	//   packet 5: on time      → |D| = 0  → J = 4.84375 − 4.84375/16 = 4.541015625
	// In milliseconds: 4.541015625 / 8 = 0.567626953125.
	var s ReceiveStats
	s.SetClockRate(8000)
	ps := []pkt{
		{1, 1, 0, 0}, {1, 2, 160, 20}, {1, 3, 320, 45}, {1, 4, 480, 60}, {1, 5, 640, 80},
	}
	wants := []float64{0, 0, 2.5, 4.84375, 4.541015625}
	for i, p := range ps {
		feed(&s, ps[i:i+1])
		if got := s.Snapshot().JitterTS; got != wants[i] {
			t.Fatalf("after packet %d (seq %d): jitter %v, want %v", i+1, p.seq, got, wants[i])
		}
	}
	if got := s.Snapshot().JitterMs; math.Abs(got-0.567626953125) > 1e-12 {
		t.Fatalf("JitterMs = %v, want 0.567626953125", got)
	}
}

func TestReceiveStatsJitterClockRate(t *testing.T) {
	// The same 5 ms delay at 48 kHz is 240 timestamp units: J = 240/16 = 15
	// units, 15/48 = 0.3125 ms.
	var s ReceiveStats
	s.SetClockRate(48000)
	feed(&s, []pkt{{1, 1, 0, 0}, {1, 2, 960, 20}, {1, 3, 1920, 45}})
	got := s.Snapshot()
	if got.JitterTS != 15 || got.JitterMs != 0.3125 {
		t.Fatalf("jitter = %v units, %v ms; want 15, 0.3125", got.JitterTS, got.JitterMs)
	}
}

func TestReceiveStatsJitterIgnoresRepeatedTimestamps(t *testing.T) {
	// RFC 4733 §2.5.1.1: every packet of one telephone event carries the
	// event's start timestamp while arrivals advance 20 ms; those repeats
	// are not delay.
	var s ReceiveStats
	feed(&s, []pkt{{1, 1, 0, 0}, {1, 2, 160, 20}, {1, 3, 320, 40}, {1, 4, 320, 60}, {1, 5, 320, 80}, {1, 6, 320, 100}})
	if got := s.Snapshot().JitterTS; got != 0 {
		t.Fatalf("jitter %v after repeated event timestamps, want 0", got)
	}
}

func TestReceiveStatsJitterLeavesOutEventPayloadTypes(t *testing.T) {
	// Audio (PT 0) every 20 ms, perfectly timed, with RFC 4733 packets
	// (PT 101) of one event interleaved on the same SSRC: their timestamp
	// stays at the event's start while they are sent later and later.
	h := func(seq uint16, pt uint8, ts uint32) rtp.Header {
		return rtp.Header{Version: 2, SSRC: 5, SequenceNumber: seq, PayloadType: pt, Timestamp: ts}
	}
	run := func(s *ReceiveStats) float64 {
		seq := uint16(0)
		for i := range 20 {
			at := t0.Add(time.Duration(i) * 20 * time.Millisecond)
			seq++
			a := h(seq, 0, uint32(i)*160)
			s.Update(&a, 172, 160, at)
			if i >= 5 {
				seq++
				e := h(seq, 101, 5*160)
				s.Update(&e, 16, 4, at)
			}
		}
		return s.Snapshot().JitterTS
	}
	var mixed ReceiveStats
	if j := run(&mixed); j == 0 {
		t.Fatal("event packets did not disturb jitter when not named: the test shows nothing")
	}
	var named ReceiveStats
	named.SetEventPayloadTypes(101)
	if j := run(&named); j != 0 {
		t.Fatalf("jitter %v with PT 101 named as events, want 0 (the audio is perfectly timed)", j)
	}
	named.SetEventPayloadTypes()
	if named.skipsJitter(101) {
		t.Fatal("SetEventPayloadTypes() did not clear the set")
	}
}

func TestReceiveStatsJitterResetsOnNewSource(t *testing.T) {
	var s ReceiveStats
	feed(&s, []pkt{{1, 1, 0, 0}, {1, 2, 160, 20}, {1, 3, 320, 45}})
	if s.Snapshot().JitterTS == 0 {
		t.Fatal("no jitter before the SSRC change")
	}
	feed(&s, []pkt{{2, 50, 0, 60}})
	if got := s.Snapshot().JitterTS; got != 0 {
		t.Fatalf("jitter %v after SSRC change, want 0", got)
	}
}

func TestReceiveStatsDropCounters(t *testing.T) {
	var s ReceiveStats
	s.CountWrongSource()
	s.CountWrongSource()
	s.CountMalformed()
	s.CountOversize()
	got := s.Snapshot()
	if got.DroppedWrongSource != 2 || got.DroppedMalformed != 1 || got.DroppedOversize != 1 || got.Packets != 0 {
		t.Fatalf("drops = %+v", got)
	}
}

func TestLossFraction(t *testing.T) {
	tests := []struct {
		name string
		s    ReceiveSnapshot
		want float64
	}{
		{"nothing expected", ReceiveSnapshot{}, 0},
		{"negative loss", ReceiveSnapshot{Expected: 10, Lost: -1}, 0},
		{"five percent", ReceiveSnapshot{Expected: 100, Lost: 5}, 0.05},
		{"clamped", ReceiveSnapshot{Expected: 1, Lost: 5}, 1},
	}
	for _, tc := range tests {
		if got := tc.s.LossFraction(); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestReceiveStatsSnapshotWhileUpdating(t *testing.T) {
	// One writer, concurrent readers: run with -race. Counters only grow.
	var s ReceiveStats
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		var last uint64
		for {
			select {
			case <-stop:
				return
			default:
			}
			snap := s.Snapshot()
			if snap.Packets < last {
				t.Errorf("Packets went back from %d to %d", last, snap.Packets)
				return
			}
			last = snap.Packets
		}
	}()
	h := rtp.Header{Version: 2, SSRC: 1}
	for i := range 20000 {
		h.SequenceNumber++
		h.Timestamp += 160
		s.Update(&h, 172, 160, t0.Add(time.Duration(i)*20*time.Millisecond))
	}
	close(stop)
	wg.Wait()
	if got := s.Snapshot().Packets; got != 20000 {
		t.Fatalf("Packets = %d, want 20000", got)
	}
}

func TestReceiveStatsUpdateAllocatesNothing(t *testing.T) {
	var s ReceiveStats
	h := rtp.Header{Version: 2, SSRC: 1}
	at := t0
	allocs := testing.AllocsPerRun(1000, func() {
		h.SequenceNumber++
		h.Timestamp += 160
		at = at.Add(20 * time.Millisecond)
		s.Update(&h, 172, 160, at)
	})
	if allocs != 0 {
		t.Fatalf("Update allocates %v per packet, want 0", allocs)
	}
}

func TestSendStats(t *testing.T) {
	var s SendStats
	s.Count(172, nil)
	s.Count(172, nil)
	s.Count(0, errTest)
	if got := s.Snapshot(); got != (SendSnapshot{Packets: 2, Bytes: 344, Errors: 1}) {
		t.Fatalf("SendSnapshot = %+v", got)
	}
}

var errTest = &testError{}

type testError struct{}

func (*testError) Error() string { return "test error" }

func BenchmarkStatsUpdate(b *testing.B) {
	var s ReceiveStats
	h := rtp.Header{Version: 2, SSRC: 1}
	at := t0
	b.ReportAllocs()
	for b.Loop() {
		h.SequenceNumber++
		h.Timestamp += 160
		at = at.Add(20 * time.Millisecond)
		s.Update(&h, 172, 160, at)
	}
}

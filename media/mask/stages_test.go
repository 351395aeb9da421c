package mask

import (
	"testing"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
)

func TestEventStageClassify(t *testing.T) {
	s := eventStage{audioPT: 0, npt: 1, pts: [maxEventPTs]uint8{101}}
	ev := dtmf.TelephoneEvent{Code: 5, Volume: 10, Duration: 160}.AppendTo(nil)
	cases := []struct {
		name    string
		pt      uint8
		payload []byte
		want    packetClass
	}{
		{"audio", 0, make([]byte, 160), classAudio},
		{"negotiated events", 101, ev, classEvent},
		{"negotiated type, any payload", 101, []byte{1, 2, 3}, classEvent},
		{"comfort noise", 13, []byte{40}, classComfortNoise},
		{"events on an un-negotiated dynamic type", 110, ev, classGuessedEvent},
		{"two events packed", 96, append(append([]byte{}, ev...), ev...), classGuessedEvent},
		{"dynamic type, not a whole event", 110, []byte{5, 10, 0}, classOther},
		{"dynamic type, code above 15", 110, []byte{16, 10, 0, 160}, classOther},
		{"dynamic type, too long for events", 110, make([]byte, 4*(maxEventsPerPacket+1)), classOther},
		{"static type not negotiated (PCMA)", 8, make([]byte, 160), classOther},
	}
	for _, tc := range cases {
		if got := s.classify(tc.pt, tc.payload); got != tc.want {
			t.Errorf("%s: class %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestMaskPlayerPlaysOneFixedToneFromItsStart(t *testing.T) {
	tone := []byte{1, 2, 3, 4, 5, 6, 7}
	m := maskPlayer{tone: tone, silence: 0xFF}
	dst := make([]byte, 3)
	if m.fill(dst, 100) {
		t.Fatal("played with nothing queued")
	}
	m.enqueue(10)
	if m.fill(dst, 10) {
		t.Fatal("played before the tone's start")
	}
	var got []byte
	for m.fill(dst, 13) {
		got = append(got, dst...)
	}
	if want := []byte{1, 2, 3, 4, 5, 6, 7, 0xFF, 0xFF}; string(got) != string(want) {
		t.Errorf("played %v, want %v", got, want)
	}
	for i := 0; i < maxPendingTones+2; i++ {
		m.enqueue(20)
	}
	if m.merged != 2 || !m.active() {
		t.Errorf("merged %d, active %v; want 2, true", m.merged, m.active())
	}
}

func TestMaskSpans(t *testing.T) {
	var s maskSpans
	openSpan(&s.inband, 100)
	openSpan(&s.inband, 80) // a Begin with an earlier onset widens it
	if !s.overlaps(0, 81) || s.overlaps(0, 80) || !s.overlaps(1e9, 1e9+1) {
		t.Errorf("open span [80, ∞) misjudged")
	}
	s.closeSpan(&s.inband, 200)
	if !s.overlaps(199, 300) || s.overlaps(200, 300) {
		t.Errorf("closed span [80, 200) misjudged")
	}
	s.prune(200)
	if s.n != 0 {
		t.Errorf("span ending at 200 kept after pruning at 200")
	}
	for i := range maxSpans + 3 {
		openSpan(&s.event, int64(1000+100*i))
		s.closeSpan(&s.event, int64(1050+100*i))
	}
	if s.n != maxSpans || !s.overlaps(1000, 1001) || !s.overlaps(2049, 2050) {
		t.Errorf("full span table lost a span: %d spans", s.n)
	}
}

func TestLookAheadDelaysByItsLength(t *testing.T) {
	la := &lookAhead{law: g711.Ulaw, det: dtmf.NewDetector(dtmf.DetectorConfig{}), target: 40, delay: 40}
	for i := range la.delay {
		la.pre[i] = 0xFF
	}
	la.preN = la.delay
	out := make([]byte, 160)
	var sent []byte
	for p := 0; p < 5; p++ {
		in := make([]byte, 160)
		for i := range in {
			in[i] = byte(p*160+i) | 1 // odd, so never the 0xFF silence
		}
		la.store(make([]int16, len(in)), in)
		a, b := la.next(out)
		wantA, wantB := int64(max(p*160-40, 0)), int64(p*160+120)
		if a != wantA || b != wantB {
			t.Errorf("packet %d: timeline span [%d, %d), want [%d, %d)", p, a, b, wantA, wantB)
		}
		sent = append(sent, out...)
	}
	for i := 0; i < 40; i++ {
		if sent[i] != 0xFF {
			t.Fatalf("sample %d: %x, want the silence the look-ahead starts with", i, sent[i])
		}
	}
	for i := 40; i < len(sent); i++ {
		if want := byte(i-40) | 1; sent[i] != want {
			t.Fatalf("sample %d: %x, want input sample %d (%x)", i, sent[i], i-40, want)
		}
	}
}

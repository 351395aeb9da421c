package dtmf

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// t0 is the arrival time all test packets count from.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	ssrcA = 0x11111111
	ssrcB = 0x22222222
)

// pkt is one step of a test stream: a packet fed to the Tracker, or a Tick.
type pkt struct {
	at      time.Duration // since t0
	ssrc    uint32
	ts      uint32
	marker  bool
	events  []TelephoneEvent
	raw     []byte // payload to use instead of events
	tick    bool   // call Tick(at) instead of Feed
	wantErr error
}

// want is an expected KeyEvent; Source is always SourceRFC4733.
type want struct {
	kind  Kind
	key   Key
	ts    uint32
	dur   uint32
	first time.Duration // FirstSeen since t0
}

func update(code uint8, dur uint16) TelephoneEvent {
	return TelephoneEvent{Code: code, Volume: 10, Duration: dur}
}

func endOf(code uint8, dur uint16) TelephoneEvent {
	return TelephoneEvent{Code: code, End: true, Volume: 10, Duration: dur}
}

// press is what a typical sender emits for one key press at 8 kHz: an
// update every 50 ms with the duration growing by 400 units (50 ms), the
// first one marked, then the end packet three times 20 ms apart with
// duration (updates+1)×400 (RFC 4733 §2.5.1.2, §2.5.1.4).
func press(ssrc, ts uint32, code uint8, at time.Duration, updates int) []pkt {
	var ps []pkt
	for i := range updates {
		ps = append(ps, pkt{at: at + time.Duration(i)*50*time.Millisecond, ssrc: ssrc, ts: ts, marker: i == 0,
			events: []TelephoneEvent{update(code, uint16(400*(i+1)))}})
	}
	endAt := at + time.Duration(updates)*50*time.Millisecond
	for j := range 3 {
		ps = append(ps, pkt{at: endAt + time.Duration(j)*20*time.Millisecond, ssrc: ssrc, ts: ts,
			events: []TelephoneEvent{endOf(code, uint16(400*(updates+1)))}})
	}
	return ps
}

// longPress is a press of total clock units at the given clock rate, with
// an update every 50 ms, sent in segments of at most 0xFFFF units each
// with its own timestamp (RFC 4733 §2.5.1.3), ended by three end packets.
func longPress(ssrc, ts uint32, code uint8, at time.Duration, total, rate uint32) []pkt {
	step := rate / 20
	var ps []pkt
	segment := func(e uint32) (uint32, uint16) {
		k := (e - 1) / maxSegmentDuration
		return ts + k*maxSegmentDuration, uint16(e - k*maxSegmentDuration)
	}
	for e := step; e < total; e += step {
		segTS, d := segment(e)
		ps = append(ps, pkt{at: at + time.Duration(e/step-1)*50*time.Millisecond, ssrc: ssrc, ts: segTS, marker: e == step,
			events: []TelephoneEvent{update(code, d)}})
	}
	segTS, d := segment(total)
	endAt := at + time.Duration(total/step)*50*time.Millisecond
	for j := range 3 {
		ps = append(ps, pkt{at: endAt + time.Duration(j)*20*time.Millisecond, ssrc: ssrc, ts: segTS,
			events: []TelephoneEvent{endOf(code, d)}})
	}
	return ps
}

func seq(parts ...[]pkt) []pkt {
	var all []pkt
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

func noMarker(ps []pkt) []pkt {
	out := append([]pkt(nil), ps...)
	for i := range out {
		out[i].marker = false
	}
	return out
}

func withMarker(ps []pkt) []pkt {
	out := append([]pkt(nil), ps...)
	for i := range out {
		out[i].marker = true
	}
	return out
}

func duplicated(ps []pkt) []pkt {
	var out []pkt
	for _, p := range ps {
		out = append(out, p, p)
	}
	return out
}

// without drops the packets whose arrival lies in [from, to).
func without(ps []pkt, from, to time.Duration) []pkt {
	var out []pkt
	for _, p := range ps {
		if p.at < from || p.at >= to {
			out = append(out, p)
		}
	}
	return out
}

func tickAt(at time.Duration) pkt { return pkt{at: at, tick: true} }

// feedAll runs the steps through tr and returns every event emitted.
func feedAll(t *testing.T, tr *Tracker, ps []pkt) []KeyEvent {
	t.Helper()
	var out []KeyEvent
	for i, p := range ps {
		at := t0.Add(p.at)
		if p.tick {
			out = tr.Tick(at, out)
			continue
		}
		payload := p.raw
		if payload == nil {
			for _, e := range p.events {
				payload = e.AppendTo(payload)
			}
		}
		before := len(out)
		var err error
		out, err = tr.Feed(RTPInfo{SSRC: p.ssrc, Sequence: uint16(i), Timestamp: p.ts, Marker: p.marker}, payload, at, out)
		if !errors.Is(err, p.wantErr) || (p.wantErr == nil && err != nil) {
			t.Fatalf("step %d: err = %v, want %v", i, err, p.wantErr)
		}
		if err != nil && len(out) != before {
			t.Fatalf("step %d: rejected payload emitted %v", i, out[before:])
		}
	}
	return out
}

func checkEvents(t *testing.T, got []KeyEvent, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d events, want %d:\n%s", len(got), len(wants), describe(got))
	}
	for i, w := range wants {
		g := got[i]
		if g.Kind != w.kind || g.Key != w.key || g.Source != SourceRFC4733 || g.RTPTimestamp != w.ts ||
			g.Duration != w.dur || !g.FirstSeen.Equal(t0.Add(w.first)) {
			t.Errorf("event %d = %s, want %s %s ts=%d dur=%d first=%v", i, describeOne(g),
				w.kind, w.key, w.ts, w.dur, w.first)
		}
	}
}

func describeOne(e KeyEvent) string {
	return fmt.Sprintf("%s %s %s ts=%d dur=%d first=%v", e.Kind, e.Key, e.Source, e.RTPTimestamp, e.Duration, e.FirstSeen.Sub(t0))
}

func describe(evs []KeyEvent) string {
	s := ""
	for _, e := range evs {
		s += "  " + describeOne(e) + "\n"
	}
	return s
}

const ms = time.Millisecond

func TestTracker(t *testing.T) {
	a := press(ssrcA, 1000, 5, 0, 3) // updates at 0, 50, 100 ms; ends at 150, 170, 190 ms
	aWant := []want{{Begin, '5', 1000, 400, 0}, {End, '5', 1000, 1600, 0}}

	tests := []struct {
		name string
		cfg  TrackerConfig
		pkts []pkt
		want []want
	}{
		{"one press with marker bit", TrackerConfig{}, a, aWant},
		{"missing marker bit: keyed on the timestamp", TrackerConfig{}, noMarker(a), aWant},
		{"first packets lost: first packet seen is mid-event", TrackerConfig{}, a[2:],
			[]want{{Begin, '5', 1000, 1200, 100 * ms}, {End, '5', 1000, 1600, 100 * ms}}},
		{"only an end packet arrives: one Begin then one End", TrackerConfig{}, a[4:5],
			[]want{{Begin, '5', 1000, 1600, 170 * ms}, {End, '5', 1000, 1600, 170 * ms}}},
		{"repeated end packets counted once", TrackerConfig{},
			seq(a, []pkt{{at: 400 * ms, ssrc: ssrcA, ts: 1000, events: []TelephoneEvent{endOf(5, 1600)}}}), aWant},
		{"every packet duplicated", TrackerConfig{}, duplicated(a), aWant},
		{"marker bit on every packet starts no new press", TrackerConfig{}, withMarker(a), aWant},
		{"end packet overtakes every update", TrackerConfig{}, seq(a[3:4], a[:3], a[4:]),
			[]want{{Begin, '5', 1000, 1600, 150 * ms}, {End, '5', 1000, 1600, 150 * ms}}},
		{"updates reordered within a press", TrackerConfig{}, seq(a[:1], a[2:3], a[1:2], a[3:]), aWant},
		{"reordered update then end packets lost: End keeps the longest duration", TrackerConfig{},
			seq(a[:1], a[2:3], a[1:2], []pkt{tickAt(time.Second)}),
			[]want{{Begin, '5', 1000, 400, 0}, {End, '5', 1000, 1200, 0}}},
		{"late update after the end packets is ignored", TrackerConfig{}, seq(a[:2], a[3:], a[2:3]),
			[]want{{Begin, '5', 1000, 400, 0}, {End, '5', 1000, 1600, 0}}},
		{"all end packets lost: End from Tick after three update intervals", TrackerConfig{},
			seq(a[:3], []pkt{tickAt(249 * ms), tickAt(250 * ms), tickAt(900 * ms)}),
			[]want{{Begin, '5', 1000, 400, 0}, {End, '5', 1000, 1200, 0}}},
		{"all end packets lost: configured EndTimeout", TrackerConfig{EndTimeout: 500 * ms},
			seq(a[:3], []pkt{tickAt(599 * ms), tickAt(600 * ms)}),
			[]want{{Begin, '5', 1000, 400, 0}, {End, '5', 1000, 1200, 0}}},
		{"press ended by timeout stays ended when its packets resume", TrackerConfig{},
			seq(a[:1], []pkt{tickAt(300 * ms)}, []pkt{
				{at: 350 * ms, ssrc: ssrcA, ts: 1000, events: []TelephoneEvent{update(5, 2800)}},
				{at: 400 * ms, ssrc: ssrcA, ts: 1000, events: []TelephoneEvent{endOf(5, 3200)}}}),
			[]want{{Begin, '5', 1000, 400, 0}, {End, '5', 1000, 400, 0}}},
		{"packet after the deadline finds the press ended even without Tick", TrackerConfig{},
			seq(a[:2], []pkt{{at: 400 * ms, ssrc: ssrcA, ts: 1000, events: []TelephoneEvent{update(5, 3200)}}}),
			[]want{{Begin, '5', 1000, 400, 0}, {End, '5', 1000, 800, 0}}},
		{"same key pressed twice", TrackerConfig{}, seq(a, press(ssrcA, 4000, 5, 400*ms, 2)),
			append(aWant[:2:2], want{Begin, '5', 4000, 400, 400 * ms}, want{End, '5', 4000, 1200, 400 * ms})},
		{"new press while one is open ends the old one first", TrackerConfig{},
			seq(a[:3], press(ssrcA, 3000, 6, 200*ms, 2)),
			[]want{{Begin, '5', 1000, 400, 0}, {End, '5', 1000, 1200, 0},
				{Begin, '6', 3000, 400, 200 * ms}, {End, '6', 3000, 1200, 200 * ms}}},
		{"late packet of the previous press after the next began is not a new digit", TrackerConfig{},
			seq(a, press(ssrcA, 4000, 6, 300*ms, 2)[:1],
				[]pkt{{at: 310 * ms, ssrc: ssrcA, ts: 1000, events: []TelephoneEvent{update(5, 800)}}},
				press(ssrcA, 4000, 6, 300*ms, 2)[1:]),
			append(aWant[:2:2], want{Begin, '6', 4000, 400, 300 * ms}, want{End, '6', 4000, 1200, 300 * ms})},
		{"late packet of a press never seen, 9 s older than the newest, is ignored", TrackerConfig{},
			seq(press(ssrcA, 100000, 1, 0, 2), []pkt{{at: 300 * ms, ssrc: ssrcA, ts: 100000 - 9*8000, events: []TelephoneEvent{endOf(7, 800)}}}),
			[]want{{Begin, '1', 100000, 400, 0}, {End, '1', 100000, 1200, 0}}},
		{"several events in one packet (RFC 4733 §2.5.1.5)", TrackerConfig{}, []pkt{
			{at: 0, ssrc: ssrcA, ts: 1000, marker: true, events: []TelephoneEvent{update(1, 400)}},
			{at: 50 * ms, ssrc: ssrcA, ts: 1000, marker: true, events: []TelephoneEvent{endOf(1, 800), update(2, 160)}},
			{at: 100 * ms, ssrc: ssrcA, ts: 1800, events: []TelephoneEvent{update(2, 560)}},
			{at: 150 * ms, ssrc: ssrcA, ts: 1800, events: []TelephoneEvent{endOf(2, 960)}},
			{at: 170 * ms, ssrc: ssrcA, ts: 1800, events: []TelephoneEvent{endOf(2, 960)}},
		}, []want{{Begin, '1', 1000, 400, 0}, {End, '1', 1000, 800, 0},
			{Begin, '2', 1800, 160, 50 * ms}, {End, '2', 1800, 960, 50 * ms}}},
		{"two complete events packed in one packet, repeated", TrackerConfig{}, []pkt{
			{at: 0, ssrc: ssrcA, ts: 1000, marker: true, events: []TelephoneEvent{endOf(3, 800), endOf(4, 800)}},
			{at: 20 * ms, ssrc: ssrcA, ts: 1000, events: []TelephoneEvent{endOf(3, 800), endOf(4, 800)}},
		}, []want{{Begin, '3', 1000, 800, 0}, {End, '3', 1000, 800, 0},
			{Begin, '4', 1800, 800, 0}, {End, '4', 1800, 800, 0}}},
		{"codes above 15 are ignored and leave the open press alone", TrackerConfig{},
			seq(a[:2], []pkt{
				{at: 60 * ms, ssrc: ssrcA, ts: 1000, events: []TelephoneEvent{update(32, 800)}},
				{at: 70 * ms, ssrc: ssrcA, ts: 5000, events: []TelephoneEvent{endOf(20, 800)}},
				{at: 80 * ms, ssrc: ssrcB, ts: 9, events: []TelephoneEvent{update(255, 800)}},
			}, a[2:]), aWant},
		{"end packet with another code at the same timestamp ends the press under the first key", TrackerConfig{},
			seq(a[:2], []pkt{
				{at: 100 * ms, ssrc: ssrcA, ts: 1000, events: []TelephoneEvent{endOf(7, 1200)}},
				{at: 120 * ms, ssrc: ssrcA, ts: 1000, events: []TelephoneEvent{endOf(7, 1200)}},
			}, a[3:]),
			[]want{{Begin, '5', 1000, 400, 0}, {End, '5', 1000, 800, 0}}},
		{"update with another code at the same timestamp is ignored", TrackerConfig{},
			seq(a[:2], []pkt{{at: 60 * ms, ssrc: ssrcA, ts: 1000, events: []TelephoneEvent{update(7, 1200)}}}, a[2:]), aWant},
		{"bad payloads are rejected and change nothing", TrackerConfig{},
			seq(a[:2], []pkt{
				{at: 60 * ms, ssrc: ssrcA, ts: 1000, raw: []byte{5, 0x80, 0}, wantErr: ErrShortTelephoneEvent},
				{at: 61 * ms, ssrc: ssrcB, ts: 7, raw: []byte{9, 0x80, 0, 8, 1}, wantErr: ErrTrailingTelephoneEventBytes},
				{at: 62 * ms, ssrc: ssrcA, ts: 1000, raw: []byte{}, wantErr: ErrShortTelephoneEvent},
			}, a[2:]), aWant},
		{"SSRC change ends the open press and starts a new stream", TrackerConfig{},
			seq(a[:2], press(ssrcB, 777, 9, 100*ms, 2)),
			[]want{{Begin, '5', 1000, 400, 0}, {End, '5', 1000, 800, 0},
				{Begin, '9', 777, 400, 100 * ms}, {End, '9', 777, 1200, 100 * ms}}},
		{"new SSRC reusing an old stream's timestamp is a new press", TrackerConfig{},
			seq(a, press(ssrcB, 1000, 5, 300*ms, 2)),
			append(aWant[:2:2], want{Begin, '5', 1000, 400, 300 * ms}, want{End, '5', 1000, 1200, 300 * ms})},
		{"late packet from the old SSRC after a change is ignored", TrackerConfig{},
			seq(a, press(ssrcB, 777, 9, 300*ms, 2)[:1],
				[]pkt{{at: 310 * ms, ssrc: ssrcA, ts: 1000, events: []TelephoneEvent{endOf(5, 1600)}}},
				press(ssrcB, 777, 9, 300*ms, 2)[1:]),
			append(aWant[:2:2], want{Begin, '9', 777, 400, 300 * ms}, want{End, '9', 777, 1200, 300 * ms})},
		{"backward timestamp jump restarts the stream", TrackerConfig{},
			seq(press(ssrcA, 1_000_000, 1, 0, 3)[:2], press(ssrcA, 1000, 2, 100*ms, 2)),
			[]want{{Begin, '1', 1_000_000, 400, 0}, {End, '1', 1_000_000, 800, 0},
				{Begin, '2', 1000, 400, 100 * ms}, {End, '2', 1000, 1200, 100 * ms}}},
		{"forward timestamp jump of a minute ends the open press", TrackerConfig{},
			seq(a[:2], press(ssrcA, 1000+60*8000, 2, 100*ms, 2)),
			[]want{{Begin, '5', 1000, 400, 0}, {End, '5', 1000, 800, 0},
				{Begin, '2', 1000 + 60*8000, 400, 100 * ms}, {End, '2', 1000 + 60*8000, 1200, 100 * ms}}},
		{"forward timestamp jump beyond half the timestamp space ends the open press", TrackerConfig{},
			seq(a[:2], press(ssrcA, 1000+3_000_000_000, 2, 100*ms, 2)),
			[]want{{Begin, '5', 1000, 400, 0}, {End, '5', 1000, 800, 0},
				{Begin, '2', 1000 + 3_000_000_000, 400, 100 * ms}, {End, '2', 1000 + 3_000_000_000, 1200, 100 * ms}}},
		{"segment that ends short of 0xFFFF continues where its duration ended", TrackerConfig{}, []pkt{
			{at: 0, ssrc: ssrcA, ts: 1000, marker: true, events: []TelephoneEvent{update(3, 64800)}},
			{at: 50 * ms, ssrc: ssrcA, ts: 1000, events: []TelephoneEvent{update(3, 65200)}},
			{at: 100 * ms, ssrc: ssrcA, ts: 1000 + 65200, events: []TelephoneEvent{update(3, 400)}},
			{at: 150 * ms, ssrc: ssrcA, ts: 1000 + 65200, events: []TelephoneEvent{endOf(3, 800)}},
		}, []want{{Begin, '3', 1000, 64800, 0}, {End, '3', 1000, 66000, 0}}},
		{"E bit on a full segment's final packets: the next segment is the same press", TrackerConfig{}, []pkt{
			{at: 0, ssrc: ssrcA, ts: 1000, marker: true, events: []TelephoneEvent{update(3, 65000)}},
			{at: 50 * ms, ssrc: ssrcA, ts: 1000, events: []TelephoneEvent{endOf(3, 0xFFFF)}},
			{at: 70 * ms, ssrc: ssrcA, ts: 1000, events: []TelephoneEvent{endOf(3, 0xFFFF)}},
			{at: 100 * ms, ssrc: ssrcA, ts: 1000 + 0xFFFF, events: []TelephoneEvent{update(3, 400)}},
			{at: 150 * ms, ssrc: ssrcA, ts: 1000 + 0xFFFF, events: []TelephoneEvent{endOf(3, 800)}},
		}, []want{{Begin, '3', 1000, 65000, 0}, {End, '3', 1000, 0xFFFF, 0}}},
		{"same key again right after a press that ended short of a full segment is a new press", TrackerConfig{}, []pkt{
			{at: 0, ssrc: ssrcA, ts: 1000, marker: true, events: []TelephoneEvent{endOf(3, 800)}},
			{at: 100 * ms, ssrc: ssrcA, ts: 1800, marker: true, events: []TelephoneEvent{endOf(3, 800)}},
		}, []want{{Begin, '3', 1000, 800, 0}, {End, '3', 1000, 800, 0}, {Begin, '3', 1800, 800, 100 * ms}, {End, '3', 1800, 800, 100 * ms}}},
		{"timestamps wrapping around 2^32 compare as serial numbers", TrackerConfig{},
			seq(press(ssrcA, 0xFFFFFF00, 1, 0, 2), press(ssrcA, 0x200, 2, 300*ms, 2),
				[]pkt{{at: 600 * ms, ssrc: ssrcA, ts: 0xFFFFFF00, events: []TelephoneEvent{endOf(1, 1200)}}}),
			[]want{{Begin, '1', 0xFFFFFF00, 400, 0}, {End, '1', 0xFFFFFF00, 1200, 0},
				{Begin, '2', 0x200, 400, 300 * ms}, {End, '2', 0x200, 1200, 300 * ms}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(tt.cfg)
			got := feedAll(t, tr, tt.pkts)
			checkEvents(t, got, tt.want)
			if _, open := tr.Deadline(); open {
				t.Errorf("a press is still open at the end")
			}
		})
	}
}

// RFC 4733 §2.5.1.3: an event longer than 0xFFFF units is sent in segments
// with a new timestamp each, and is still one key press.
func TestTrackerLongPressSegments(t *testing.T) {
	for _, rate := range []uint32{8000, 16000, 48000} {
		total := rate * 10 // ten seconds: 2, 3 and 8 segments
		lp := longPress(ssrcA, 5000, 0, 0, total, rate)
		var boundary time.Duration // arrival of the first packet of segment 2
		for _, p := range lp {
			if p.ts != 5000 {
				boundary = p.at
				break
			}
		}
		oneWant := []want{{Begin, '0', 5000, rate / 20, 0}, {End, '0', 5000, total, 0}}
		tests := []struct {
			name    string
			timeout time.Duration
			pkts    []pkt
			want    []want
		}{
			{"all packets", 0, lp, oneWant},
			{"first packet of a segment lost", 0, without(lp, boundary, boundary+ms), oneWant},
			{"three packets around a segment boundary lost", time.Second, without(lp, boundary-50*ms, boundary+60*ms), oneWant},
			{"late packet of the previous segment", 0, seq(without(lp, 9*time.Second, time.Hour),
				[]pkt{{at: 9 * time.Second, ssrc: ssrcA, ts: 5000, events: []TelephoneEvent{update(0, 1600)}}},
				without(lp, 0, 9*time.Second)), oneWant},
			{"first segment lost entirely", 0, without(lp, 0, boundary), []want{
				{Begin, '0', 5000 + maxSegmentDuration, rate/20 - (maxSegmentDuration % (rate / 20)), boundary},
				{End, '0', 5000 + maxSegmentDuration, total - maxSegmentDuration, boundary}}},
			{"gap longer than the timeout across a boundary is still one press", 0, without(lp, boundary-time.Second, boundary+time.Second),
				[]want{{Begin, '0', 5000, rate / 20, 0}, {End, '0', 5000, lastDurBefore(lp, boundary-time.Second), 0}}},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%d Hz/%s", rate, tt.name), func(t *testing.T) {
				tr := NewTracker(TrackerConfig{ClockRate: rate, EndTimeout: tt.timeout})
				checkEvents(t, feedAll(t, tr, tt.pkts), tt.want)
			})
		}
	}
}

// A press longer than the late window (about 18 s at 8 kHz) whose segments
// wrap around 2^32: late packets of its first segment must be recognised
// as part of it, not taken as a timestamp jump and a new digit.
func TestTrackerVeryLongPressLatePackets(t *testing.T) {
	const start = 0xFFFFF000
	lp := longPress(ssrcA, start, 8, 0, 30*8000, 8000) // 4 segments, the 2nd past the wrap
	late := pkt{ssrc: ssrcA, ts: start, events: []TelephoneEvent{update(8, 4000)}}
	lateEnd := pkt{ssrc: ssrcA, ts: start, events: []TelephoneEvent{endOf(8, 4000)}}
	late.at, lateEnd.at = 25*time.Second, 31*time.Second
	ps := seq(without(lp, 25*time.Second, time.Hour), []pkt{late}, without(lp, 0, 25*time.Second), []pkt{lateEnd})
	if ps[len(ps)-2].ts-start != 3*maxSegmentDuration {
		t.Fatalf("test stream ends in segment at offset %d, want the fourth", ps[len(ps)-2].ts-start)
	}
	tr := NewTracker(TrackerConfig{})
	checkEvents(t, feedAll(t, tr, ps), []want{{Begin, '8', start, 400, 0}, {End, '8', start, 30 * 8000, 0}})
	if s := tr.Stats(); s.Resets != 0 || s.Late != 4 {
		t.Errorf("Resets = %d, Late = %d; want 0 and 4 (the late update, two repeated end packets, the late end)", s.Resets, s.Late)
	}
}

// lastDurBefore is the press duration reported by the last packet sent
// before cut, counted from the first segment's timestamp 5000.
func lastDurBefore(ps []pkt, cut time.Duration) uint32 {
	var d uint32
	for _, p := range ps {
		if p.at < cut {
			d = p.ts - 5000 + uint32(p.events[0].Duration)
		}
	}
	return d
}

func TestTrackerDeadline(t *testing.T) {
	tests := []struct {
		name     string
		cfg      TrackerConfig
		step     uint16        // duration step between updates
		every    time.Duration // arrival spacing of updates
		updates  int
		wantWait time.Duration // from the last packet to the deadline
	}{
		{"one packet: default three times 50 ms", TrackerConfig{}, 400, 50 * ms, 1, 150 * ms},
		{"updates every 50 ms", TrackerConfig{}, 400, 50 * ms, 4, 150 * ms},
		{"updates every 20 ms: not shorter than 150 ms", TrackerConfig{}, 160, 20 * ms, 6, 150 * ms},
		{"updates every 100 ms: three intervals", TrackerConfig{}, 800, 100 * ms, 4, 300 * ms},
		{"updates every 100 ms at 48 kHz", TrackerConfig{ClockRate: 48000}, 4800, 100 * ms, 4, 300 * ms},
		{"updates every 100 ms at 16 kHz", TrackerConfig{ClockRate: 16000}, 1600, 100 * ms, 4, 300 * ms},
		{"duration steps of a second: capped at 1.5 s", TrackerConfig{}, 8000, 100 * ms, 3, 1500 * ms},
		{"lost updates do not lengthen the learnt interval", TrackerConfig{}, 800, 100 * ms, 0, 300 * ms},
		{"configured timeout", TrackerConfig{EndTimeout: 80 * ms}, 400, 50 * ms, 1, 80 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(tt.cfg)
			if _, ok := tr.Deadline(); ok {
				t.Fatal("Deadline reported before any press")
			}
			var ps []pkt
			durs := make([]uint16, 0, tt.updates)
			for i := range tt.updates {
				durs = append(durs, uint16(i+1)*tt.step)
			}
			if tt.updates == 0 { // steps of one interval, then of three: the smallest counts
				durs = []uint16{tt.step, 2 * tt.step, 3 * tt.step, 6 * tt.step}
			}
			for i, d := range durs {
				ps = append(ps, pkt{at: time.Duration(i) * tt.every, ssrc: ssrcA, ts: 1000, events: []TelephoneEvent{update(3, d)}})
			}
			last := ps[len(ps)-1].at
			if evs := feedAll(t, tr, ps); len(evs) != 1 {
				t.Fatalf("got %d events, want a Begin", len(evs))
			}
			d, ok := tr.Deadline()
			if !ok || !d.Equal(t0.Add(last+tt.wantWait)) {
				t.Fatalf("Deadline = %v, %v; want last packet + %v", d.Sub(t0), ok, tt.wantWait)
			}
			if evs := tr.Tick(d.Add(-time.Nanosecond), nil); len(evs) != 0 {
				t.Fatalf("Tick before the deadline emitted %s", describe(evs))
			}
			evs := tr.Tick(d, nil)
			if len(evs) != 1 || evs[0].Kind != End || evs[0].Duration != uint32(durs[len(durs)-1]) {
				t.Fatalf("Tick at the deadline emitted %s, want one End", describe(evs))
			}
			if _, ok := tr.Deadline(); ok {
				t.Error("Deadline still set after the press ended")
			}
			if s := tr.Stats(); s.TimedOut != 1 {
				t.Errorf("TimedOut = %d, want 1", s.TimedOut)
			}
		})
	}
}

func TestTrackerStats(t *testing.T) {
	tr := NewTracker(TrackerConfig{})
	a := press(ssrcA, 1000, 5, 0, 3)
	feedAll(t, tr, seq(a[:2], []pkt{
		{at: 60 * ms, ssrc: ssrcA, ts: 1000, raw: []byte{1}, wantErr: ErrShortTelephoneEvent},
		{at: 70 * ms, ssrc: ssrcA, ts: 1000, events: []TelephoneEvent{update(40, 800)}},
		{at: 80 * ms, ssrc: ssrcA, ts: 1000, events: []TelephoneEvent{update(6, 800)}},
	}, a[2:], press(ssrcB, 10, 1, 400*ms, 1)[:1], []pkt{tickAt(time.Second)}))
	want := TrackerStats{Packets: 9, Rejected: 1, Presses: 2, TimedOut: 1, Late: 2, OtherEvents: 1, Conflicts: 1, Resets: 1}
	if got := tr.Stats(); got != want {
		t.Errorf("Stats = %+v\nwant    %+v", got, want)
	}
}

func TestTrackerFlushAndReset(t *testing.T) {
	a := press(ssrcA, 1000, 5, 0, 3)

	tr := NewTracker(TrackerConfig{})
	got := feedAll(t, tr, a[:2])
	got = tr.Flush(got)
	checkEvents(t, got, []want{{Begin, '5', 1000, 400, 0}, {End, '5', 1000, 800, 0}})
	if evs := feedAll(t, tr, a[2:]); len(evs) != 0 {
		t.Errorf("packets of a flushed press emitted %s", describe(evs))
	}
	if evs := tr.Flush(nil); len(evs) != 0 {
		t.Errorf("Flush with nothing open emitted %s", describe(evs))
	}

	tr = NewTracker(TrackerConfig{EndTimeout: 70 * ms})
	feedAll(t, tr, a[:2])
	tr.Reset()
	if _, ok := tr.Deadline(); ok {
		t.Error("Deadline set after Reset")
	}
	if s := tr.Stats(); s != (TrackerStats{}) {
		t.Errorf("Stats after Reset = %+v", s)
	}
	// Reset forgets the press: its later packets start a new one, and the
	// configured timeout survives.
	got = feedAll(t, tr, a[2:3])
	checkEvents(t, got, []want{{Begin, '5', 1000, 1200, 100 * ms}})
	if d, _ := tr.Deadline(); !d.Equal(t0.Add(170 * ms)) {
		t.Errorf("Deadline after Reset = %v, want the configured 70 ms", d.Sub(t0))
	}
}

// realisticStream is a key press as benchmarked: six updates 50 ms apart,
// one duplicated, and three end packets, all with timestamp ts.
func realisticStream(ts uint32) ([]RTPInfo, [][]byte, []time.Duration) {
	var hs []RTPInfo
	var payloads [][]byte
	var ats []time.Duration
	add := func(at time.Duration, ev TelephoneEvent) {
		hs = append(hs, RTPInfo{SSRC: ssrcA, Sequence: uint16(len(hs)), Timestamp: ts, Marker: len(hs) == 0})
		payloads = append(payloads, ev.AppendTo(nil))
		ats = append(ats, at)
	}
	for i := range 6 {
		add(time.Duration(i)*50*ms, update(7, uint16(400*(i+1))))
		if i == 2 {
			add(time.Duration(i)*50*ms+ms, update(7, uint16(400*(i+1))))
		}
	}
	for j := range 3 {
		add(300*ms+time.Duration(j)*20*ms, endOf(7, 2800))
	}
	return hs, payloads, ats
}

func TestTrackerAllocs(t *testing.T) {
	hs, payloads, ats := realisticStream(0)
	tr := NewTracker(TrackerConfig{})
	out := make([]KeyEvent, 0, 8)
	var ts uint32
	start := t0
	allocs := testing.AllocsPerRun(200, func() {
		out = out[:0]
		for i := range hs {
			h := hs[i]
			h.Timestamp += ts
			var err error
			if out, err = tr.Feed(h, payloads[i], start.Add(ats[i]), out); err != nil {
				t.Fatal(err)
			}
			tr.Deadline()
		}
		// A press whose end packets are lost, ended by Tick.
		h := hs[0]
		h.Timestamp += ts + 4000
		out, _ = tr.Feed(h, payloads[0], start.Add(400*ms), out)
		out = tr.Tick(start.Add(time.Second), out)
		if len(out) != 4 {
			t.Fatalf("got %d events, want 4", len(out))
		}
		ts += 16000
		start = start.Add(2 * time.Second)
	})
	if allocs != 0 {
		t.Errorf("Feed/Tick/Deadline allocate %v times per run, want 0", allocs)
	}
}

func BenchmarkTrackerFeed(b *testing.B) {
	hs, payloads, ats := realisticStream(0)
	tr := NewTracker(TrackerConfig{})
	out := make([]KeyEvent, 0, 8)
	var ts uint32
	start := t0
	packets := 0
	b.ReportAllocs()
	for b.Loop() {
		out = out[:0]
		packets += len(hs)
		for i := range hs {
			h := hs[i]
			h.Timestamp += ts
			var err error
			if out, err = tr.Feed(h, payloads[i], start.Add(ats[i]), out); err != nil {
				b.Fatal(err)
			}
		}
		out = tr.Tick(start.Add(time.Second), out)
		if _, ok := tr.Deadline(); ok || len(out) != 2 {
			b.Fatalf("press not reported once: %d events", len(out))
		}
		ts += 16000
		start = start.Add(2 * time.Second)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(packets), "ns/packet")
}

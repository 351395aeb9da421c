package mask

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"dtmfgw/dtmf"
)

func TestJoinerOnePressPerKeyWhateverTheMediaSources(t *testing.T) {
	ms := func(n int) time.Time { return hEpoch.Add(time.Duration(n) * time.Millisecond) }
	type rep struct {
		begin bool
		key   dtmf.Key
		src   dtmf.Source
		at    int
		isNew bool
	}
	cases := []struct {
		name string
		reps []rep
	}{
		{"events then in-band of one press", []rep{{true, '5', dtmf.SourceRFC4733, 0, true}, {true, '5', dtmf.SourceInband, 30, false}, {false, '5', dtmf.SourceRFC4733, 100, false}, {false, '5', dtmf.SourceInband, 110, false}}},
		{"in-band after the event ended, within the window", []rep{{true, '5', dtmf.SourceRFC4733, 0, true}, {false, '5', dtmf.SourceRFC4733, 40, false}, {true, '5', dtmf.SourceInband, 60, false}}},
		{"same key again from the same source is a new press", []rep{{true, '5', dtmf.SourceRFC4733, 0, true}, {false, '5', dtmf.SourceRFC4733, 100, false}, {true, '5', dtmf.SourceRFC4733, 150, true}}},
		{"another key is a new press", []rep{{true, '5', dtmf.SourceRFC4733, 0, true}, {true, '6', dtmf.SourceInband, 30, true}}},
		{"same key long after is a new press", []rep{{true, '5', dtmf.SourceRFC4733, 0, true}, {false, '5', dtmf.SourceRFC4733, 100, false}, {true, '5', dtmf.SourceInband, 400, true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := NewJoiner(8)
			want := 0
			for i, r := range tc.reps {
				if !r.begin {
					j.end(r.src, ms(r.at))
					continue
				}
				if got := j.begin(r.key, r.src, ms(r.at), ms(r.at-5)); got != r.isNew {
					t.Errorf("report %d: new = %v, want %v", i, got, r.isNew)
				}
				if r.isNew {
					want++
				}
			}
			if got := drain(j); len(got) != want {
				t.Errorf("%d presses queued, want %d", len(got), want)
			}
		})
	}
}

// report is one press as a test feeds it to a Joiner: from the media (an
// RFC 4733 Begin, ended 50 ms later) or from SIP INFO.
type report struct {
	info bool
	key  byte
	at   time.Duration // from the epoch
	dur  time.Duration // SIP INFO only
}

func TestJoinerJoinsSIPInfoAndMedia(t *testing.T) {
	const ms = time.Millisecond
	cases := []struct {
		name    string
		reports []report
		want    string // keys delivered, in order
		joined  uint64
	}{
		{"media-only", []report{{key: '1'}, {key: '2', at: 200 * ms}}, "12", 0},
		{"info-only", []report{{info: true, key: '1'}, {info: true, key: '1', at: 200 * ms}}, "11", 0},
		{"info-then-media", []report{{info: true, key: '4', dur: 100 * ms}, {key: '4', at: 30 * ms}}, "4", 1},
		{"media-then-info", []report{{key: '4'}, {info: true, key: '4', at: 300 * ms, dur: 100 * ms}}, "4", 1},
		{"info-late-beyond-window", []report{{key: '4'}, {info: true, key: '4', at: 400 * ms, dur: 100 * ms}}, "44", 0},
		{"info-long-press-widens-window", []report{{key: '4'}, {info: true, key: '4', at: 700 * ms, dur: 500 * ms}}, "4", 1},
		{"different-keys-never-join", []report{{info: true, key: '4'}, {key: '5'}}, "45", 0},
		{"same-path-never-joins", []report{{key: '6'}, {key: '6', at: 100 * ms}}, "66", 0},
		{
			// "11" pressed quickly, each press sent both ways; the INFOs
			// run ahead of the media. Oldest unmatched is matched first.
			"double-press-both-ways",
			[]report{
				{info: true, key: '1', dur: 80 * ms}, {info: true, key: '1', at: 140 * ms, dur: 80 * ms},
				{key: '1', at: 10 * ms}, {key: '1', at: 150 * ms},
			},
			"11", 2,
		},
		{
			// A press matched once is not matched again.
			"one-info-two-media",
			[]report{{info: true, key: '3', dur: 100 * ms}, {key: '3'}, {key: '3', at: 150 * ms}},
			"33", 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := NewJoiner(16)
			for _, r := range tc.reports {
				k, at := dtmf.Key(r.key), hEpoch.Add(r.at)
				if r.info {
					j.SIPInfo(k, r.dur, at)
					continue
				}
				if !j.begin(k, dtmf.SourceRFC4733, at, at) {
					t.Fatalf("a media report at %v was taken as another source's report of the current press", r.at)
				}
				j.end(dtmf.SourceRFC4733, at.Add(50*ms))
			}
			j.Close()
			var got []dtmf.Press
			for p := range j.Presses() {
				got = append(got, p)
			}
			var keys strings.Builder
			for i, p := range got {
				keys.WriteByte(byte(p.Key))
				if p.Number != uint64(i+1) {
					t.Errorf("press %d numbered %d", i, p.Number)
				}
			}
			if keys.String() != tc.want {
				t.Errorf("delivered %q, want %q", keys.String(), tc.want)
			}
			if st := j.Stats(); st.Joined != tc.joined || st.Delivered != uint64(len(tc.want)) {
				t.Errorf("stats %+v, want %d joined", st, tc.joined)
			}
		})
	}
}

func TestJoinerNeverBlocks(t *testing.T) {
	j := NewJoiner(2)
	for i := range 5 {
		j.SIPInfo(dtmf.Key('0'+byte(i)), 0, hEpoch.Add(time.Duration(i)*time.Second))
	}
	for i := range 2 {
		at := hEpoch.Add(time.Duration(10+i) * time.Second)
		j.begin('9', dtmf.SourceRFC4733, at, at)
		j.end(dtmf.SourceRFC4733, at.Add(50*time.Millisecond))
	}
	st := j.Stats()
	if st.Delivered != 2 || st.Overflows != 5 || st.SIPInfoFirst != 5 || st.RFC4733 != 2 {
		t.Errorf("stats %+v: want 2 delivered, 5 lost, 5 first by SIP INFO, 2 by RFC 4733", st)
	}
	j.Close()
	j.SIPInfo('1', 0, hEpoch) // after Close: ignored, no panic
	if !j.begin('2', dtmf.SourceInband, hEpoch, hEpoch) {
		t.Error("after Close a new press is still a new press for masking")
	}
	var nums []uint64
	for p := range j.Presses() {
		nums = append(nums, p.Number)
	}
	if fmt.Sprint(nums) != "[1 2]" {
		t.Errorf("numbers %v", nums)
	}
	invalid := NewJoiner(1)
	invalid.SIPInfo(dtmf.Key('x'), 0, hEpoch)
	if st := invalid.Stats(); st.Invalid != 1 || st.Delivered != 0 {
		t.Errorf("an invalid SIP INFO key: stats %+v", st)
	}
}

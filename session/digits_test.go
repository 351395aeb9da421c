package session

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/media/mask"
)

// report is one press as a test feeds it to a digitPath: from the media
// (a mask.Press) or from SIP INFO.
type report struct {
	info bool
	key  byte
	at   time.Duration // from the epoch
	dur  time.Duration // SIP INFO only
	num  uint64        // media only: the pipeline's press number
}

func TestDigitPathJoinsSIPInfoAndMedia(t *testing.T) {
	const ms = time.Millisecond
	cases := []struct {
		name    string
		reports []report
		want    string // keys delivered, in order
		joined  uint64
	}{
		{"media-only", []report{{key: '1', num: 1}, {key: '2', at: 200 * ms, num: 2}}, "12", 0},
		{"info-only", []report{{info: true, key: '1'}, {info: true, key: '1', at: 200 * ms}}, "11", 0},
		{"info-then-media", []report{{info: true, key: '4', dur: 100 * ms}, {key: '4', at: 30 * ms, num: 1}}, "4", 1},
		{"media-then-info", []report{{key: '4', num: 1}, {info: true, key: '4', at: 300 * ms, dur: 100 * ms}}, "4", 1},
		{"info-late-beyond-window", []report{{key: '4', num: 1}, {info: true, key: '4', at: 400 * ms, dur: 100 * ms}}, "44", 0},
		{"info-long-press-widens-window", []report{{key: '4', num: 1}, {info: true, key: '4', at: 700 * ms, dur: 500 * ms}}, "4", 1},
		{"different-keys-never-join", []report{{info: true, key: '4'}, {key: '5', num: 1}}, "45", 0},
		{"same-path-never-joins", []report{{key: '6', num: 1}, {key: '6', at: 100 * ms, num: 2}}, "66", 0},
		{
			// "11" pressed quickly, each press sent both ways; the INFOs
			// run ahead of the media. Oldest unmatched is matched first.
			"double-press-both-ways",
			[]report{
				{info: true, key: '1', dur: 80 * ms}, {info: true, key: '1', at: 140 * ms, dur: 80 * ms},
				{key: '1', at: 10 * ms, num: 1}, {key: '1', at: 150 * ms, num: 2},
			},
			"11", 2,
		},
		{
			// A press matched once is not matched again.
			"one-info-two-media",
			[]report{{info: true, key: '3', dur: 100 * ms}, {key: '3', num: 1}, {key: '3', at: 150 * ms, num: 2}},
			"33", 1,
		},
	}
	epoch := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDigitPath(16)
			for _, r := range tc.reports {
				k := key(r.key)
				if r.info {
					d.fromSIPInfo(k, r.dur, epoch.Add(r.at))
				} else {
					d.fromMedia(mask.Press{Key: k, Source: dtmf.SourceRFC4733, FirstSeen: epoch.Add(r.at), Number: r.num})
				}
			}
			d.close()
			var got []Digit
			for g := range d.out {
				got = append(got, g)
			}
			if keysOf(got) != tc.want {
				t.Errorf("delivered %q, want %q", keysOf(got), tc.want)
			}
			for i, g := range got {
				if g.Number != uint64(i+1) {
					t.Errorf("digit %d numbered %d", i, g.Number)
				}
			}
			if st := d.snapshot(); st.Joined != tc.joined || st.Delivered != uint64(len(tc.want)) {
				t.Errorf("stats %+v, want %d joined", st, tc.joined)
			}
		})
	}
}

func TestDigitPathNeverBlocks(t *testing.T) {
	d := newDigitPath(2)
	epoch := time.Unix(0, 0)
	for i := range 5 {
		d.fromSIPInfo(key('0'+byte(i)), 0, epoch.Add(time.Duration(i)*time.Second))
	}
	// The pipeline's own queue lost presses 2 and 3: a gap in its numbers.
	d.fromMedia(mask.Press{Key: key('9'), Number: 1, FirstSeen: epoch.Add(10 * time.Second)})
	d.fromMedia(mask.Press{Key: key('9'), Number: 4, FirstSeen: epoch.Add(11 * time.Second)})
	st := d.snapshot()
	if st.Delivered != 2 || st.Overflows != 3+2+2 {
		t.Errorf("stats %+v: want 2 delivered, 7 lost", st)
	}
	d.close()
	d.fromSIPInfo(key('1'), 0, epoch) // after close: ignored, no panic
	var nums []uint64
	for g := range d.out {
		nums = append(nums, g.Number)
	}
	if fmt.Sprint(nums) != "[1 2]" {
		t.Errorf("numbers %v", nums)
	}
	if last := d.number; last != 9 {
		t.Errorf("last number %d, want 9 (7 presses, 2 lost in the pipeline)", last)
	}
}

func TestDigitFormatsNoKey(t *testing.T) {
	g := Digit{Key: key('7'), Source: dtmf.SourceSIPInfo, Number: 1}
	for _, s := range []string{fmt.Sprint(g), fmt.Sprintf("%v %+v %s", g, g, g.Key)} {
		if strings.Contains(s, "7") {
			t.Fatalf("%q shows the key", s)
		}
	}
}

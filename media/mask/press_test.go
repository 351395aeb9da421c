package mask

import (
	"testing"
	"time"

	"dtmfgw/dtmf"
)

func TestPressJoinerOnePressPerKeyWhateverTheSources(t *testing.T) {
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
			q := make(chan Press, 8)
			j := pressJoiner{queue: q}
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
			if got := drain(q); len(got) != want {
				t.Errorf("%d presses queued, want %d", len(got), want)
			}
		})
	}
}

func TestPressQueueNeverBlocks(t *testing.T) {
	q := make(chan Press, 2)
	j := pressJoiner{queue: q}
	for i := 0; i < 5; i++ {
		j.begin(dtmf.Key('0'+i), dtmf.SourceRFC4733, hEpoch, hEpoch)
	}
	if j.overflow != 3 || len(q) != 2 {
		t.Errorf("overflow %d, queued %d; want 3 and 2", j.overflow, len(q))
	}
	got := drain(q)
	if got[0].Number != 1 || got[1].Number != 2 {
		t.Errorf("numbers %d %d", got[0].Number, got[1].Number)
	}
}

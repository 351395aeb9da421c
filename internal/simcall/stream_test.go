package simcall

import (
	"context"
	"testing"
	"time"

	"github.com/pion/rtp"

	"dtmfgw/dtmf"
)

// codesOf turns keys into RFC 4733 codes for a job.
func codesOf(t *testing.T, keys string) []uint8 {
	t.Helper()
	codes := make([]uint8, len(keys))
	for i := range len(keys) {
		k, ok := dtmf.KeyFromChar(keys[i])
		if !ok {
			t.Fatalf("key %d is not a DTMF key", i)
		}
		codes[i] = k.Code()
	}
	return codes
}

// runJob sends a job through a stream, with audio frames before and
// after, and returns every packet.
func runJob(t *testing.T, job *keyJob) []rtp.Packet {
	t.Helper()
	s := newStream(101)
	var out []rtp.Packet
	take := func() {
		var p rtp.Packet
		if err := p.Unmarshal(append([]byte(nil), s.next()...)); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	for range 3 {
		take()
	}
	s.job = job
	limit := len(job.codes)*(job.pressFrames+job.gapFrames+endRepeats) + 1
	for i := 0; s.job != nil; i++ {
		if i > limit {
			t.Fatalf("the job did not end within %d frames", limit)
		}
		take()
	}
	for range 3 {
		take()
	}
	return out
}

func TestStreamSendsRFC4733Presses(t *testing.T) {
	for _, c := range []struct {
		name       string
		keys       string
		press, gap int // frames
	}{
		{"one key", "5", 5, 5},
		{"card number", "4242424242424242", 5, 5},
		{"one-frame press, no gap asked", "1#", 1, 0},
		{"long press, long gap", "*0D", 20, 12},
		{"repeated key", "77", 4, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			job := &keyJob{ctx: context.Background(), codes: codesOf(t, c.keys), pressFrames: c.press, gapFrames: c.gap, done: make(chan error, 1)}
			pkts := runJob(t, job)
			if err := <-job.done; err != nil {
				t.Fatalf("job: %v", err)
			}
			for i, code := range job.codes {
				if code != 0 {
					t.Fatalf("code %d not zeroed after the job", i)
				}
			}
			// The whole stream: one SSRC, consecutive sequence numbers.
			for i := 1; i < len(pkts); i++ {
				if pkts[i].SSRC != pkts[0].SSRC || pkts[i].SequenceNumber != pkts[i-1].SequenceNumber+1 {
					t.Fatalf("packet %d: SSRC or sequence number breaks the stream", i)
				}
			}
			// Each press: marker on its first packet only, one timestamp,
			// growing durations, the end sent three times with the final
			// duration (RFC 4733 §2.5).
			type press struct {
				ts      uint32
				packets []rtp.Packet
			}
			var presses []press
			gaps := map[int]int{} // audio packets after press i
			for _, p := range pkts {
				if p.PayloadType != 101 {
					if len(presses) > 0 {
						gaps[len(presses)-1]++
					}
					continue
				}
				if len(presses) == 0 || presses[len(presses)-1].ts != p.Timestamp {
					presses = append(presses, press{ts: p.Timestamp})
				}
				presses[len(presses)-1].packets = append(presses[len(presses)-1].packets, p)
			}
			if len(presses) != len(c.keys) {
				t.Fatalf("%d presses, want %d", len(presses), len(c.keys))
			}
			for i, pr := range presses {
				if len(pr.packets) != c.press+endRepeats-1 {
					t.Errorf("press %d: %d packets, want %d", i, len(pr.packets), c.press+endRepeats-1)
				}
				var last uint16
				ends := 0
				for j, p := range pr.packets {
					ev, err := dtmf.DecodeTelephoneEvent(p.Payload)
					if err != nil {
						t.Fatal(err)
					}
					if p.Marker != (j == 0) {
						t.Errorf("press %d packet %d: marker %v", i, j, p.Marker)
					}
					if ev.Duration < last || ev.Duration == 0 {
						t.Errorf("press %d packet %d: duration %d after %d", i, j, ev.Duration, last)
					}
					last = ev.Duration
					if ev.End {
						ends++
						if ev.Duration != uint16(c.press*samplesPerFrame) {
							t.Errorf("press %d: end duration %d, want %d", i, ev.Duration, c.press*samplesPerFrame)
						}
					}
				}
				if ends != endRepeats {
					t.Errorf("press %d: %d end packets, want %d", i, ends, endRepeats)
				}
				if want := max(c.gap-(endRepeats-1), 0); i < len(presses)-1 && gaps[i] != want {
					t.Errorf("after press %d: %d audio packets, want %d", i, gaps[i], want)
				}
			}
			// The Tracker, which the gateway runs, hears each key once.
			tr := dtmf.NewTracker(dtmf.TrackerConfig{})
			var got []dtmf.KeyEvent
			at := time.Unix(0, 0)
			for _, p := range pkts {
				at = at.Add(Frame)
				if p.PayloadType != 101 {
					continue
				}
				var err error
				got, err = tr.Feed(dtmf.RTPInfo{SSRC: p.SSRC, Sequence: p.SequenceNumber, Timestamp: p.Timestamp, Marker: p.Marker}, p.Payload, at, got)
				if err != nil {
					t.Fatal(err)
				}
			}
			var keys []byte
			for _, ev := range got {
				if ev.Kind == dtmf.End {
					keys = append(keys, ev.Key.Reveal()[0])
				}
			}
			if string(keys) != c.keys {
				t.Errorf("the tracker heard %d presses, want %d (or different keys)", len(keys), len(c.keys))
			}
		})
	}
}

func TestStreamEndsAJobWhoseContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	job := &keyJob{ctx: ctx, codes: codesOf(t, "123"), pressFrames: 5, gapFrames: 5, done: make(chan error, 1)}
	s := newStream(101)
	s.job = job
	s.next()
	cancel()
	pkt := s.next()
	if s.job != nil {
		t.Fatal("the job is still running after its context ended")
	}
	if err := <-job.done; err != context.Canceled {
		t.Errorf("job ended with %v, want context.Canceled", err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(pkt); err != nil || p.PayloadType != pcmuPT {
		t.Errorf("after the job: payload type %d, %v; want audio", p.PayloadType, err)
	}
	for i, code := range job.codes {
		if code != 0 {
			t.Fatalf("code %d not zeroed", i)
		}
	}
}

func TestFramesOf(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int
	}{{0, 0}, {9 * time.Millisecond, 0}, {10 * time.Millisecond, 1}, {100 * time.Millisecond, 5}, {110 * time.Millisecond, 6}} {
		if got := framesOf(c.d); got != c.want {
			t.Errorf("framesOf(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}

package dtmf

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// fuzzInput reads a fuzz input as a little program; it yields zeros once
// the input is used up, so every input is a valid program.
type fuzzInput struct{ b []byte }

func (in *fuzzInput) empty() bool { return len(in.b) == 0 }

func (in *fuzzInput) byte() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

func (in *fuzzInput) u16() uint16 { return uint16(in.byte())<<8 | uint16(in.byte()) }

func (in *fuzzInput) u32() uint32 { return uint32(in.u16())<<16 | uint32(in.u16()) }

// pressChecker checks that events describe whole presses: Begin and End
// alternate, and an End describes the press its Begin opened.
type pressChecker struct {
	open  bool
	begin KeyEvent
	all   []KeyEvent
}

func (c *pressChecker) check(t *testing.T, evs []KeyEvent) {
	t.Helper()
	for _, e := range evs {
		if e.Source != SourceRFC4733 || !e.Key.Valid() {
			t.Fatalf("event with source %v key %c", e.Source, e.Key)
		}
		switch e.Kind {
		case Begin:
			if c.open {
				t.Fatalf("second Begin (%s) without an End for %s", describeOne(e), describeOne(c.begin))
			}
			c.open, c.begin = true, e
		case End:
			if !c.open {
				t.Fatalf("End (%s) without a Begin", describeOne(e))
			}
			b := c.begin
			if e.Key != b.Key || e.RTPTimestamp != b.RTPTimestamp || !e.FirstSeen.Equal(b.FirstSeen) {
				t.Fatalf("End %s does not match its Begin %s", describeOne(e), describeOne(b))
			}
			if e.Duration < b.Duration {
				t.Fatalf("End duration %d shorter than Begin's %d", e.Duration, b.Duration)
			}
			c.open = false
		default:
			t.Fatalf("event of kind %v", e.Kind)
		}
	}
	c.all = append(c.all, evs...)
}

// FuzzTracker runs a Tracker over a stream described by the input: each
// operation is a packet (SSRC, timestamp change, marker, arrival time,
// structured events or raw payload bytes), a Tick, or time passing. It
// checks that the Tracker never panics, that Begin and End pair up, that
// Deadline agrees with whether a press is open and that a final Tick far in
// the future ends every press. Two more Trackers see the same stream, one
// with every packet fed twice and one never ticked: both must report the
// same presses, since duplicates are ignored and Feed applies the timeout
// itself.
func FuzzTracker(f *testing.F) {
	// Seed: one press at 8 kHz, updates then a repeated end packet.
	f.Add([]byte{
		0x00,
		0x00, 0x1C, 0x00, 0x00, 0x03, 0xE8, 0x00, 0x05, 0x0A, 0x01, 0x90,
		0x00, 0x00, 0x32, 0x05, 0x0A, 0x03, 0x20,
		0x00, 0x00, 0x32, 0x05, 0x8A, 0x04, 0xB0,
		0x00, 0x00, 0x14, 0x05, 0x8A, 0x04, 0xB0,
		0x07, 0xFF,
	})
	// Seed: a press whose end packets are lost, ended by Tick.
	f.Add([]byte{0x00, 0x00, 0x1C, 0x00, 0x00, 0x10, 0x00, 0x00, 0x0B, 0x0A, 0x01, 0x90, 0x07, 0x40})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &fuzzInput{b: data}
		cfgByte := in.byte()
		cfg := TrackerConfig{ClockRate: [4]uint32{0, 8000, 16000, 48000}[cfgByte&3]}
		if cfgByte&4 != 0 {
			cfg.EndTimeout = time.Duration(cfgByte>>3) * 10 * time.Millisecond
		}
		main, twice, untick := NewTracker(cfg), NewTracker(cfg), NewTracker(cfg)
		var mainC, twiceC, untickC pressChecker
		ssrcs := [4]uint32{ssrcA, ssrcB, 0x33333333, 0}
		now := t0
		var ts uint32
		var payload [16]byte
		out := make([]KeyEvent, 0, 16)

		for ops := 0; !in.empty() && ops < 1000; ops++ {
			op := in.byte() & 7
			switch op {
			case 7: // Tick
				now = now.Add(time.Duration(in.byte()) * 4 * time.Millisecond)
				mainC.check(t, main.Tick(now, out[:0]))
				twiceC.check(t, twice.Tick(now, out[:0]))
			case 6: // time passes
				now = now.Add(time.Duration(in.u16()) * time.Millisecond)
			default: // a packet
				b := in.byte()
				h := RTPInfo{SSRC: ssrcs[b&3], Marker: b&4 != 0, Sequence: uint16(ops)}
				switch (b >> 3) & 3 {
				case 1:
					ts += uint32(in.u16())
				case 2:
					ts -= uint32(in.u16())
				case 3:
					ts = in.u32()
				}
				h.Timestamp = ts
				now = now.Add(time.Duration(in.byte()) * time.Millisecond)
				p := payload[:0]
				if op <= 3 { // one or two structured events, mostly DTMF codes
					for range 1 + int(b>>5&1) {
						code := in.byte()
						if code < 0xF0 {
							code &= 0x0F
						}
						p = append(p, code, in.byte())
						d := in.u16()
						p = append(p, byte(d>>8), byte(d))
					}
				} else { // raw bytes, often not a whole event
					for range int(in.byte() % 13) {
						p = append(p, in.byte())
					}
				}
				events := len(p) / TelephoneEventSize

				got, err := main.Feed(h, p, now, out[:0])
				switch {
				case len(p) < TelephoneEventSize:
					if !errors.Is(err, ErrShortTelephoneEvent) || len(got) != 0 {
						t.Fatalf("%d-byte payload: err %v, %d events", len(p), err, len(got))
					}
				case len(p)%TelephoneEventSize != 0:
					if !errors.Is(err, ErrTrailingTelephoneEventBytes) || len(got) != 0 {
						t.Fatalf("%d-byte payload: err %v, %d events", len(p), err, len(got))
					}
				case err != nil:
					t.Fatalf("%d-byte payload: err %v", len(p), err)
				case len(got) > 2*events+1:
					t.Fatalf("%d events from a packet of %d", len(got), events)
				}
				mainC.check(t, got)
				for range 2 {
					got, _ = twice.Feed(h, p, now, out[:0])
					twiceC.check(t, got)
				}
				got, _ = untick.Feed(h, p, now, out[:0])
				untickC.check(t, got)
			}
			if _, ok := main.Deadline(); ok != mainC.open {
				t.Fatalf("Deadline reports open=%v, events say %v", ok, mainC.open)
			}
		}

		far := now.Add(time.Hour)
		for _, tc := range []struct {
			tr *Tracker
			c  *pressChecker
		}{{main, &mainC}, {twice, &twiceC}, {untick, &untickC}} {
			tc.c.check(t, tc.tr.Tick(far, out[:0]))
			if tc.c.open {
				t.Fatalf("press %s never ended", describeOne(tc.c.begin))
			}
			if _, ok := tc.tr.Deadline(); ok {
				t.Fatal("Deadline set with no press open")
			}
		}
		if n := main.Stats().Presses; n != uint64(len(mainC.all)/2) {
			t.Fatalf("Stats.Presses = %d, %d presses reported", n, len(mainC.all)/2)
		}
		if !slices.EqualFunc(mainC.all, twiceC.all, sameEvent) {
			t.Fatalf("feeding every packet twice changed the presses:\n%s---\n%s", describe(mainC.all), describe(twiceC.all))
		}
		if !slices.EqualFunc(mainC.all, untickC.all, sameEvent) {
			t.Fatalf("leaving out Ticks changed the presses:\n%s---\n%s", describe(mainC.all), describe(untickC.all))
		}
	})
}

func sameEvent(a, b KeyEvent) bool {
	return a.Kind == b.Kind && a.Key == b.Key && a.RTPTimestamp == b.RTPTimestamp &&
		a.Duration == b.Duration && a.FirstSeen.Equal(b.FirstSeen)
}

package dtmf

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestDecodeTelephoneEvent(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    TelephoneEvent
		wantErr error
	}{
		{"digit 5 start", []byte{5, 10, 0x00, 0xA0}, TelephoneEvent{Code: 5, Volume: 10, Duration: 160}, nil},
		{"end bit", []byte{11, 0x80 | 7, 0x03, 0x20}, TelephoneEvent{Code: 11, End: true, Volume: 7, Duration: 800}, nil},
		{"reserved R bit ignored, not part of volume", []byte{1, 0x40 | 10, 0, 1}, TelephoneEvent{Code: 1, Volume: 10, Duration: 1}, nil},
		{"E and R bits with maximum volume", []byte{0, 0xFF, 0xFF, 0xFF}, TelephoneEvent{Code: 0, End: true, Volume: 63, Duration: 0xFFFF}, nil},
		{"duration is big-endian", []byte{3, 0, 0x12, 0x34}, TelephoneEvent{Code: 3, Duration: 0x1234}, nil},
		{"code above 15 decodes", []byte{32, 0, 0, 0}, TelephoneEvent{Code: 32}, nil},
		{"only the first event is decoded", []byte{7, 0x80, 0, 8, 9, 0, 0, 9}, TelephoneEvent{Code: 7, End: true, Duration: 8}, nil},
		{"trailing bytes after the first event are not looked at", []byte{7, 0, 0, 8, 1}, TelephoneEvent{Code: 7, Duration: 8}, nil},
		{"empty", nil, TelephoneEvent{}, ErrShortTelephoneEvent},
		{"one byte", []byte{1}, TelephoneEvent{}, ErrShortTelephoneEvent},
		{"three bytes", []byte{1, 2, 3}, TelephoneEvent{}, ErrShortTelephoneEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeTelephoneEvent(tt.payload)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeTelephoneEvents(t *testing.T) {
	ev1 := TelephoneEvent{Code: 1, End: true, Volume: 10, Duration: 800}
	ev2 := TelephoneEvent{Code: 2, Volume: 10, Duration: 400}
	ev3 := TelephoneEvent{Code: 16, Volume: 3, Duration: 1}
	tests := []struct {
		name     string
		payload  []byte
		dst      []TelephoneEvent
		want     []TelephoneEvent
		wantErr  error
		errTotal string // text the wrapped error must contain
	}{
		{"one event", ev1.AppendTo(nil), nil, []TelephoneEvent{ev1}, nil, ""},
		{"three packed events (RFC 4733 §2.5.1.5)", ev3.AppendTo(ev2.AppendTo(ev1.AppendTo(nil))), nil, []TelephoneEvent{ev1, ev2, ev3}, nil, ""},
		{"appends after existing elements", ev2.AppendTo(nil), []TelephoneEvent{ev1}, []TelephoneEvent{ev1, ev2}, nil, ""},
		{"empty", nil, nil, nil, ErrShortTelephoneEvent, ""},
		{"shorter than one event", []byte{1, 2}, []TelephoneEvent{ev1}, []TelephoneEvent{ev1}, ErrShortTelephoneEvent, ""},
		{"one trailing byte keeps the whole event", append(ev1.AppendTo(nil), 0xAA), nil, []TelephoneEvent{ev1}, ErrTrailingTelephoneEventBytes, "1 of 5 bytes"},
		{"three trailing bytes keep both whole events", append(ev2.AppendTo(ev1.AppendTo(nil)), 1, 2, 3), nil, []TelephoneEvent{ev1, ev2}, ErrTrailingTelephoneEventBytes, "3 of 11 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeTelephoneEvents(tt.payload, tt.dst)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tt.errTotal) {
				t.Errorf("err = %q, want it to contain %q", err, tt.errTotal)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events %+v, want %d %+v", len(got), got, len(tt.want), tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("event %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// The payload bytes are card digits: an error must not repeat them.
func TestTelephoneEventErrorsDoNotRevealPayload(t *testing.T) {
	a := []byte{1, 0x80, 0, 8, 4}
	b := []byte{9, 0x80, 0, 8, 7}
	_, errA := DecodeTelephoneEvents(a, nil)
	_, errB := DecodeTelephoneEvents(b, nil)
	if errA == nil || errB == nil || errA.Error() != errB.Error() {
		t.Errorf("errors differ by payload content: %q vs %q", errA, errB)
	}
}

func TestTelephoneEventAppendTo(t *testing.T) {
	tests := []struct {
		name string
		ev   TelephoneEvent
		want []byte
	}{
		{"start packet", TelephoneEvent{Code: 9, Volume: 10, Duration: 160}, []byte{9, 10, 0, 0xA0}},
		{"end packet", TelephoneEvent{Code: 10, End: true, Volume: 10, Duration: 1600}, []byte{10, 0x80 | 10, 0x06, 0x40}},
		{"volume above 63 is truncated, R bit stays zero", TelephoneEvent{Code: 1, Volume: 0xFF, Duration: 1}, []byte{1, 0x3F, 0, 1}},
		{"volume 64 does not set the R bit", TelephoneEvent{Code: 1, End: true, Volume: 64}, []byte{1, 0x80, 0, 0}},
		{"maximum duration", TelephoneEvent{Code: 15, Duration: 0xFFFF}, []byte{15, 0, 0xFF, 0xFF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte{0xEE}
			got := tt.ev.AppendTo(prefix)
			if !bytes.Equal(got[1:], tt.want) || got[0] != 0xEE {
				t.Errorf("AppendTo = % x, want ee % x", got, tt.want)
			}
		})
	}
}

func TestTelephoneEventKey(t *testing.T) {
	const keys = "0123456789*#ABCD"
	for code := 0; code <= 0xFF; code++ {
		k, ok := TelephoneEvent{Code: uint8(code)}.Key()
		if code < len(keys) {
			if !ok || k != Key(keys[code]) {
				t.Errorf("code %d: got %q, %v; want %q, true", code, k, ok, keys[code])
			}
		} else if ok || k != 0 {
			t.Errorf("code %d: got %q, %v; want not a key", code, k, ok)
		}
	}
}

func TestDecodeTelephoneEventAllocs(t *testing.T) {
	payload := TelephoneEvent{Code: 4, End: true, Volume: 10, Duration: 800}.AppendTo(nil)
	payload = TelephoneEvent{Code: 5, Volume: 10, Duration: 160}.AppendTo(payload)
	dst := make([]TelephoneEvent, 0, 4)
	buf := make([]byte, 0, 8)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := DecodeTelephoneEvent(payload); err != nil {
			t.Fatal(err)
		}
		var err error
		if dst, err = DecodeTelephoneEvents(payload, dst[:0]); err != nil {
			t.Fatal(err)
		}
		buf = dst[0].AppendTo(buf[:0])
	})
	if allocs != 0 {
		t.Errorf("decode/encode allocate %v times per run, want 0", allocs)
	}
}

func FuzzDecodeTelephoneEvent(f *testing.F) {
	f.Add([]byte{5, 10, 0, 0xA0})
	f.Add([]byte{11, 0xCA, 0x06, 0x40})
	f.Add([]byte{1, 0x80, 0, 8, 2, 0x80, 0, 8})
	f.Add([]byte{1, 2, 3})
	f.Add([]byte{200, 0x7F, 0xFF, 0xFF, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := DecodeTelephoneEvent(b)
		if (err != nil) != (len(b) < TelephoneEventSize) {
			t.Fatalf("len %d: err = %v", len(b), err)
		}
		evs, errs := DecodeTelephoneEvents(b, nil)
		if len(evs) != len(b)/TelephoneEventSize {
			t.Fatalf("len %d: %d events, want %d", len(b), len(evs), len(b)/TelephoneEventSize)
		}
		switch {
		case len(b) < TelephoneEventSize:
			if !errors.Is(errs, ErrShortTelephoneEvent) {
				t.Fatalf("len %d: err = %v, want short", len(b), errs)
			}
			return
		case len(b)%TelephoneEventSize != 0:
			if !errors.Is(errs, ErrTrailingTelephoneEventBytes) {
				t.Fatalf("len %d: err = %v, want trailing", len(b), errs)
			}
		case errs != nil:
			t.Fatalf("len %d: unexpected err %v", len(b), errs)
		}
		if evs[0] != ev {
			t.Fatalf("DecodeTelephoneEvents[0] = %+v, DecodeTelephoneEvent = %+v", evs[0], ev)
		}
		if ev.Volume > 63 {
			t.Fatalf("volume %d above 63", ev.Volume)
		}
		for i, e := range evs {
			// Encoding reproduces the bytes with only the reserved R bit cleared.
			enc := e.AppendTo(nil)
			want := []byte{b[4*i], b[4*i+1] &^ 0x40, b[4*i+2], b[4*i+3]}
			if !bytes.Equal(enc, want) {
				t.Fatalf("event %d: encode(decode(% x)) = % x, want % x", i, b[4*i:4*i+4], enc, want)
			}
			if back, err := DecodeTelephoneEvent(enc); err != nil || back != e {
				t.Fatalf("event %d: decode(encode(%+v)) = %+v, %v", i, e, back, err)
			}
			k, ok := e.Key()
			if ok != (e.Code <= 15) || ok != k.Valid() {
				t.Fatalf("code %d: Key() = %q, %v", e.Code, k, ok)
			}
			if ok && k.Code() != e.Code {
				t.Fatalf("code %d: key %q has code %d", e.Code, k, k.Code())
			}
		}
	})
}

func BenchmarkDecodeTelephoneEvent(b *testing.B) {
	payload := TelephoneEvent{Code: 4, End: true, Volume: 10, Duration: 800}.AppendTo(nil)
	b.ReportAllocs()
	var sink TelephoneEvent
	for b.Loop() {
		ev, err := DecodeTelephoneEvent(payload)
		if err != nil {
			b.Fatal(err)
		}
		sink = ev
	}
	_ = sink
}

func BenchmarkDecodeTelephoneEvents(b *testing.B) {
	payload := TelephoneEvent{Code: 4, End: true, Volume: 10, Duration: 800}.AppendTo(nil)
	payload = TelephoneEvent{Code: 5, Volume: 10, Duration: 160}.AppendTo(payload)
	dst := make([]TelephoneEvent, 0, 4)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = DecodeTelephoneEvents(payload, dst[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func TestEventShaped(t *testing.T) {
	for _, tc := range []struct {
		name string
		pay  []byte
		want bool
	}{
		{"one event", []byte{5, 0x0a, 0, 160}, true},
		{"end packet", []byte{11, 0x8a, 3, 0x20}, true},
		{"two events", []byte{1, 0x0a, 0, 160, 2, 0x0a, 0, 80}, true},
		{"eight events", make([]byte, 32), true},
		{"empty", nil, false},
		{"short", []byte{1, 2, 3}, false},
		{"trailing byte", []byte{1, 0x0a, 0, 160, 2}, false},
		{"flash event", []byte{16, 0x0a, 0, 160}, false},
		{"second event not DTMF", []byte{1, 0x0a, 0, 160, 40, 0, 0, 0}, false},
		{"G.711 frame", make([]byte, 160), false},
		{"nine events", make([]byte, 36), false},
	} {
		if got := EventShaped(tc.pay); got != tc.want {
			t.Errorf("%s: EventShaped(% x) = %v, want %v", tc.name, tc.pay, got, tc.want)
		}
	}
}

package dtmf

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseSIPInfoAcceptsDTMFRelayBodies(t *testing.T) {
	tests := []struct {
		name string
		ct   string
		body string
		key  Key
		dur  time.Duration
	}{
		{"crlf signal then duration", "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", '5', 160 * time.Millisecond},
		{"lf only", "application/dtmf-relay", "Signal=7\nDuration=250\n", '7', 250 * time.Millisecond},
		{"duration first", "application/dtmf-relay", "Duration=100\r\nSignal=#\r\n", '#', 100 * time.Millisecond},
		{"duration optional", "application/dtmf-relay", "Signal=*", '*', 0},
		{"blanks around name and value", "application/dtmf-relay", "  Signal =  9 \r\n Duration= 40\t\r\n", '9', 40 * time.Millisecond},
		{"mixed case names", "application/dtmf-relay", "SIGNAL=1\r\nduration=60", '1', 60 * time.Millisecond},
		{"lower-case letter key", "application/dtmf-relay", "Signal=d\r\n", 'D', 0},
		{"event code for star", "application/dtmf-relay", "Signal=10\r\n", '*', 0},
		{"event code for hash", "application/dtmf-relay", "Signal=11\r\n", '#', 0},
		{"event code for D", "application/dtmf-relay", "Signal=15\r\n", 'D', 0},
		{"unknown lines ignored", "application/dtmf-relay", "Signal=3\r\nVolume=10\r\nDuration=160\r\n", '3', 160 * time.Millisecond},
		{"blank lines ignored", "application/dtmf-relay", "\r\n\r\nSignal=0\r\n\r\n", '0', 0},
		{"zero duration", "application/dtmf-relay", "Signal=2\r\nDuration=0", '2', 0},
		{"content type parameters", "application/dtmf-relay; charset=utf-8", "Signal=4", '4', 0},
		{"content type mixed case and blanks", "  Application/DTMF-Relay ;x=y", "Signal=6", '6', 0},
		{"maximum duration", "application/dtmf-relay", "Signal=8\nDuration=600000", '8', 600 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, d, err := ParseSIPInfo(tc.ct, []byte(tc.body))
			if err != nil {
				t.Fatalf("ParseSIPInfo: %v", err)
			}
			if k != tc.key || d != tc.dur {
				t.Errorf("got key %c duration %v, want %c %v", k, d, tc.key, tc.dur)
			}
		})
	}
}

func TestParseSIPInfoAcceptsDTMFBodies(t *testing.T) {
	tests := []struct {
		name string
		ct   string
		body string
		key  Key
	}{
		{"digit", "application/dtmf", "5", '5'},
		{"digit with crlf", "application/dtmf", "5\r\n", '5'},
		{"star", "application/dtmf", "*", '*'},
		{"hash", "application/dtmf", "#", '#'},
		{"letter", "application/dtmf", "A", 'A'},
		{"lower-case letter", "application/dtmf", "c", 'C'},
		{"event code 10 is star", "application/dtmf", "10", '*'},
		{"event code 11 is hash", "application/dtmf", "11\n", '#'},
		{"upper-case content type", "APPLICATION/DTMF", " 9 ", '9'},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, d, err := ParseSIPInfo(tc.ct, []byte(tc.body))
			if err != nil {
				t.Fatalf("ParseSIPInfo: %v", err)
			}
			if k != tc.key || d != 0 {
				t.Errorf("got key %c duration %v, want %c 0", k, d, tc.key)
			}
		})
	}
}

func TestParseSIPInfoRejectsWithSentinelErrors(t *testing.T) {
	tests := []struct {
		name string
		ct   string
		body string
		want error
	}{
		{"other content type", "application/sdp", "Signal=5", ErrUnsupportedContentType},
		{"empty content type", "", "5", ErrUnsupportedContentType},
		{"dtmf-relay prefix is not dtmf", "application/dtmf-relayx", "Signal=5", ErrUnsupportedContentType},
		{"relay without signal", "application/dtmf-relay", "Duration=160", ErrMalformedSIPInfo},
		{"relay empty", "application/dtmf-relay", "", ErrMalformedSIPInfo},
		{"relay line without equals", "application/dtmf-relay", "Signal 5", ErrMalformedSIPInfo},
		{"relay two signals", "application/dtmf-relay", "Signal=5\nSignal=6", ErrMalformedSIPInfo},
		{"relay two durations", "application/dtmf-relay", "Signal=5\nDuration=1\nDuration=2", ErrMalformedSIPInfo},
		{"relay signal not a key", "application/dtmf-relay", "Signal=X", ErrMalformedSIPInfo},
		{"relay signal two keys", "application/dtmf-relay", "Signal=55", ErrNotAKey},
		{"relay signal leading zero", "application/dtmf-relay", "Signal=05", ErrMalformedSIPInfo},
		{"relay signal empty", "application/dtmf-relay", "Signal=", ErrMalformedSIPInfo},
		{"relay duration negative", "application/dtmf-relay", "Signal=5\nDuration=-1", ErrMalformedSIPInfo},
		{"relay duration too long", "application/dtmf-relay", "Signal=5\nDuration=600001", ErrMalformedSIPInfo},
		{"relay duration overflow", "application/dtmf-relay", "Signal=5\nDuration=99999999999999999999", ErrMalformedSIPInfo},
		{"relay hook flash", "application/dtmf-relay", "Signal=!", ErrNotAKey},
		{"relay event 16", "application/dtmf-relay", "Signal=16", ErrNotAKey},
		{"dtmf empty", "application/dtmf", "  \r\n", ErrMalformedSIPInfo},
		{"dtmf two keys", "application/dtmf", "1 2", ErrMalformedSIPInfo},
		{"dtmf relay syntax", "application/dtmf", "Signal=5", ErrMalformedSIPInfo},
		{"dtmf event 255", "application/dtmf", "255", ErrNotAKey},
		{"dtmf code 256", "application/dtmf", "256", ErrMalformedSIPInfo},
		{"relay too large", "application/dtmf-relay", "Signal=5\n" + strings.Repeat(" ", MaxSIPInfoBody), ErrSIPInfoTooLarge},
		{"dtmf too large", "application/dtmf", strings.Repeat(" ", MaxSIPInfoBody) + "5", ErrSIPInfoTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, d, err := ParseSIPInfo(tc.ct, []byte(tc.body))
			if !errors.Is(err, tc.want) {
				t.Fatalf("got key %c duration %v err %v, want %v", k, d, err, tc.want)
			}
			if k != 0 || d != 0 {
				t.Errorf("got key %c duration %v with an error, want zero values", k, d)
			}
		})
	}
}

// A SIP INFO body is card data while a payment is taken: no error text may
// repeat it, even when it is almost right.
func TestParseSIPInfoErrorsNeverContainTheBody(t *testing.T) {
	bodies := []struct{ ct, body, secret string }{
		{"application/dtmf-relay", "Signal=7\r\nDuration=abc7", "7"},
		{"application/dtmf-relay", "Signal=97\r\n", "97"},
		{"application/dtmf-relay", "Signal 4", "4"},
		{"application/dtmf", "4 4", "4"},
		{"application/dtmf", "x9", "9"},
		{"application/dtmf-relay", "Signal=8\nSignal=8", "8"},
	}
	for _, b := range bodies {
		_, _, err := ParseSIPInfo(b.ct, []byte(b.body))
		if err == nil {
			t.Fatalf("%q: no error", b.body)
		}
		// Line numbers are the only digits an error may carry; strip the
		// known texts that contain them before looking for the secret.
		msg := err.Error()
		for _, allowed := range []string{"line 1", "line 2", "600000", "1024"} {
			msg = strings.ReplaceAll(msg, allowed, "")
		}
		if strings.Contains(msg, b.secret) {
			t.Errorf("%q: error %q contains %q", b.body, err, b.secret)
		}
	}
}

func TestParseSIPInfoDoesNotAllocate(t *testing.T) {
	body := []byte("Signal=5\r\nDuration=160\r\n")
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := ParseSIPInfo("application/dtmf-relay; charset=utf-8", body); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ParseSIPInfo allocates %v times per call, want 0", allocs)
	}
}

func BenchmarkParseSIPInfoDTMFRelay(b *testing.B) {
	body := []byte("Signal=5\r\nDuration=160\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseSIPInfo("application/dtmf-relay", body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSIPInfoDTMF(b *testing.B) {
	body := []byte("#\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ParseSIPInfo("application/dtmf", body); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzParseSIPInfo checks that no body crashes the parser, that a success
// returns a valid key and a bounded duration, that a failure returns zero
// values and a sentinel, and that no error text contains the body.
func FuzzParseSIPInfo(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf-relay; charset=utf-8", []byte("duration = 100\nSIGNAL = #\n"))
	f.Add("application/dtmf", []byte("10"))
	f.Add("application/dtmf", []byte("*\r\n"))
	f.Add("text/plain", []byte("5"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		k, d, err := ParseSIPInfo(ct, body)
		if err != nil {
			if k != 0 || d != 0 {
				t.Fatalf("error %v with key %c duration %v", err, k, d)
			}
			sentinel := false
			for _, s := range []error{ErrUnsupportedContentType, ErrMalformedSIPInfo, ErrSIPInfoTooLarge, ErrNotAKey} {
				sentinel = sentinel || errors.Is(err, s)
			}
			if !sentinel {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			// Only the content-type error quotes anything (the content
			// type, never read from the body); the others quote nothing.
			if tb := strings.TrimSpace(string(body)); len(tb) >= 3 && !errors.Is(err, ErrUnsupportedContentType) && strings.Contains(err.Error(), tb) {
				t.Fatalf("error %q contains the body", err)
			}
			return
		}
		if !k.Valid() {
			t.Fatalf("success with invalid key %c", k)
		}
		if d < 0 || d > maxSIPInfoDurationMS*time.Millisecond {
			t.Fatalf("duration %v out of range", d)
		}
	})
}

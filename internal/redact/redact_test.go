package redact

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// canary is a card number no test card uses (Luhn-valid Visa).
const canary = "4917613849275039"

func TestString(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"empty", "", ""},
		{"no digits", "dtmfgw serving", "dtmfgw serving"},
		{"card alone", canary, "****************"},
		{"card in text", "card " + canary + " declined", "card **************** declined"},
		{"last eight", "ends 49275039.", "ends ********."},
		{"six digits", "code=123456", "code=******"},
		{"five digits kept", "port 12345", "port 12345"},
		{"address and port", "127.0.0.1:5060", "127.0.0.1:5060"},
		{"port range kept", "20000-29999", "20000-29999"},
		{"date kept", "2024-01-02", "2024-01-02"},
		{"rfc3339 kept", "2024-01-02T15:04:05.123456789Z", "2024-01-02T15:04:05.123456789Z"},
		{"duration kept", "1.234567s", "1.234567s"},
		{"hex call id kept", "a84b4c76e667101234f@pc33.example", "a84b4c76e667101234f@pc33.example"},
		{"base64 id kept", "q1234567Zx_9", "q1234567Zx_9"},
		{"card glued to a word", "pan" + canary, "pan****************"},
		{"card with spaces", "4917 6138 4927 5039", "**** **** **** ****"},
		{"card with hyphens", "4917-6138-4927-5039", "****-****-****-****"},
		{"amex blocks", "3782 822463 10005", "**** ****** *****"},
		{"long block in a short group", "12 3456789", "12 *******"},
		{"phone in a URI", "sip:+441632960001@carrier.example", "sip:+************@carrier.example"},
		{"numeric call id", "3848276298220188511@192.0.2.1", "*******************@192.0.2.1"},
		{"uuid tail", "550e8400-e29b-41d4-a716-446655440000", "550e8400-e29b-41d4-a716-************"},
		{"two spaces break a group", "4917  6138 4927 5039", "4917  **** **** ****"},
		{"group stops at a word", "491761 3849abc", "****** 3849abc"},
		{"utf8 kept", "• 123456 €", "• ****** €"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := String(c.in); got != c.want {
				t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestStringAllocatesNothingWhenClean(t *testing.T) {
	s := "INVITE refused: no route status=404 source=127.0.0.1"
	if n := testing.AllocsPerRun(100, func() { _ = String(s) }); n != 0 {
		t.Errorf("%v allocs for a clean string", n)
	}
}

type stringer struct{}

func (stringer) String() string { return "pan " + canary }

type valuer struct{}

func (valuer) LogValue() slog.Value { return slog.StringValue(canary) }

type record struct {
	PAN   string
	Count int
}

// TestHandler logs the canary through every kind of value, in text and
// JSON, and searches the output for it whole and for its last 8 digits.
func TestHandler(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			opts := &slog.HandlerOptions{Level: slog.LevelDebug}
			var h slog.Handler = slog.NewTextHandler(&buf, opts)
			if format == "json" {
				h = slog.NewJSONHandler(&buf, opts)
			}
			log := slog.New(NewHandler(h)).With("call", "c-"+canary, "port", 5060)
			log.WithGroup("g").With("pre", canary).Debug("msg "+canary,
				"s", canary,
				"err", fmt.Errorf("wrapped: %w", errors.New("card "+canary)),
				"stringer", stringer{},
				"valuer", valuer{},
				"bytes", []byte(canary),
				"struct", record{PAN: canary, Count: 3},
				"slice", []string{canary},
				slog.Group("inner", "pan", canary[8:]),
				"n", 42, "d", 1500*time.Millisecond, "ok", true,
			)
			out := buf.String()
			if strings.Contains(out, canary) || strings.Contains(out, canary[8:]) {
				t.Fatalf("the canary leaked:\n%s", out)
			}
			for _, want := range []string{"port", "5060", "42", "true", "****************"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestHandlerEnabledFollowsTheWrappedHandler(t *testing.T) {
	h := NewHandler(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if h.Enabled(t.Context(), slog.LevelInfo) || !h.Enabled(t.Context(), slog.LevelError) {
		t.Error("Enabled does not follow the wrapped handler's level")
	}
}

// FuzzString checks the rule's promises on any input: the length is kept,
// only digits change, and no all-digit token of MinRun digits survives.
func FuzzString(f *testing.F) {
	for _, s := range []string{"", canary, "4917 6138 4927 5039", "20000-29999", "a84b4c76e66710@pc33", "12 3456789", "x-123456-y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := String(s)
		if len(got) != len(s) {
			t.Fatalf("length %d, want %d", len(got), len(s))
		}
		for i := range len(s) {
			if got[i] != s[i] && !(isDigit(s[i]) && got[i] == Mask) {
				t.Fatalf("byte %d changed from %q to %q", i, s[i], got[i])
			}
		}
		for i := 0; i < len(got); {
			if !isAlnum(got[i]) {
				i++
				continue
			}
			j, letters := i, false
			for j < len(got) && isAlnum(got[j]) {
				letters = letters || !isDigit(got[j])
				j++
			}
			if !letters && j-i >= MinRun {
				t.Fatalf("unmasked run %q in %q", got[i:j], got)
			}
			i = j
		}
		if String(got) != got {
			t.Fatalf("masking is not idempotent on %q", s)
		}
	})
}

func TestIdent(t *testing.T) {
	for _, c := range []struct {
		in, punct string
		maxLen    int
		minRun    int
		want      string
	}{
		{"pi_3Mtw12345", "_", 64, 12, "pi_3Mtw12345"},
		{"", "_", 64, 12, ""},
		{"too_long", "_", 7, 12, ""},
		{"at_most", "_", 7, 12, "at_most"},
		{"pan" + canary, "_", 64, 12, ""},
		{"a12345b12345", "_", 64, 6, "a12345b12345"},
		{"a123456", "_", 64, 6, ""},
		{"card-declined", "_", 64, 6, ""},
		{"card-declined", "_-", 64, 6, "card-declined"},
		{"café", "_", 64, 6, ""},
		{"a b", "_", 64, 6, ""},
	} {
		if got := Ident(c.in, c.maxLen, c.minRun, c.punct); got != c.want {
			t.Errorf("Ident(%q, %d, %d, %q) = %q, want %q", c.in, c.maxLen, c.minRun, c.punct, got, c.want)
		}
	}
}

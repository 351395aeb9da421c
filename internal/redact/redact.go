// Package redact masks runs of digits in log output, so that a card number
// that reached a log line by mistake is not written out. Card data never
// becomes a string in dtmfgw (package payment keeps it in []byte and dtmf.Key
// prints as "•"); this is the second line of defence, applied to every
// logger `dtmfgw serve` builds.
//
// The rule, on the text of a message, a string attribute, an error, or any
// other non-numeric value (formatted with fmt first), group members
// included:
//
//   - A token is a maximal run of ASCII letters and digits.
//   - A token made of digits alone, 6 digits or more, is masked: a card
//     number, its last 8 digits, a phone number, a numeric SIP Call-ID.
//   - All-digit tokens joined by single spaces or hyphens are one group; a
//     group of 12 digits or more (the shortest card number) is masked, so
//     "4111 1111 1111 1111" and "4111-1111-1111-1111" are caught while a
//     port range ("20000-29999", 10 digits) or a date ("2024-01-02") stays.
//   - In a token that holds a letter, a digit run is masked only from 12
//     digits up, so hexadecimal ids stay readable (a random 32-character
//     hex id has a run of 6 decimal digits nearly half the time) while a
//     card number glued to a word ("pan4111111111111111") is still caught.
//
// Masking replaces each digit with '*' and keeps everything else, so the
// shape of the value is still there to read. Numbers (int, float,
// durations), booleans and times are left alone: they are not text, and
// card data is never converted to a number. Attribute keys are code, not
// data, and are kept.
package redact

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// Thresholds of the rule in the package comment.
const (
	// MinRun is the shortest all-digit token that is masked.
	MinRun = 6
	// MinCard is the shortest digit group (space/hyphen-joined blocks) or
	// digit run inside a word that is masked: the shortest card number.
	MinCard = 12
)

// Mask is the character a masked digit becomes.
const Mask = '*'

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isAlnum(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// String returns s with the digit runs the package rule masks replaced by
// '*'. It returns s itself (no allocation) when nothing is masked.
func String(s string) string {
	var out []byte // nil until the first mask
	mask := func(from, to int) {
		if out == nil {
			out = []byte(s)
		}
		for k := from; k < to; k++ {
			if isDigit(out[k]) {
				out[k] = Mask
			}
		}
	}
	i := 0
	for i < len(s) {
		if !isAlnum(s[i]) {
			i++
			continue
		}
		// One token: s[i:j].
		j, letters := i, false
		for j < len(s) && isAlnum(s[j]) {
			if !isDigit(s[j]) {
				letters = true
			}
			j++
		}
		if letters {
			maskRuns(s, i, j, MinCard, mask)
			i = j
			continue
		}
		// An all-digit token: extend it into a group over single spaces
		// or hyphens followed by another all-digit token.
		digits, end := j-i, j
		for end+1 < len(s) && (s[end] == ' ' || s[end] == '-') && isDigit(s[end+1]) {
			k := end + 1
			for k < len(s) && isDigit(s[k]) {
				k++
			}
			if k < len(s) && isAlnum(s[k]) {
				break // the next token holds a letter: not a digit block
			}
			digits += k - end - 1
			end = k
		}
		switch {
		case digits >= MinCard:
			mask(i, end)
		case j-i >= MinRun:
			mask(i, j)
			// A later block of the group may be long enough alone.
			maskRuns(s, j, end, MinRun, mask)
		default:
			maskRuns(s, j, end, MinRun, mask)
		}
		i = end
	}
	if out == nil {
		return s
	}
	return string(out)
}

// maskRuns masks the digit runs of s[from:to] that are least digits or
// longer: the all-digit blocks of a group's tail (MinRun), the long runs
// inside a token with letters (MinCard).
func maskRuns(s string, from, to, least int, mask func(int, int)) {
	for k := from; k < to; {
		if !isDigit(s[k]) {
			k++
			continue
		}
		e := k
		for e < to && isDigit(s[e]) {
			e++
		}
		if e-k >= least {
			mask(k, e)
		}
		k = e
	}
}

// Ident returns s if it is an identifier safe to log as it stands: at
// most maxLen bytes of ASCII letters, digits and the bytes of punct, with
// no run of minRun digits or more (a card number has no place in an id).
// Anything else becomes "". It is for the ids and codes a remote service
// answers with: better none in a log line than one that could hold a card
// number.
func Ident(s string, maxLen, minRun int, punct string) string {
	if len(s) > maxLen {
		return ""
	}
	run := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isDigit(c):
			if run++; run >= minRun {
				return ""
			}
			continue
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', strings.IndexByte(punct, c) >= 0:
		default:
			return ""
		}
		run = 0
	}
	return s
}

// Handler is a slog.Handler that masks digit runs (String) in the message
// and every attribute before passing the record to the handler it wraps.
type Handler struct{ next slog.Handler }

// NewHandler wraps next. Wrapping twice is harmless but does the work twice.
func NewHandler(next slog.Handler) *Handler { return &Handler{next: next} }

// Enabled reports whether the wrapped handler handles level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle masks r's message and attributes and passes the copy on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, String(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(Attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs masks as and returns a Handler over the wrapped handler's.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = Attr(a)
	}
	return &Handler{next: h.next.WithAttrs(red)}
}

// WithGroup returns a Handler over the wrapped handler's group (a group's
// name is code, and is kept).
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name)}
}

// Attr returns a with its value masked: a LogValuer is resolved first; a
// group's members are masked one by one; a string is masked; any other
// non-numeric value (an error, a Stringer, a struct, a slice) becomes its
// masked text, because a handler would otherwise print it unmasked (the
// JSON handler marshals structures and would print their digits).
func Attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		g := v.Group()
		red := make([]slog.Attr, len(g))
		for i, x := range g {
			red[i] = Attr(x)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(red...)}
	case slog.KindString:
		return slog.String(a.Key, String(v.String()))
	case slog.KindAny:
		var s string
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case fmt.Stringer:
			s = x.String()
		case []byte:
			s = string(x)
		default:
			s = fmt.Sprintf("%+v", x)
		}
		return slog.String(a.Key, String(s))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

var _ slog.Handler = (*Handler)(nil)

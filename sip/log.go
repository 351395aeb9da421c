package sip

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
)

// maxLoggedValue is the longest attribute value a sipgo log line keeps.
const maxLoggedValue = 128

// redactingHandler wraps the handler sipgo logs through. sipgo logs whole
// SIP messages in some error paths (a message it cannot parse, say), and a
// SIP INFO body can hold a key press, so every attribute whose value spans
// lines or runs long is replaced by its length: a SIP message always spans
// lines. Our own log lines never hold a message or a body and need no such
// filter.
type redactingHandler struct{ next slog.Handler }

func (h redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, redactString(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h redactingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redactAttr(a)
	}
	return redactingHandler{h.next.WithAttrs(red)}
}

func (h redactingHandler) WithGroup(name string) slog.Handler {
	return redactingHandler{h.next.WithGroup(name)}
}

// redactAttr resolves a (a LogValuer or a Stringer-carrying value prints
// through its string form) and redacts its value.
func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, x := range g {
			red[i] = redactAttr(x)
		}
		return slog.Group(a.Key, red...)
	case slog.KindString, slog.KindAny:
		s := v.String()
		if v.Kind() == slog.KindAny {
			if err, ok := v.Any().(error); ok {
				s = err.Error()
			}
		}
		if r := redactString(s); r != s || v.Kind() == slog.KindAny {
			return slog.String(a.Key, r)
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// redactString returns s, or a placeholder with its length when s spans
// lines or is long.
func redactString(s string) string {
	if len(s) > maxLoggedValue || strings.ContainsAny(s, "\r\n") {
		return "[redacted " + strconv.Itoa(len(s)) + " bytes]"
	}
	return s
}

package sip

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	sipmsg "github.com/emiago/sipgo/sip"
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

// sipgo also logs through a package-level logger of its own (connection
// reference warnings, headers it could not parse, requests no handler
// took), which is slog.Default unless set, and may be set only before the
// library is first used. So it is set once, at init, to a handler that
// forwards each record to the logger of the newest B2BUA (libraryLog),
// through the same redaction; until there is one, to slog.Default.
var libraryLog atomic.Pointer[slog.Logger]

func init() {
	sipmsg.SetDefaultLogger(slog.New(libraryHandler{}))
}

// routeLibraryLogs makes sipgo's package-level records go to log, redacted.
func routeLibraryLogs(log *slog.Logger) {
	libraryLog.Store(slog.New(redactingHandler{log.Handler()}).With("component", "sipgo"))
}

// libraryHandler forwards to libraryLog's handler as it is when a record
// arrives, with the attributes and groups sipgo added, replayed in order.
type libraryHandler struct {
	ops []func(slog.Handler) slog.Handler
}

// base is the handler records go to now.
func (libraryHandler) base() slog.Handler {
	if l := libraryLog.Load(); l != nil {
		return l.Handler()
	}
	return slog.Default().Handler()
}

func (h libraryHandler) target() slog.Handler {
	t := h.base()
	for _, op := range h.ops {
		t = op(t)
	}
	return t
}

// Enabled asks the base handler alone: attributes and groups do not
// change a level, and sipgo asks before every debug line.
func (h libraryHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.base().Enabled(ctx, l)
}

func (h libraryHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.target().Handle(ctx, r)
}

func (h libraryHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return libraryHandler{append(slices.Clone(h.ops), func(t slog.Handler) slog.Handler { return t.WithAttrs(as) })}
}

func (h libraryHandler) WithGroup(name string) slog.Handler {
	return libraryHandler{append(slices.Clone(h.ops), func(t slog.Handler) slog.Handler { return t.WithGroup(name) })}
}

package gateway

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"dtmfgw/internal/redact"
)

// NewLogger returns the process logger: text or JSON on w, behind the
// redaction layer (internal/redact), so every logger the gateway hands out
// (call's, payment's, processor's, sip's and sipgo's derive from it) masks digit
// runs. The level is a LevelVar so that SIGHUP can change it: give it to
// Start in Options.Level.
func NewLogger(w io.Writer, c LogConfig) (*slog.Logger, *slog.LevelVar) {
	level := new(slog.LevelVar)
	l, _ := parseLevel(c.Level)
	level.Set(l)
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(redact.NewHandler(h)), level
}

// parseLevel reads a log level name.
func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("%q is not debug, info, warn or error", s)
	}
	return l, nil
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"dtmfgw/internal/cli"
	"dtmfgw/internal/redact"
)

// runServe runs the gateway: the SIP B2BUA and the media relay, until
// SIGINT or SIGTERM, which drain (new calls refused, calls in progress
// given up to sip.drain_timeout) before it exits. SIGHUP reloads what can
// change while serving (reload).
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return runServeWith(ctx, args, os.Environ(), stdout, stderr, serveHooks{hup: hup})
}

// serveHooks connect serve to its signals, and tests to serve.
type serveHooks struct {
	// hup delivers SIGHUP: each receive reloads the configuration.
	hup <-chan os.Signal
	// started, if not nil, gets the gateway once it is serving.
	started func(*gateway)
	// reloaded, if not nil, gets the outcome of each reload.
	reloaded func(error)
}

// runServeWith is runServe with the environment and the hooks given.
func runServeWith(ctx context.Context, args, environ []string, stdout, stderr io.Writer, hooks serveHooks) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := sources{environ: environ}
	fs.StringVar(&src.path, "config", "", "YAML configuration file (every key has an embedded default; docs/configuration.md)")
	printCfg := fs.Bool("print-config", false, "print the effective configuration as YAML (secrets as <redacted>) and exit")
	checkCfg := fs.Bool("check-config", false, "validate the effective configuration and exit: 0 if valid, 1 if not")
	src.addFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dtmfgw serve [--config FILE] [--print-config] [--check-config] [--sip-listen ADDR:PORT] [--default-target SIP-URI] [--rtp-ports LOW-HIGH] [--storage DSN]")
		fmt.Fprintln(stderr, "Every key can also be set by its environment variable, DTMFGW_<SECTION>_<KEY> (docs/configuration.md);")
		fmt.Fprintln(stderr, "precedence: embedded defaults < file < environment < flags.")
		fs.PrintDefaults()
	}
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return cli.ErrUsage
	}
	cfg, err := src.build()
	if err != nil {
		return fmt.Errorf("configuration refused:\n%w", err)
	}
	switch {
	case *printCfg:
		out, err := printConfig(cfg)
		if err != nil {
			return err
		}
		_, err = stdout.Write(out)
		return err
	case *checkCfg:
		fmt.Fprintln(stdout, "configuration valid")
		return nil
	}
	log, level := newLogger(stderr, cfg.Log)
	return serve(ctx, src, cfg, log, level, hooks)
}

// serve runs the configured gateway until ctx ends, then drains; SIGHUP
// (hooks.hup) reloads it.
func serve(ctx context.Context, src sources, cfg config, log *slog.Logger, level *slog.LevelVar, hooks serveHooks) error {
	g, err := startGateway(ctx, cfg, log)
	if err != nil {
		return err
	}
	g.src, g.level = src, level
	if hooks.started != nil {
		hooks.started(g)
	}
	return g.run(ctx, hooks.hup, hooks.reloaded)
}

// generatedKey returns a random API key for a run that configured none.
func generatedKey() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "dtmfgw_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// newLogger returns the process logger: text or JSON on w, behind the
// redaction layer (internal/redact), so every logger serve hands out
// (session's, processor's, sip's and sipgo's derive from it) masks digit
// runs. The level is a LevelVar so that SIGHUP can change it.
func newLogger(w io.Writer, c logConfig) (*slog.Logger, *slog.LevelVar) {
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

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
	"strings"

	"dtmfgw/session"
)

// runServe runs the gateway: the SIP B2BUA and the media relay, until
// SIGINT or SIGTERM, which drain (new calls refused, calls in progress
// given up to sip.drain_timeout) before it exits.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration file (every key has an embedded default)")
	sipListen := fs.String("sip-listen", "", "SIP address, UDP and TCP (sip.listen; default 127.0.0.1:5060)")
	target := fs.String("default-target", "", "SIP URI calls are bridged to when no route matches (sip.default_target)")
	var ports session.PortRange
	fs.TextVar(&ports, "rtp-ports", session.DefaultMediaConfig().RTPPorts, "RTP port range LOW-HIGH (media.rtp_ports)")
	storage := fs.String("storage", "", "payment records: sqlite:PATH or a postgres:// URL (storage.dsn; default sqlite:data/dtmfgw.db)")
	logFormat := fs.String("log-format", "", "log format: text or json (log.format)")
	logLevel := fs.String("log-level", "", "log level: debug, info, warn, error (log.level)")
	httpListen := fs.String("http-listen", "", "public HTTP address of the API and the agent form (http.listen; default 127.0.0.1:8080)")
	var apiKeys stringList
	fs.Var(&apiKeys, "api-key", "an API key for back-end clients, added to http.api_keys (repeatable; also $DTMFGW_API_KEY)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dtmfgw serve [--config FILE] [--sip-listen ADDR:PORT] [--default-target SIP-URI] [--rtp-ports LOW-HIGH] [--storage DSN] [--http-listen ADDR:PORT] [--api-key KEY]...")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	// Flags given on the command line override the file.
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "sip-listen":
			cfg.SIP.Listen = *sipListen
		case "default-target":
			cfg.SIP.DefaultTarget = *target
		case "rtp-ports":
			cfg.Media.RTPPorts = ports
		case "storage":
			cfg.Storage.DSN = *storage
		case "log-format":
			cfg.Log.Format = *logFormat
		case "log-level":
			cfg.Log.Level = *logLevel
		case "http-listen":
			cfg.HTTP.Listen = *httpListen
		}
	})
	cfg.HTTP.APIKeys = append(cfg.HTTP.APIKeys, apiKeys...)
	if k := os.Getenv("DTMFGW_API_KEY"); k != "" {
		cfg.HTTP.APIKeys = append(cfg.HTTP.APIKeys, k)
	}
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("configuration refused:\n%w", err)
	}
	log := newLogger(stderr, cfg.Log)
	return serve(ctx, cfg, log)
}

// serve runs the configured gateway until ctx ends, then drains.
func serve(ctx context.Context, cfg config, log *slog.Logger) error {
	g, err := startGateway(ctx, cfg, log)
	if err != nil {
		return err
	}
	return g.run(ctx)
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// generatedKey returns a random API key for a run that configured none.
func generatedKey() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return "dtmfgw_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// newLogger returns the process logger: text or JSON on w.
func newLogger(w io.Writer, c logConfig) *slog.Logger {
	level, _ := parseLevel(c.Level)
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// parseLevel reads a log level name.
func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("%q is not debug, info, warn or error", s)
	}
	return l, nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"dtmfgw/processor"
	"dtmfgw/session"
	"dtmfgw/sip"
	"dtmfgw/store"
	"dtmfgw/webhook"
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
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dtmfgw serve [--config FILE] [--sip-listen ADDR:PORT] [--default-target SIP-URI] [--rtp-ports LOW-HIGH] [--storage DSN]")
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
		}
	})
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("configuration refused:\n%w", err)
	}
	log := newLogger(stderr, cfg.Log)
	return serve(ctx, cfg, log)
}

// serve runs the configured gateway until ctx ends, then drains.
func serve(ctx context.Context, cfg config, log *slog.Logger) error {
	// A result and its webhook delivery are committed together.
	st, err := store.Open(ctx, cfg.Storage.DSN, store.WithOutbox(webhook.Outbox(cfg.Payments.Configurations)))
	if err != nil {
		return fmt.Errorf("storage.dsn: %w", err)
	}
	defer st.Close()
	hooks, err := webhook.New(cfg.Webhooks, cfg.Payments.Configurations, st, webhook.WithLogger(log))
	if err != nil {
		return err
	}
	// Deliveries run until the store closes, after the drain: the
	// results of the last calls are attempted, and the rest wait in the
	// outbox for the next start.
	hooksCtx, stopHooks := context.WithCancel(context.Background())
	hooksDone := make(chan error, 1)
	go func() { hooksDone <- hooks.Run(hooksCtx) }()
	defer func() { stopHooks(); <-hooksDone }()
	procs, err := processor.NewAll(cfg.Processors, processor.WithLogger(log))
	if err != nil {
		return err
	}
	procList := make([]processor.Processor, 0, len(procs))
	for _, p := range procs {
		procList = append(procList, p)
	}
	// Payments a previous run left with a processor are settled first,
	// by asking, never by charging again.
	if n, err := session.ReconcileStored(ctx, st, procs, time.Now, log); err != nil {
		log.Warn("reconciling stored payments", "err", err)
	} else if n > 0 {
		log.Info("stored payments reconciled", "count", n)
	}
	payments, err := session.NewPayments(cfg.Payments, session.WithProcessors(procList...),
		session.WithPaymentStore(session.StorePayments(st)), session.WithPaymentLogger(log),
		session.WithEventHook(hooks.HandleEvent))
	if err != nil {
		return err
	}
	calls, err := session.NewManager(cfg.Media, session.WithLogger(log), session.WithPayments(payments))
	if err != nil {
		return err
	}
	defer calls.Close()
	b2b, err := sip.NewB2BUA(cfg.SIP, calls, log)
	if err != nil {
		return err
	}
	ls, err := sip.Listen(cfg.SIP)
	if err != nil {
		return err
	}
	serveCtx, stopServing := context.WithCancel(context.Background())
	defer stopServing()
	served := make(chan error, 1)
	go func() { served <- b2b.Serve(serveCtx, ls) }()
	target := cfg.SIP.DefaultTarget
	if target == "" {
		target = "none (calls need a route or the override header)"
	}
	log.Info("dtmfgw serving", "version", versionString(), "sip", ls.Addr().String(),
		"rtp_ports", cfg.Media.RTPPorts.String(), "default_target", target,
		"mask_events", cfg.Media.MaskEvents.String(), "mask_inband", cfg.Media.MaskInband.String(),
		"storage", st.Dialect(), "processors", len(procs))
	select {
	case <-ctx.Done():
	case err := <-served:
		return err
	}
	log.Info("draining", "calls", b2b.Calls(), "drain_timeout", cfg.SIP.DrainTimeout.String())
	drainCtx, cancel := context.WithTimeout(context.Background(), cfg.SIP.DrainTimeout)
	err = b2b.Shutdown(drainCtx)
	cancel()
	if errors.Is(err, context.DeadlineExceeded) {
		log.Warn("drain timeout: remaining calls hung up")
		err = nil
	}
	stopServing()
	err = errors.Join(err, <-served)
	log.Info("stopped")
	return err
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

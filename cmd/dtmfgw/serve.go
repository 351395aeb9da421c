package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"dtmfgw/api"
	"dtmfgw/internal/redact"
	"dtmfgw/processor"
	"dtmfgw/session"
	"dtmfgw/sip"
	"dtmfgw/store"
	"dtmfgw/webhook"
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
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
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

// serve runs the configured gateway until ctx ends, then drains.
func serve(ctx context.Context, src sources, cfg config, log *slog.Logger, level *slog.LevelVar, hooks serveHooks) error {
	// A result and its webhook delivery are committed together.
	webhookDir := webhook.NewDirectory(cfg.Payments.Configurations)
	st, err := store.Open(ctx, cfg.Storage.DSN, store.WithOutbox(webhookDir.Outbox))
	if err != nil {
		return fmt.Errorf("storage.dsn: %w", err)
	}
	defer st.Close()
	webhooks, err := webhook.New(cfg.Webhooks, webhookDir, st, webhook.WithLogger(log))
	if err != nil {
		return err
	}
	// Deliveries run until the store closes, after the drain: the
	// results of the last calls are attempted, and the rest wait in the
	// outbox for the next start.
	webhooksCtx, stopWebhooks := context.WithCancel(context.Background())
	webhooksDone := make(chan error, 1)
	go func() { webhooksDone <- webhooks.Run(webhooksCtx) }()
	defer func() { stopWebhooks(); <-webhooksDone }()
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
		session.WithEventHook(webhooks.HandleEvent))
	if err != nil {
		return err
	}
	calls, err := session.NewManager(cfg.Media, session.WithLogger(log), session.WithPayments(payments))
	if err != nil {
		return err
	}
	defer calls.Close()
	if len(cfg.HTTP.APIKeys) == 0 {
		// make run works with nothing configured: a key for this run,
		// logged once (an API key is not card data).
		key := generatedKey()
		cfg.HTTP.APIKeys = []string{key}
		log.Warn("no API key configured (http.api_keys, --api-key, DTMFGW_API_KEY): generated one for this run")
		log.Info("api_key_generated", "api_key", key)
	}
	apiServer, err := api.New(cfg.HTTP, calls, payments, st, log)
	if err != nil {
		return err
	}
	httpListener, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	httpCtx, stopHTTP := context.WithCancel(context.Background())
	defer stopHTTP()
	httpServed := make(chan error, 1)
	go func() { httpServed <- apiServer.Serve(httpCtx, httpListener) }()
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
		"storage", st.Dialect(), "processors", len(procs), "http", httpListener.Addr().String())
	g := &gateway{src: src, cfg: cfg, log: log, level: level, b2b: b2b, payments: payments, webhooks: webhookDir}
	if hooks.started != nil {
		hooks.started(g)
	}
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case err := <-served:
			stopHTTP()
			return errors.Join(err, <-httpServed)
		case err := <-httpServed:
			return fmt.Errorf("http: %w", err)
		case <-hooks.hup:
			err := g.reload()
			if hooks.reloaded != nil {
				hooks.reloaded(err)
			}
		}
	}
	// The API takes no more changes and ends its event streams; it goes on
	// answering reads while the calls drain.
	apiServer.Drain()
	drain := g.config().SIP.DrainTimeout // SIGHUP may have changed it
	log.Info("draining", "calls", b2b.Calls(), "drain_timeout", drain.String())
	drainCtx, cancel := context.WithTimeout(context.Background(), drain)
	err = b2b.Shutdown(drainCtx)
	cancel()
	if errors.Is(err, context.DeadlineExceeded) {
		log.Warn("drain timeout: remaining calls hung up")
		err = nil
	}
	stopServing()
	err = errors.Join(err, <-served)
	stopHTTP()
	err = errors.Join(err, <-httpServed)
	log.Info("stopped")
	return err
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

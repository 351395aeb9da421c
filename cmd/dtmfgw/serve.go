package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"dtmfgw/gateway"
	"dtmfgw/internal/cli"
)

// runServe runs the gateway: the SIP B2BUA and the media relay, until
// SIGINT or SIGTERM, which drain (new calls refused, calls in progress
// given up to sip.drain_timeout) before it exits. SIGHUP reloads what can
// change while serving.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return serve(ctx, args, os.Environ(), hup, stdout, stderr)
}

// serve is runServe with the environment and SIGHUP's channel given.
func serve(ctx context.Context, args, environ []string, hup <-chan os.Signal, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	src := gateway.Sources{Environ: environ}
	src.AddFlags(fs)
	printCfg := fs.Bool("print-config", false, "print the effective configuration as YAML (secrets as <redacted>) and exit")
	checkCfg := fs.Bool("check-config", false, "validate the effective configuration and exit: 0 if valid, 1 if not")
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
	cfg, err := src.Build()
	if err != nil {
		return fmt.Errorf("configuration refused:\n%w", err)
	}
	switch {
	case *printCfg:
		out, err := gateway.PrintConfig(cfg)
		if err != nil {
			return err
		}
		_, err = stdout.Write(out)
		return err
	case *checkCfg:
		fmt.Fprintln(stdout, "configuration valid")
		return nil
	}
	log, level := gateway.NewLogger(stderr, cfg.Log)
	g, err := gateway.Start(ctx, cfg, log, gateway.Options{Version: versionString(), Sources: src, Level: level})
	if err != nil {
		return err
	}
	return g.Run(ctx, hup, nil)
}

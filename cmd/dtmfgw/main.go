// Command dtmfgw is the telephony-edge gateway for card payments taken
// during phone calls, and the tools that go with it.
//
// Usage:
//
//	dtmfgw serve [--config FILE] [--sip-listen ADDR:PORT] [--default-target SIP-URI] [--rtp-ports LOW-HIGH]
//	dtmfgw demo [--http-listen ADDR:PORT] [--wait 10s] [--linger 60s] [--storage DSN]
//	dtmfgw version
//	dtmfgw detect [--format auto|wav|ulaw|alaw|pcm16|pcap] [--json] FILE
//	dtmfgw inspect [--json] [--show-digits] [--fail-on-dtmf] FILE
//	dtmfgw tone [--level DBM0] [--on MS] [--off MS] [--format wav|ulaw|alaw|pcm16] --out FILE KEYS
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"dtmfgw/demo"
	"dtmfgw/internal/cli"
	"dtmfgw/offline"
)

// version is set at link time (-ldflags "-X main.version=..."); otherwise it
// comes from the module's build information.
var version = ""

// command is one subcommand: run gets the arguments after its name.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"serve", "run the gateway: SIP B2BUA and masking media relay", runServe},
		{"demo", "the gateway with a simulated caller and agent: one card payment to watch in a browser", runDemo},
		{"version", "print the version and build details", runVersion},
		{"detect", "print the DTMF digits found in an audio file or an RTP capture", offline.Detect},
		{"inspect", "per RTP stream of a capture: codec, loss, jitter, and whether it carries DTMF", offline.Inspect},
		{"tone", "write DTMF key presses as audio (WAV or headerless G.711/PCM)", offline.Tone},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the process exit code: 0 on
// success, 2 for a usage error, 1 for any other failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr)
		code := exitCode(err)
		if code == 1 {
			fmt.Fprintf(stderr, "dtmfgw %s: %v\n", c.name, err)
		}
		return code
	}
	fmt.Fprintf(stderr, "dtmfgw: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// exitCode is the exit code for a command's outcome (package cli): 0 for
// success or help, 2 for a usage error, the code of a cli.ExitStatus, and
// 1 for any other error, which run prints.
func exitCode(err error) int {
	var status cli.ExitStatus
	switch {
	case errors.As(err, &status):
		return int(status) // already explained by the command
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, cli.ErrUsage):
		return 2
	}
	return 1
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "dtmfgw — telephony-edge gateway for card payments taken during phone calls")
	fmt.Fprintln(w, "\nUsage: dtmfgw COMMAND [ARGS]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'dtmfgw COMMAND -h' for a command's flags.")
}

// versionString is the version and, when known, the VCS revision.
func versionString() string {
	v, rev := version, ""
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				rev = s.Value
			}
		}
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	if rev != "" {
		v += " (" + rev + ")"
	}
	return v
}

// runDemo runs `dtmfgw demo` (package demo) with this build's version.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return demo.Run(ctx, versionString(), args, stdout, stderr)
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: dtmfgw version")
		return cli.ErrUsage
	}
	fmt.Fprintf(stdout, "dtmfgw %s", versionString())
	fmt.Fprintf(stdout, " %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

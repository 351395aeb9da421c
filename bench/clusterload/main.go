//go:build linux

// Command clusterload is dtmfgw's cluster load benchmark: SIPp calls with
// RTP through Kamailio (Debian's, with deploy/kamailio/kamailio.cfg) to
// several `dtmfgw serve` nodes, built from this tree and run as child
// processes with cluster.enabled on one PostgreSQL, against the same
// setup with one node. Each row is one run with a fresh PostgreSQL schema,
// fresh nodes and a fresh Kamailio: a SIPp caller (uac_load) sends its
// calls through Kamailio at one rate for -duration, each call playing the
// canary card as RFC 4733 events and in-band tones, and a SIPp agent
// (uas_load) answers them. The rows are interleaved (1, 3, 1, 3 … nodes at
// each rate, -rounds times), the rate is stepped up, and the report gives
// for each row the calls per second achieved, the failed calls, the peak
// of concurrent calls, the call setup time, the RTP delivered, and the
// CPU per call of the nodes, Kamailio, PostgreSQL and SIPp; then the
// highest rate with no failed call for each number of nodes, and their
// ratio.
//
//	go run ./bench/clusterload                                        # make bench's sizes
//	go run ./bench/clusterload -rates 10 -duration 4s -rounds 1        # short
//	go run ./bench/clusterload -out docs/reports/benchmarks-cluster.md  # what make bench runs
//
// Everything runs on this machine's loopback, sharing its CPUs: the ratio
// says what clustering costs here, not what separate machines gain. It
// needs sipp (sip-tester), kamailio and postgresql (make deps), the go
// tool (or -dtmfgw), and root or CAP_NET_RAW (SIPp plays the callers' RTP
// through a raw socket). It exits 1 when a run could not be carried out or
// when a row at the lowest rate failed calls. Linux only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"dtmfgw/bench/internal/benchkit"
	"dtmfgw/call"
	"dtmfgw/internal/testkit/kamailiotest"
	"dtmfgw/internal/testkit/pgtest"
	"dtmfgw/internal/testkit/sipptest"
)

func main() {
	os.Exit(mainErr(os.Args[1:], os.Stdout, os.Stderr))
}

// maxNodes bounds -nodes: node i listens on 127.0.0.(2+i).
const maxNodes = 8

// options are the command line.
type options struct {
	rates       []int
	nodes       []int
	duration    time.Duration
	rounds      int
	keys        bool
	ports       call.PortRange
	dtmfgw      string
	kamailioCfg string
	keepGoing   bool
	out         string
	command     string
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("clusterload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{}
	rates := fs.String("rates", "20,40,60,80", "the offered rates, calls started per second (SIPp -r), stepped up in this order")
	nodes := fs.String("nodes", "1,3", "the numbers of dtmfgw nodes behind Kamailio, interleaved at each rate")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each row starts calls for: rate × duration calls")
	fs.IntVar(&o.rounds, "rounds", 2, "rows of each number of nodes at each rate")
	fs.BoolVar(&o.keys, "keys", true, "each caller presses the 16-digit canary card number as RFC 4733 events and in-band tones at once (else 3 s of silence)")
	fs.TextVar(&o.ports, "rtp-ports", call.DefaultMediaConfig().RTPPorts, "the RTP port range LOW-HIGH the nodes share, split evenly (each node on its own address)")
	fs.StringVar(&o.dtmfgw, "dtmfgw", "", "the dtmfgw binary the nodes run (default: built from this tree)")
	fs.StringVar(&o.kamailioCfg, "kamailio-cfg", "", "Kamailio's configuration (default: deploy/kamailio/kamailio.cfg of this module)")
	fs.BoolVar(&o.keepGoing, "keep-going", false, "step up to every rate even after a rate at which every row failed calls")
	fs.StringVar(&o.out, "out", "", "also write the report as Markdown to this file")
	fs.StringVar(&o.command, "command", "", "the command line the report says produced it (default: this one)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.rates, err = intList(*rates, 1, 500); err != nil {
		return o, fmt.Errorf("-rates: %w", err)
	}
	if !slices.IsSorted(o.rates) {
		return o, errors.New("-rates: the rates are stepped up: give them in increasing order")
	}
	if o.nodes, err = intList(*nodes, 1, maxNodes); err != nil {
		return o, fmt.Errorf("-nodes: %w", err)
	}
	switch {
	case o.duration < time.Second || o.duration > 10*time.Minute:
		return o, errors.New("-duration must be 1 s – 10 min")
	case o.rounds < 1 || o.rounds > 20:
		return o, errors.New("-rounds must be 1–20")
	case o.rates[0]*int(o.duration/time.Second) < 2:
		return o, errors.New("-rates × -duration must make at least 2 calls a row")
	}
	if span := (o.ports.Max - o.ports.Min + 1) / slices.Max(o.nodes); span < 200 {
		return o, fmt.Errorf("-rtp-ports %d-%d leaves %d ports to each of %d nodes: want at least 200", o.ports.Min, o.ports.Max, span, slices.Max(o.nodes))
	}
	if o.command == "" {
		o.command = strings.TrimSpace("go run ./bench/clusterload " + strings.Join(args, " "))
	}
	return o, nil
}

// intList parses "1,3" into distinct integers in [lo, hi], in order.
func intList(s string, lo, hi int) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q is not a list of numbers", s)
		}
		if n < lo || n > hi {
			return nil, fmt.Errorf("%d is not within %d–%d", n, lo, hi)
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("%d twice", n)
		}
		out = append(out, n)
	}
	return out, nil
}

func mainErr(args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "clusterload:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	defer pgtest.Stop()
	r, err := runBenchmark(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "clusterload:", err)
		return 1
	}
	md := r.markdown()
	fmt.Fprint(stdout, md)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(md), 0o644); err != nil {
			fmt.Fprintln(stderr, "clusterload:", err)
			return 1
		}
	}
	if err := r.lowestRateClean(); err != nil {
		fmt.Fprintln(stderr, "clusterload:", err)
		return 1
	}
	return 0
}

// checkTools fails early, naming the package to install, when a program
// the benchmark runs is missing.
func checkTools() error {
	if _, err := sipptest.LookPath(); err != nil {
		return err
	}
	if _, err := kamailiotest.Binary(); err != nil {
		return err
	}
	return nil
}

// runBenchmark runs every row and returns the report. PostgreSQL is
// started on first use (pgtest.Admin; the caller stops it with
// pgtest.Stop); every row has a schema of its own.
func runBenchmark(ctx context.Context, o options, stderr io.Writer) (*report, error) {
	if err := checkTools(); err != nil {
		return nil, err
	}
	if o.kamailioCfg == "" {
		root, err := moduleRoot()
		if err != nil {
			return nil, err
		}
		o.kamailioCfg = filepath.Join(root, "deploy", "kamailio", "kamailio.cfg")
	}
	if _, err := os.Stat(o.kamailioCfg); err != nil {
		return nil, fmt.Errorf("kamailio configuration: %w", err)
	}
	dir, err := os.MkdirTemp("", "clusterload-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if o.dtmfgw == "" {
		fmt.Fprintln(stderr, "clusterload: building dtmfgw from this tree")
		if o.dtmfgw, err = benchkit.BuildDtmfgw(dir); err != nil {
			return nil, err
		}
	}
	_, admin, err := pgtest.Admin()
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL: %w", err)
	}
	r := &report{opts: o, started: time.Now(), loadStart: benchkit.LoadAverage(), sippVer: sipptest.Version(),
		kamailioVer: kamailioVersion(), pgVer: postgresVersion(ctx, admin)}
	seq := 0
	for _, rate := range o.rates {
		failedAll := true
		for round := 1; round <= o.rounds; round++ {
			for _, n := range o.nodes {
				seq++
				fmt.Fprintf(stderr, "clusterload: row %d: %d node(s), %d calls/s for %v, round %d\n", seq, n, rate, o.duration, round)
				rw, err := runRow(ctx, o, n, rate, dir, stderr)
				if err != nil {
					return nil, fmt.Errorf("row %d (%d nodes, %d calls/s): %w", seq, n, rate, err)
				}
				rw.seq, rw.round = seq, round
				r.rows = append(r.rows, rw)
				fmt.Fprintf(stderr, "clusterload: row %d: %s\n", seq, rw.summary())
				failedAll = failedAll && !rw.clean()
			}
		}
		if failedAll && !o.keepGoing && rate != o.rates[len(o.rates)-1] {
			r.stoppedAt = rate
			fmt.Fprintf(stderr, "clusterload: every row at %d calls/s failed calls: the higher rates are not run (-keep-going runs them)\n", rate)
			break
		}
	}
	r.loadEnd = benchkit.LoadAverage()
	return r, nil
}

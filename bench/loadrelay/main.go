//go:build linux

// Command loadrelay is the relay's loopback load benchmark: it relays N
// calls at 50 packets/s in each direction (20 ms PCMU, real RTP headers,
// a key press per call every 5 s as RFC 4733 events and one as in-band
// DTMF) through a relaying child process, and reports the child's CPU time
// per relayed packet (from /proc/PID/stat, so the generator's own CPU is
// not counted) and the p50/p99 latency the relaying adds to each
// direction (a send timestamp in the payload, read at the receiving
// socket), for the media.Relay and, side by side, for the simplest Go UDP
// forwarder.
//
//	go run ./bench/loadrelay                        # 100, 500, 1000 calls, 5 s each, interleaved
//	go run ./bench/loadrelay -calls 100 -measure 3s # short
//	go run ./bench/loadrelay -out docs/reports/benchmarks-relay.md
//
// The generator sends all calls' caller streams from one socket and all
// agent streams from another, with sendmmsg(2), paced in 1 ms slots, and
// reads with recvmmsg(2), so that it leaves the CPU to the process it
// measures.
//
// By default (-interleave 1s) a round starts every mode's relaying child
// at once and hands the load from one to the next every second, each
// mode's streams pausing while the others run: each mode is measured in
// many short windows spread over the same minute, so that the drift of a
// shared virtual machine falls on every mode alike rather than on
// whichever ran while it lasted. -interleave 0 runs each mode whole, one
// after another.
//
// The end-to-end modes measure what users run instead of the relay alone:
// serve is `dtmfgw serve`, built from this tree, as a process of its own
// on its default configuration, with every call set up over SIP by this
// program (serve_linux.go); rtpengine and rtpengine-dtmf are Debian's
// rtpengine in user space, driven over its ng control protocol, the
// latter with DTMF blocking on (rtpengine_linux.go). Besides CPU and
// latency (p50, p99, p99.9, caller→agent beyond a masking relay's
// look-ahead), the report gives each mode's loss, the caller audio it
// replaced, the RFC 4733 events and in-band tones that reached the
// agent, the kernel's drops at either side's sockets, and the highest
// call count tried at which it lost at most 0.1 % and kept p99 at most
// 20 ms (its sustainable calls). MODE@CPUS or -taskset runs a relay under
// taskset -c, to compare one core with two.
//
//	go run ./bench/loadrelay -modes reference,serve,rtpengine,rtpengine-dtmf -calls 100,300 -rounds 1
//	go run ./bench/loadrelay -modes reference,serve,serve@0 -calls 500   # two cores against one
//
// Every process it starts is killed when it ends, also on an error or a
// signal. Linux only.
package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"dtmfgw/bench/internal/benchkit"
	"dtmfgw/call"
	"dtmfgw/media/mask"
)

func main() {
	if os.Getenv(childEnv) != "" {
		os.Exit(childMain(os.Args[1:]))
	}
	os.Exit(parentMain(os.Args[1:], os.Stdout))
}

// options are the command line of a benchmark run.
type options struct {
	calls    []int
	modes    []string
	warmup   time.Duration
	measure  time.Duration
	batch    int
	coalesce time.Duration
	perCPU   int
	ports    string
	out      string
	note     string
	profile  string
	rounds   int
	// interleave, if positive, runs every mode of a call count at once
	// and hands the load from one to the next in windows this long.
	interleave time.Duration
	// taskset runs every relaying process whose mode names no CPUs of
	// its own under taskset -c taskset.
	taskset string
	// The end-to-end modes: calls set up per second, the bound on one
	// call's set-up, a prebuilt dtmfgw (else built once), the rtpengine
	// binary, rtpengine-dtmf's delay buffer.
	setupRate    int
	setupTimeout time.Duration
	dtmfgw       string
	dtmfgwBase   string
	rtpengine    string
	delayBuffer  time.Duration
	stopRelay    time.Duration
}

func parseOptions(args []string) (options, error) {
	fs := flag.NewFlagSet("loadrelay", flag.ContinueOnError)
	calls := fs.String("calls", "100,500,1000", "comma-separated call counts")
	modes := fs.String("modes", strings.Join(defaultModes, ","), "comma-separated: "+strings.Join(allModes, ", ")+"; MODE@CPUS runs that mode's relay under taskset -c CPUS (e.g. serve@0 beside serve: one core against all, interleaved)")
	o := options{}
	fs.DurationVar(&o.warmup, "warmup", time.Second, "load before the measurement window")
	fs.DurationVar(&o.measure, "measure", 5*time.Second, "measurement window")
	fs.IntVar(&o.batch, "batch", 0, "relay legs' BatchRead (recvmmsg batch; 0 = one datagram per read)")
	fs.DurationVar(&o.coalesce, "coalesce", 0, "the reactors' Coalesce (reactor modes)")
	fs.IntVar(&o.perCPU, "reactors-per-cpu", call.DefaultReactorsPerCPU, "media.Reactors per CPU in the reactor modes (1–16; the default is dtmfgw's)")
	// Below Linux's ephemeral ports (32768 up), where the reference's
	// sockets and the generator's land; wide enough for four relaying
	// modes of 1000 calls at once (4 ports a call each).
	fs.StringVar(&o.ports, "ports", "12000-29999", "the relays' RTP port range (shared out among the relaying modes when interleaved)")
	fs.DurationVar(&o.interleave, "interleave", time.Second, "start every mode's relay at once and hand the load from one to the next in measured windows this long, the measure split among them (0: each mode's run whole, one after another)")
	fs.IntVar(&o.rounds, "rounds", 1, "repeat the whole set of runs this many times (1–10), interleaved, to see the spread")
	fs.StringVar(&o.out, "out", "", "also write the table as Markdown to this file")
	fs.StringVar(&o.note, "note", "", "a note the report shows under its title (e.g. that a run is a small check, not the measurement)")
	fs.StringVar(&o.profile, "cpuprofile", "", "write each run's child CPU profile to this prefix + MODE-CALLS.pprof")
	fs.StringVar(&o.taskset, "taskset", "", "run every relaying process (a mode without @CPUS) under taskset -c LIST, e.g. 0 for one core")
	fs.IntVar(&o.setupRate, "setup-rate", 100, "end-to-end modes: calls set up per second (SIP INVITEs, ng offers), 1–1000")
	fs.DurationVar(&o.setupTimeout, "setup-timeout", 10*time.Second, "end-to-end modes: the bound on one call's set-up")
	fs.StringVar(&o.dtmfgw, "dtmfgw", "", "mode serve: a dtmfgw binary to run (default: go build ./cmd/dtmfgw once into a temporary directory)")
	fs.StringVar(&o.dtmfgwBase, "dtmfgw-base", "", "mode serve-base: the dtmfgw binary it runs (an earlier build, to compare with serve in the same run)")
	fs.StringVar(&o.rtpengine, "rtpengine", defaultRTPEngine, "modes rtpengine, rtpengine-dtmf: the rtpengine binary")
	fs.DurationVar(&o.stopRelay, "stop-relay", 0, "stop the relaying process (SIGSTOP, then SIGCONT) for this long in the middle of every measured window, while the generator goes on sending: what arrived meanwhile must be relayed late, not lost (0: never; at most 500ms)")
	fs.DurationVar(&o.delayBuffer, "rtpengine-delay-buffer", 40*time.Millisecond, "mode rtpengine-dtmf: rtpengine's delay buffer (0: none; in-band DTMF is then detected but not replaced)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, s := range strings.Split(*calls, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 2000 {
			return o, fmt.Errorf("bad call count %q (1–2000)", s)
		}
		o.calls = append(o.calls, n)
	}
	for _, m := range strings.Split(*modes, ",") {
		m = strings.TrimSpace(m)
		if !slices.Contains(allModes, baseMode(m)) {
			return o, fmt.Errorf("unknown mode %q", m)
		}
		if strings.Contains(m, "@") && !validCPUList(cpusOf(m), false) {
			return o, fmt.Errorf("mode %q: CPUS must be a CPU number or range, e.g. 0 or 0-1", m)
		}
		if slices.Contains(o.modes, m) {
			return o, fmt.Errorf("mode %q given twice", m)
		}
		o.modes = append(o.modes, m)
	}
	if o.taskset != "" && !validCPUList(o.taskset, true) {
		return o, fmt.Errorf("-taskset %q: want a CPU list such as 0, 0-1 or 0,2", o.taskset)
	}
	if o.setupRate < 1 || o.setupRate > 1000 {
		return o, fmt.Errorf("setup-rate must be 1–1000 calls/s")
	}
	if o.setupTimeout < time.Second || o.setupTimeout > time.Minute {
		return o, fmt.Errorf("setup-timeout must be 1 s – 1 min")
	}
	if o.stopRelay < 0 || o.stopRelay > 500*time.Millisecond {
		return o, fmt.Errorf("stop-relay must be 0 – 500ms")
	}
	if o.delayBuffer < 0 || o.delayBuffer > time.Second {
		return o, fmt.Errorf("rtpengine-delay-buffer must be 0 – 1 s")
	}
	if o.perCPU < 1 || o.perCPU > 16 {
		return o, fmt.Errorf("reactors-per-cpu must be 1–16")
	}
	if o.rounds < 1 || o.rounds > 10 {
		return o, fmt.Errorf("rounds must be 1–10")
	}
	if o.warmup < 0 || o.measure < 500*time.Millisecond || o.measure > 10*time.Minute {
		return o, fmt.Errorf("measure must be 0.5 s – 10 min, warmup ≥ 0")
	}
	if o.interleave != 0 && (o.interleave < 500*time.Millisecond || o.interleave > o.measure) {
		return o, fmt.Errorf("interleave must be 0 or 0.5 s – the measure")
	}
	return o, nil
}

// validCPUList reports whether s is a taskset CPU list: numbers and
// ranges (0, 0-1), comma-separated when commas is true (in a mode name a
// comma would split the mode list).
func validCPUList(s string, commas bool) bool {
	if s == "" {
		return false
	}
	parts := []string{s}
	if commas {
		parts = strings.Split(s, ",")
	}
	for _, p := range parts {
		lo, hi, isRange := strings.Cut(p, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a || b > 1023 {
			return false
		}
	}
	return true
}

func parentMain(args []string, w io.Writer) int {
	o, err := parseOptions(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadrelay:", err)
		return 2
	}
	onSignals()
	defer killAll()
	if err := prepare(&o); err != nil {
		fmt.Fprintln(os.Stderr, "loadrelay:", err)
		return 1
	}
	var results []*result
	for _, n := range o.calls {
		for round := 1; round <= o.rounds; round++ {
			rs, err := runRound(o, n, round)
			if err != nil {
				fmt.Fprintln(os.Stderr, "loadrelay:", err)
				return 1
			}
			results = append(results, rs...)
		}
	}
	quoted := []string{"go run ./bench/loadrelay"}
	for _, a := range args {
		if strings.ContainsAny(a, " \t'\"$;&|<>()*?`\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		quoted = append(quoted, a)
	}
	table := markdown(results, o, strings.Join(quoted, " "))
	fmt.Fprint(w, table)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(table), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "loadrelay:", err)
			return 1
		}
	}
	return 0
}

// prepare checks what the modes need before anything runs, and builds
// dtmfgw once for mode serve unless -dtmfgw names a binary.
func prepare(o *options) error {
	var serve, rtpengine, pinned bool
	for _, m := range o.modes {
		serve = serve || baseMode(m) == modeServe
		if baseMode(m) == modeServeBase && o.dtmfgwBase == "" {
			return errors.New("mode serve-base needs -dtmfgw-base: the dtmfgw binary it runs")
		}
		rtpengine = rtpengine || baseMode(m) == modeRTPEngine || baseMode(m) == modeRTPEngineDTMF
		pinned = pinned || cpusOf(m) != "" || o.taskset != ""
	}
	if pinned {
		if _, err := exec.LookPath("taskset"); err != nil {
			return fmt.Errorf("pinning a relay to CPUs needs taskset (util-linux): %w", err)
		}
	}
	if rtpengine {
		if _, err := os.Stat(o.rtpengine); err != nil {
			return fmt.Errorf("modes rtpengine, rtpengine-dtmf need rtpengine (Debian package rtpengine-daemon; make deps installs it): %w", err)
		}
	}
	if serve || rtpengine {
		// rtpengine opens four sockets a call and keeps the open-file
		// limit it is given; Go raises its own soft limit to the hard one
		// but gives children back the original, unless it is set here.
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
			need := uint64(4*slices.Max(o.calls) + 256)
			if lim.Max < need {
				return fmt.Errorf("the open-file limit (%d) is below the %d sockets %d calls need in one relay: raise ulimit -n", lim.Max, need, slices.Max(o.calls))
			}
			lim.Cur = lim.Max
			_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		}
	}
	if serve && o.dtmfgw == "" {
		dir, err := os.MkdirTemp("", "loadrelay-dtmfgw-")
		if err != nil {
			return err
		}
		atExit(func() { os.RemoveAll(dir) })
		fmt.Fprintln(os.Stderr, "loadrelay: building dtmfgw (go build ./cmd/dtmfgw) for mode serve")
		if o.dtmfgw, err = benchkit.BuildDtmfgw(dir); err != nil {
			return err
		}
	}
	return nil
}

// dtmfgwFor returns the dtmfgw binary mode m runs ("" for a mode that
// runs none).
func (o *options) dtmfgwFor(m string) string {
	if baseMode(m) == modeServeBase {
		return o.dtmfgwBase
	}
	return o.dtmfgw
}

// runRound runs every mode once at n calls: interleaved, all at once,
// or one whole run after another.
func runRound(o options, n, round int) ([]*result, error) {
	var cfgs []runConfig
	relays := 0
	for _, m := range o.modes {
		cfg := runConfig{Mode: m, Calls: n, Warmup: o.warmup, Measure: o.measure, Batch: o.batch, Coalesce: o.coalesce, PerCPU: o.perCPU, Ports: o.ports, Round: round,
			CPUs: cmp.Or(cpusOf(m), o.taskset), Dtmfgw: o.dtmfgwFor(m), RTPEngine: o.rtpengine, DelayBuffer: o.delayBuffer, StopRelay: o.stopRelay, SetupRate: o.setupRate, SetupTimeout: o.setupTimeout}
		if o.profile != "" {
			cfg.Profile = fmt.Sprintf("%s%s-%d-%d.pprof", o.profile, m, n, round)
		}
		if baseMode(m) != modeReference {
			relays++
		}
		cfgs = append(cfgs, cfg)
	}
	if o.interleave <= 0 {
		var results []*result
		for _, cfg := range cfgs {
			fmt.Fprintf(os.Stderr, "loadrelay: %s, %d calls, round %d, %v warm-up + %v\n", cfg.Mode, n, round, o.warmup, o.measure)
			r, err := run(cfg)
			if err != nil {
				return nil, err
			}
			results = append(results, r)
		}
		return results, nil
	}
	// Children that run at once need ports of their own: the range is
	// shared out among the relaying modes (the reference's forwarder
	// takes ephemeral ports).
	ranges, err := splitPorts(o.ports, relays, 4*n)
	if err != nil {
		return nil, err
	}
	for i := range cfgs {
		if baseMode(cfgs[i].Mode) != modeReference {
			cfgs[i].Ports, ranges = ranges[0], ranges[1:]
		}
	}
	p, measured, err := interleavedPlan(len(cfgs), o.warmup, o.measure, o.interleave)
	if err != nil {
		return nil, err
	}
	for i := range cfgs {
		cfgs[i].Measure = measured
	}
	fmt.Fprintf(os.Stderr, "loadrelay: %s at once, %d calls, round %d: %v warm-up each, then %v each in %v windows (%v in all)\n",
		strings.Join(o.modes, ", "), n, round, o.warmup, measured, o.interleave, p.end().Round(time.Second))
	return runPlan(cfgs, p)
}

// splitPorts shares the port range "min-max" out into parts ranges of
// whole RTP/RTCP pairs, each at least need ports.
func splitPorts(ports string, parts, need int) ([]string, error) {
	if parts == 0 {
		return nil, nil
	}
	r, err := call.ParsePortRange(ports)
	if err != nil {
		return nil, err
	}
	each := (r.Max - r.Min + 1) / parts &^ 1
	if each < need {
		return nil, fmt.Errorf("port range %s: %d relaying modes at once need %d ports each, the range gives %d (widen -ports or run fewer modes)", ports, parts, need, each)
	}
	var out []string
	for i := range parts {
		from := r.Min + i*each
		out = append(out, call.PortRange{Min: from, Max: from + each - 1}.String())
	}
	return out, nil
}

// summary renders, per call count and mode, every round taken together:
// CPU per packet over all the rounds' windows; the latency percentiles of
// all their timed packets pooled; the median over the rounds of each
// round's up p99; and how many rounds, each against the reference run
// beside it, had the lower up p99. The bar's verdict takes the CPU from
// the pooled figure and the p99 from the medians: one round disturbed by
// the machine (its tail ten times the others') would otherwise decide the
// pooled p99 alone, as a single round's figure would.
func summary(results []*result) string {
	type key struct {
		calls int
		mode  string
	}
	type pool struct {
		rounds         int
		cpu            time.Duration
		packets        int64
		up, down       direction
		upP99s         []time.Duration
		upBeatsRef     int
		upComparedRefs int
		windowsWon     int
		windowsPaired  int
	}
	pools := map[key]*pool{}
	var order []key
	refByRound := map[[2]int]*result{}
	for _, r := range results {
		if r.Mode == modeReference {
			refByRound[[2]int{r.Calls, r.Round}] = r
		}
	}
	for _, r := range results {
		k := key{r.Calls, r.Mode}
		p := pools[k]
		if p == nil {
			p = &pool{}
			pools[k] = p
			order = append(order, k)
		}
		p.rounds++
		p.cpu += r.ChildCPU
		p.packets += r.WindowPackets
		for i := range p.up.hist {
			p.up.hist[i] += r.Up.hist[i]
			p.down.hist[i] += r.Down.hist[i]
		}
		p.up.timed += r.Up.timed
		p.down.timed += r.Down.timed
		p.upP99s = append(p.upP99s, r.Up.percentile(0.99))
		if rr, ok := refByRound[[2]int{r.Calls, r.Round}]; ok && r.Mode != modeReference {
			p.upComparedRefs++
			if r.Up.percentile(0.99) <= rr.Up.percentile(0.99) {
				p.upBeatsRef++
			}
			for k := range min(len(r.Up.WindowP99s), len(rr.Up.WindowP99s)) {
				p.windowsPaired++
				if r.Up.WindowP99s[k] <= rr.Up.WindowP99s[k] {
					p.windowsWon++
				}
			}
		}
	}
	perPacket := func(p *pool) float64 {
		if p.packets == 0 {
			return 0
		}
		return float64(p.cpu) / float64(p.packets) / float64(time.Microsecond)
	}
	var b strings.Builder
	b.WriteString("## All rounds together\n\n")
	b.WriteString("CPU µs/pkt = the child's CPU over every round's window ÷ every packet relayed in them; p50/p99 = percentiles of every round's timed packets pooled; median up p99 = the median over the rounds of each round's up p99; \"rounds up p99 ≤ ref\" counts the rounds whose up p99 was at most the reference run's in the same round. The bar (relay+mask-reactor): CPU ratio ≤ 1.00 and median up p99 ≤ the reference's (a median, because one round disturbed by the machine would otherwise decide the pooled p99 alone).\n\n")
	b.WriteString("| mode | calls | rounds | CPU µs/pkt | × reference | up p50 ms | up p99 ms | median up p99 ms | down p50 ms | down p99 ms | rounds up p99 ≤ ref | windows up p99 ≤ ref | bar |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, k := range order {
		p := pools[k]
		ratio, vs, wins, bar := "—", "—", "—", ""
		if ref, ok := pools[key{k.calls, modeReference}]; ok && perPacket(ref) > 0 && k.mode != modeReference {
			cpuRatio := perPacket(p) / perPacket(ref)
			ratio = strconv.FormatFloat(cpuRatio, 'f', 2, 64)
			vs = fmt.Sprintf("%d of %d", p.upBeatsRef, p.upComparedRefs)
			wins = fmt.Sprintf("%d of %d", p.windowsWon, p.windowsPaired)
			if k.mode == modeMaskReactor {
				bar = "not met"
				if cpuRatio <= 1 && median(p.upP99s) <= median(ref.upP99s) {
					bar = "met"
				}
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %.2f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			k.mode, k.calls, p.rounds, perPacket(p), ratio,
			ms(p.up.percentile(0.50)), ms(p.up.percentile(0.99)), ms(median(p.upP99s)),
			ms(p.down.percentile(0.50)), ms(p.down.percentile(0.99)), vs, wins, bar)
	}
	b.WriteString("\n")
	return b.String()
}

// median returns the median of ds (the mean of the middle two for an even
// count); zero for none. ds is sorted in place.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	if n := len(ds); n%2 == 0 {
		return (ds[n/2-1] + ds[n/2]) / 2
	}
	return ds[len(ds)/2]
}

// genRcvBufOf is the generator's receive buffer in the first result.
func genRcvBufOf(results []*result) int {
	for _, r := range results {
		if r.GenRcvBuf > 0 {
			return r.GenRcvBuf
		}
	}
	return 0
}

// ms formats a latency in milliseconds with µs resolution.
func ms(d time.Duration) string { return strconv.FormatFloat(d.Seconds()*1000, 'f', 3, 64) }

// markdown renders the results, each relay row with its ratio to the
// reference run at the same call count in the same round.
func markdown(results []*result, o options, command string) string {
	var b strings.Builder
	var e2e, rtpengine, masking, bar bool
	for _, m := range o.modes {
		e2e = e2e || endToEnd(m)
		rtpengine = rtpengine || baseMode(m) == modeRTPEngine || baseMode(m) == modeRTPEngineDTMF
		masking = masking || baseMode(m) == modeRelayMask || baseMode(m) == modeMaskReactor
		bar = bar || baseMode(m) == modeMaskReactor
	}
	if e2e {
		fmt.Fprintf(&b, "# End-to-end relay load benchmark\n\n")
	} else {
		fmt.Fprintf(&b, "# Relay load benchmark\n\n")
	}
	fmt.Fprintf(&b, "Generated by `%s`; do not edit by hand.\n\n", command)
	if o.note != "" {
		fmt.Fprintf(&b, "> **Note:** %s\n\n", o.note)
	}
	fmt.Fprintf(&b, "- Date: %s; machine: %s\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), machine())
	if rtpengine {
		args := strings.Join(rtpengineArgs(0, call.PortRange{}), " ")
		args = strings.NewReplacer("127.0.0.1:0", "127.0.0.1:PORT", "--port-min=0", "--port-min=LOW", "--port-max=0", "--port-max=HIGH").Replace(args)
		fmt.Fprintf(&b, "- rtpengine %s (%s), started as `rtpengine %s` (a free ng port; its share of -ports)\n", rtpengineVersion(o.rtpengine), o.rtpengine, args)
	}
	pins := []string{}
	for _, m := range o.modes {
		if c := cmp.Or(cpusOf(m), o.taskset); c != "" {
			pins = append(pins, fmt.Sprintf("%s under `taskset -c %s`", m, c))
		}
	}
	if len(pins) > 0 {
		fmt.Fprintf(&b, "- CPUs: %s (the generator is not pinned); the others on every CPU\n", strings.Join(pins, ", "))
	}
	fmt.Fprintf(&b, "- Load: each call 50 packets/s each way (20 ms PCMU, 172-byte datagrams); white noise at −30 dBm0 between presses; per call every 5 s one key press as RFC 4733 events (7 packets, audio paused) and one as 100 ms in-band DTMF at −8 dBm0; loopback; warm-up %v, measured %v per mode and round; relay legs' BatchRead %d; reactors' Coalesce %v; %d reactor(s) per CPU\n", o.warmup, o.measure, o.batch, o.coalesce, o.perCPU)
	if o.stopRelay > 0 {
		fmt.Fprintf(&b, "- Stopped: in the middle of every measured window the relaying process was stopped (SIGSTOP) for %v and then continued (SIGCONT) while the generator went on sending, as a busy host or a long pause would stop it: the latency figures include the wait; the loss says whether audio that arrived meanwhile was relayed or thrown away\n", o.stopRelay)
	}
	if o.interleave > 0 {
		fmt.Fprintf(&b, "- Interleaved: in each round every mode's relaying child is started at once; each is warmed up in turn, then the generator hands the load from one to the next in turns of %v unmeasured + %v measured + %v unmeasured (its streams pause meanwhile and go on where they stopped), so that every mode is measured in short windows spread over the same stretch of time and the machine's drift falls on all alike. A window counts the packets that arrive in it, and times the stamped packets released in it\n", settleTime, o.interleave, tailTime)
	}
	fmt.Fprintf(&b, "- CPU: user+system of the relaying process over the window (/proc/PID/stat, 10 ms ticks) ÷ packets it relayed in the window, both directions; the generator's CPU is its own process's\n")
	fmt.Fprintf(&b, "- Latency: from just before the generator's sendmmsg to just after its recvmmsg returned, stamped packets only (not tone frames or events), 1 µs buckets; it includes the generator's own wake-up, the same for every mode. \"up\" is caller→agent: for a relay that delays the audio by a look-ahead by design (masking: %v in the in-process modes, dtmfgw's media.look_ahead for serve), the look-ahead is excluded — the pipeline sends one packet per packet in, and each stamp is timed from the actual send of the packet whose arrival released it (the generator logs every caller packet's send time), which is the latency minus the look-ahead without the generator's own pacing slip; rtpengine-dtmf's delay buffer is its look-ahead, excluded the same way (it holds the audio so that a detected tone's start can be replaced); 100.000 (≥100) means beyond the 100 ms histogram. \"gen slip p99\" is how late, against its schedule, the generator sent those releasing packets: what timing from the schedule instead would have wrongly charged to the relay\n", mask.DefaultLookAhead)
	fmt.Fprintf(&b, "- Modes: reference = the simplest Go forwarder (goroutine per socket, ReadFromUDPAddrPort → WriteToUDPAddrPort); relay = media.Relay, leg goroutine per socket, pass-through; -reactor = legs read by media.Reactors (see reactors per CPU above), unmasked directions written with media.DirectSender; +mask = mask.Pipeline (events and in-band, always) on caller→agent, written with DirectSender, ticked by one shared TickWheel")
	if e2e {
		fmt.Fprintf(&b, "; serve = `dtmfgw serve` built from this tree, as a process of its own on its default configuration (listeners on free loopback ports, -ports' range as media.rtp_ports, an API key), every call set up over SIP by the generator at %d/s: an INVITE with the caller's SDP and `X-Dtmfgw-Target` naming the generator's own user agent server, which answers the agent leg, the relay's ports read from the SDPs dtmfgw sent, a BYE per call at the end; rtpengine = rtpengine in user space, every call an ng offer (caller's SDP) and answer (agent's SDP), a delete at the end; rtpengine-dtmf = the same plus a `block DTMF` request per call (see the relays' settings below): DTMF-security silence, flag detect-DTMF, delay buffer %v", o.setupRate, o.delayBuffer)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "- Loss: of the stamped packets sent at least %d packets (200 ms) away from any key press, those whose stamp never reached the other side; left out are the last %d packets a stream sends before it pauses (its mode's turn or the run ends): a look-ahead holds them until the stream's next packet, seconds later, and a masking pipeline drops audio held that long, which no real call's steady stream makes it do; near a press a masking relay replaces audio by design. Replaced: audio packets at the agent that carried neither the stamp and noise sent (µ-law's two zeros taken as one: a relay that decodes and re-encodes writes −0 as +0) nor an in-band tone frame sent unchanged (with a look-ahead, shifted by it), ÷ audio packets at the agent: mask tones, silence, audio sent in place of event packets, the first packet a look-ahead fills\n", pressGuard, pauseGuard)
	fmt.Fprintf(&b, "- Generator's own socket buffers: SO_RCVBUF %d bytes as the kernel reports it (asked %d, forced as root); drops = /proc/net/udp's drops of the generator's two sockets, and of the relay's sockets facing it, whole run\n", genRcvBufOf(results), genBuffer)
	if bar {
		fmt.Fprintf(&b, "- The bar: with masking on, CPU per packet ≤ 1.0× the reference at 500 and 1000 calls, and up p99 no worse than the reference's. Figures from a machine shared with other work (see load avg and late slots) vary by ±15%% in CPU and far more in latency between runs\n")
	}
	fmt.Fprintf(&b, "- late slots = 1 ms pacing slots the generator skipped because it fell behind (the machine was busy): the offered load was short by that much; load avg = the machine's 1-minute load at the window's end (%d CPUs; other work counts); steal %% = the share of the machine's CPU time over the windows that the host gave to others (/proc/stat)\n\n", runtime.NumCPU())
	b.WriteString(loadTables(results))
	if bar {
		b.WriteString(summary(results))
	}
	b.WriteString("## Every run\n\n")
	b.WriteString("| mode | calls | round | relayed pkt/s | CPU µs/pkt | × reference | relay CPU (cores) | generator CPU (cores) | up p50 ms | up p99 ms | down p50 ms | down p99 ms | gen slip p99 ms | received/sent | events at agent | late slots | load avg | steal % |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	type key struct{ calls, round int }
	ref := map[key]*result{}
	for _, r := range results {
		if r.Mode == modeReference {
			ref[key{r.Calls, r.Round}] = r
		}
	}
	for _, r := range results {
		ratio := "—"
		if rr, ok := ref[key{r.Calls, r.Round}]; ok && rr.CPUPerPacket() > 0 {
			ratio = strconv.FormatFloat(float64(r.CPUPerPacket())/float64(rr.CPUPerPacket()), 'f', 2, 64)
		}
		secs := r.Measure.Seconds()
		sent := r.SentUp + r.SentDown
		recv := r.Up.received + r.Down.received
		slip := "—"
		if r.Up.slipTimed > 0 {
			slip = ms(r.Up.slipPercentile(0.99))
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f | %.2f | %s | %.2f | %.2f | %s | %s | %s | %s | %s | %.4f | %d | %d | %s | %.1f |\n",
			r.Mode, r.Calls, r.Round, float64(r.WindowPackets)/secs,
			float64(r.CPUPerPacket())/float64(time.Microsecond), ratio,
			r.ChildCPU.Seconds()/secs, r.GenCPU.Seconds()/secs,
			ms(r.Up.percentile(0.50)), ms(r.Up.percentile(0.99)),
			ms(r.Down.percentile(0.50)), ms(r.Down.percentile(0.99)), slip,
			float64(recv)/float64(max(sent, 1)), r.Up.eventPackets, r.LateSlots, r.LoadAvg,
			100*r.Steal.Seconds()/secs/float64(runtime.NumCPU()))
	}
	return b.String()
}

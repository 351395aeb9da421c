//go:build linux

// Command sipload is dtmfgw's SIP load benchmark: SIPp calls with RTP
// through the real B2BUA and media relay (sip.B2BUA on a call.Manager,
// run in this process as `dtmfgw serve` runs them), from a SIPp caller
// (uac_load) to a SIPp agent (uas_load) whose media goes to a counting
// recorder, all on loopback. It reports the calls per second dtmfgw took,
// the failed calls on either side, the call setup time, and memory and
// goroutines per concurrent call, and can write them as Markdown.
//
//	go run ./bench/sipload                                # 50 calls/s for 20 s: 1000 calls
//	go run ./bench/sipload -rate 10 -duration 5s -settle 0 # short
//	go run ./bench/sipload -out docs/reports/benchmarks-sip.md     # what make bench runs
//
// It needs sipp (Debian package sip-tester: make deps) and root or
// CAP_NET_RAW: SIPp plays the caller's RTP through a raw socket. It exits
// 1 when a call failed, so that make bench fails too. Linux only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"dtmfgw/bench/internal/benchkit"
	"dtmfgw/call"
	"dtmfgw/internal/testkit/sipptest"
	"dtmfgw/sip"
)

func main() {
	os.Exit(mainErr(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command line.
type options struct {
	rate     int
	duration time.Duration
	keys     bool
	ports    call.PortRange
	settle   time.Duration
	out      string
	command  string
	heapProf string
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("sipload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := options{}
	fs.IntVar(&o.rate, "rate", 50, "calls started per second (SIPp -r)")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long calls are started for: rate × duration calls")
	fs.BoolVar(&o.keys, "keys", true, "each caller presses the 16-digit canary card number as RFC 4733 events and in-band tones at once (else 3 s of silence)")
	fs.TextVar(&o.ports, "rtp-ports", call.DefaultMediaConfig().RTPPorts, "the gateway's RTP port range LOW-HIGH")
	fs.DurationVar(&o.settle, "settle", 35*time.Second, "after the last call, how long to wait before the last heap figure: sipgo keeps finished transactions for RFC 3261's timers D and J, 32 s over UDP")
	fs.StringVar(&o.out, "out", "", "also write the report as Markdown to this file")
	fs.StringVar(&o.command, "command", "", "the command line the report says produced it (default: this one)")
	fs.StringVar(&o.heapProf, "heapprofile", "", "write heap profiles of the idle gateway and of the gateway after -settle to this prefix + base.pprof, settled.pprof (compare with go tool pprof -base)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case o.rate < 1 || o.rate > 500:
		return o, errors.New("-rate must be 1–500 calls/s")
	case o.duration < time.Second || o.duration > 10*time.Minute:
		return o, errors.New("-duration must be 1 s – 10 min")
	case o.rate*int(o.duration/time.Second) < 10:
		return o, errors.New("-rate × -duration must make at least 10 calls")
	case o.settle < 0 || o.settle > 5*time.Minute:
		return o, errors.New("-settle must be 0 – 5 min")
	}
	if o.command == "" {
		o.command = strings.TrimSpace("go run ./bench/sipload " + strings.Join(args, " "))
	}
	return o, nil
}

func mainErr(args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "sipload:", err)
		return 2
	}
	if o.heapProf != "" {
		// Sample every allocation of 64 bytes or so, not one per 512 KiB:
		// a per-call leak is made of small objects. Slower, so only when
		// asked.
		runtime.MemProfileRate = 64
	}
	if _, err := sipptest.LookPath(); err != nil {
		fmt.Fprintln(stderr, "sipload:", err)
		return 1
	}
	r, err := run(o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "sipload:", err)
		return 1
	}
	md := r.markdown(o)
	fmt.Fprint(stdout, md)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(md), 0o644); err != nil {
			fmt.Fprintln(stderr, "sipload:", err)
			return 1
		}
	}
	if err := r.load.Check(r.calls); err != nil {
		fmt.Fprintln(stderr, "sipload: calls failed:", err)
		return 1
	}
	return 0
}

// gateway is dtmfgw's SIP and media, in this process.
type gateway struct {
	b2b    *sip.B2BUA
	addr   netip.AddrPort
	cancel context.CancelFunc
	served chan error
}

// startGateway serves the B2BUA on a free loopback port, bridging every
// call to agent.
func startGateway(calls *call.Manager, agent netip.AddrPort, log *slog.Logger) (*gateway, error) {
	cfg := sip.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DefaultTarget = "sip:agent@" + agent.String()
	b2b, err := sip.NewB2BUA(cfg, calls, log)
	if err != nil {
		return nil, err
	}
	ls, err := sip.Listen(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	g := &gateway{b2b: b2b, addr: ls.Addr(), cancel: cancel, served: make(chan error, 1)}
	go func() { g.served <- b2b.Serve(ctx, ls) }()
	return g, nil
}

// stop drains the gateway (no call should be left) and stops serving.
func (g *gateway) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := g.b2b.Shutdown(ctx)
	g.cancel()
	return errors.Join(err, <-g.served)
}

// memory is one measurement of this process.
type memory struct {
	at         time.Time
	heap       uint64 // HeapAlloc right after a forced GC: the live heap
	goroutines int
	active     int // live calls (call.Manager)
	created    uint64
}

// measure forces a collection and reads the live heap, goroutines and
// calls.
func measure(calls *call.Manager) memory {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := calls.Stats()
	return memory{at: time.Now(), heap: ms.HeapAlloc, goroutines: runtime.NumGoroutine(), active: st.Active, created: st.Created}
}

// usage is this process's CPU time and peak RSS so far (getrusage(2)).
type usage struct {
	cpu    time.Duration
	maxRSS uint64 // bytes
}

func readUsage() usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return usage{}
	}
	return usage{
		cpu:    time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		maxRSS: uint64(ru.Maxrss) * 1024, // Linux reports kilobytes
	}
}

// sampler watches the load: every tick the calls started and live (for
// the rate and the peak), and at a few points of the steady state a full
// memory measurement.
type sampler struct {
	calls   *call.Manager
	total   uint64
	window  time.Duration // how long calls are started for
	stopped chan struct{}
	done    chan struct{}

	mu         sync.Mutex
	first      time.Time // the first call seen
	last       time.Time // the last call seen
	peakActive int
	points     []memory
}

// samplePeriod is how often the sampler looks at the call counters: the
// rate is measured to about this precision over the whole window.
const samplePeriod = 20 * time.Millisecond

// steadyPoints are the moments, as fractions of the window after the
// first call, at which the heap is measured: late enough that calls end
// as fast as they start (the window is at least twice a call's length).
var steadyPoints = []float64{0.5, 0.7, 0.9}

func newSampler(calls *call.Manager, total uint64, window time.Duration) *sampler {
	s := &sampler{calls: calls, total: total, window: window, stopped: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *sampler) run() {
	defer close(s.done)
	tick := time.NewTicker(samplePeriod)
	defer tick.Stop()
	next := 0
	for {
		select {
		case <-s.stopped:
			return
		case now := <-tick.C:
			st := s.calls.Stats()
			s.mu.Lock()
			if st.Created > 0 && s.first.IsZero() {
				s.first = now
			}
			if st.Created >= s.total && s.last.IsZero() {
				s.last = now
			}
			s.peakActive = max(s.peakActive, st.Active)
			first := s.first
			s.mu.Unlock()
			if next < len(steadyPoints) && !first.IsZero() && now.Sub(first) >= time.Duration(steadyPoints[next]*float64(s.window)) {
				m := measure(s.calls)
				s.mu.Lock()
				s.points = append(s.points, m)
				s.mu.Unlock()
				next++
			}
		}
	}
}

func (s *sampler) stop() {
	close(s.stopped)
	<-s.done
}

// report is what a run measured.
type report struct {
	calls      int
	load       sipptest.LoadResult
	started    time.Time
	callsRate  float64 // calls/s dtmfgw took, first to last call
	peakActive int
	base       memory
	points     []memory
	idle       memory // once every call ended
	settled    memory // after -settle
	baseUsage  usage
	endUsage   usage // when the caller finished
	wall       time.Duration
	gwStats    gatewayStats
	ends       map[call.EndReason]uint64
	sippVer    string
	loadAvg    string
}

// gatewayStats are the B2BUA's counters after the run.
type gatewayStats struct {
	bridged, forbidden, badSDP, noRoute, unavailable uint64
}

func run(o options, stderr io.Writer) (*report, error) {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mc := call.DefaultMediaConfig()
	mc.RTPPorts = o.ports
	calls, err := call.NewManager(mc, call.WithLogger(log))
	if err != nil {
		return nil, err
	}
	defer calls.Close()

	rtp := sipptest.CallerRTP{Tail: 3 * time.Second}
	if o.keys {
		rtp = sipptest.CallerRTP{Keys: sipptest.CanaryCard, Mode: sipptest.Both}
	}
	if o.duration < 2*rtp.Duration() {
		return nil, fmt.Errorf("-duration %v is shorter than twice a call (%v): the load would not reach a steady state", o.duration, rtp.Duration())
	}
	r := &report{calls: o.rate * int(o.duration/time.Second), sippVer: sipptest.Version(), started: time.Now()}
	dir, err := os.MkdirTemp("", "sipload-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), o.duration+rtp.Duration()+2*time.Minute)
	defer cancel()

	fmt.Fprintf(stderr, "sipload: %d calls at %d/s, each %v of RTP, through dtmfgw on loopback\n", r.calls, o.rate, rtp.Duration())
	var gw *gateway
	var smp *sampler
	start := time.Now()
	r.load, err = sipptest.RunLoad(ctx, sipptest.LoadOptions{Calls: r.calls, Rate: o.rate, RTP: rtp, Dir: dir},
		func(agent netip.AddrPort) (netip.AddrPort, error) {
			g, err := startGateway(calls, agent, log)
			if err != nil {
				return netip.AddrPort{}, err
			}
			gw = g
			r.base = measure(calls)
			writeHeapProfile(o.heapProf, "base.pprof", stderr)
			r.baseUsage = readUsage()
			start = time.Now()
			smp = newSampler(calls, uint64(r.calls), o.duration)
			return g.addr, nil
		})
	if smp != nil {
		smp.stop()
	}
	r.endUsage = readUsage()
	r.wall = time.Since(start)
	if err != nil {
		if gw != nil {
			_ = gw.stop() // the run's own error is the one to report
		}
		return nil, err
	}
	idleCtx, idleCancel := context.WithTimeout(ctx, 30*time.Second)
	defer idleCancel()
	if err := calls.WaitIdle(idleCtx); err != nil {
		return nil, fmt.Errorf("calls still live after the run: %w", err)
	}
	r.idle = measure(calls)
	smp.mu.Lock()
	r.peakActive, r.points = smp.peakActive, smp.points
	if !smp.first.IsZero() && smp.last.After(smp.first) {
		r.callsRate = float64(r.calls-1) / smp.last.Sub(smp.first).Seconds()
	}
	smp.mu.Unlock()
	st := gw.b2b.Stats()
	r.gwStats = gatewayStats{
		bridged: st.Bridged.Load(), forbidden: st.Forbidden.Load(), badSDP: st.BadSDP.Load(),
		noRoute: st.NoRoute.Load(), unavailable: st.Unavailable.Load(),
	}
	r.ends = calls.Stats().Ends
	if o.settle > 0 {
		fmt.Fprintf(stderr, "sipload: waiting %v for finished SIP transactions to expire\n", o.settle)
		select {
		case <-time.After(o.settle):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	r.settled = measure(calls)
	writeHeapProfile(o.heapProf, "settled.pprof", stderr)
	r.loadAvg = benchkit.LoadAverage()
	if err := gw.stop(); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	return r, nil
}

// writeHeapProfile writes a heap profile to prefix+name, if prefix is
// set. A failure is reported and the run goes on.
func writeHeapProfile(prefix, name string, stderr io.Writer) {
	if prefix == "" {
		return
	}
	f, err := os.Create(prefix + name)
	if err == nil {
		err = errors.Join(pprof.Lookup("heap").WriteTo(f, 0), f.Close())
	}
	if err != nil {
		fmt.Fprintln(stderr, "sipload: heap profile:", err)
	}
}

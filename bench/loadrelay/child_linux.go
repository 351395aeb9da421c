package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"dtmfgw/call"
	"dtmfgw/media"
)

// childEnv marks the relaying child process.
const childEnv = "LOADRELAY_CHILD"

// The relaying process's modes.
const (
	// modeReference is the simplest Go UDP forwarder: a goroutine per
	// socket, read, write to the other side's peer; no parsing, no
	// checks, no masking.
	modeReference = "reference"
	// modeRelay is media.Relay with its pass-through handler: legs with
	// source checks, RTP parsing and stats, no masking.
	modeRelay = "relay"
	// modeRelayMask is media.Relay with the masking pipeline, events and
	// in-band masked.
	modeRelayMask = "relay+mask"
	// modeRelayReactor and modeMaskReactor are modeRelay and
	// modeRelayMask with the legs read by media.Reactors (one per CPU)
	// instead of a goroutine per socket.
	modeRelayReactor = "relay-reactor"
	modeMaskReactor  = "relay+mask-reactor"
	// modeServe is the product as users run it: `dtmfgw serve` on its
	// default configuration, every call set up over SIP (serve_linux.go).
	modeServe = "serve"
	// modeServeBase is modeServe with the binary -dtmfgw-base names (an
	// earlier build, say), so that two builds are compared in one
	// interleaved run.
	modeServeBase = "serve-base"
	// modeRTPEngine is Debian's rtpengine in user space, driven over its
	// ng control protocol (rtpengine_linux.go); modeRTPEngineDTMF the
	// same with its DTMF blocking on.
	modeRTPEngine     = "rtpengine"
	modeRTPEngineDTMF = "rtpengine-dtmf"
)

// allModes are the modes in the order a table shows them.
var allModes = []string{modeReference, modeRelay, modeRelayReactor, modeRelayMask, modeMaskReactor, modeServe, modeServeBase, modeRTPEngine, modeRTPEngineDTMF}

// defaultModes are the modes a run measures unless -modes says: the
// in-process relays (the end-to-end modes need a build of dtmfgw and
// rtpengine installed).
var defaultModes = []string{modeReference, modeRelay, modeRelayReactor, modeRelayMask, modeMaskReactor}

// A mode may name the CPUs its relaying process runs on, "MODE@CPUS"
// (taskset -c CPUS): baseMode is the mode, cpusOf the CPUs ("" for none).
func baseMode(mode string) string { m, _, _ := strings.Cut(mode, "@"); return m }

func cpusOf(mode string) string { _, c, _ := strings.Cut(mode, "@"); return c }

// endToEnd reports whether a mode's relay is a process of its own that
// the generator sets calls up with (SIP or ng), not this program.
func endToEnd(mode string) bool {
	switch baseMode(mode) {
	case modeServe, modeServeBase, modeRTPEngine, modeRTPEngineDTMF:
		return true
	}
	return false
}

// childMain is the relaying process: it sets up the calls, prints their
// ports and "ready", relays until its standard input closes (or -life
// passes), then closes everything.
func childMain(args []string) int {
	fs := flag.NewFlagSet("loadrelay child", flag.ContinueOnError)
	mode := fs.String("mode", modeReference, strings.Join(allModes, " | "))
	calls := fs.Int("calls", 100, "calls")
	callerPeer := fs.String("caller", "", "the generator's caller-side address")
	agentPeer := fs.String("agent", "", "the generator's agent-side address")
	batch := fs.Int("batch", 0, "relay legs' BatchRead")
	coalesce := fs.Duration("coalesce", 0, "reactors' Coalesce")
	perCPU := fs.Int("reactors-per-cpu", 1, "reactors per CPU")
	ports := fs.String("ports", "20000-29999", "relay port range")
	life := fs.Duration("life", 5*time.Minute, "exit after this long whatever happens")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the relaying process here")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadrelay child:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "loadrelay child:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	caller, err1 := netip.ParseAddrPort(*callerPeer)
	agent, err2 := netip.ParseAddrPort(*agentPeer)
	if err := errors.Join(err1, err2); err != nil {
		fmt.Fprintln(os.Stderr, "loadrelay child:", err)
		return 2
	}
	var closers []func() error
	var err error
	switch *mode {
	case modeReference:
		closers, err = startReference(*calls, caller, agent)
	case modeRelay, modeRelayMask, modeRelayReactor, modeMaskReactor:
		mask := *mode == modeRelayMask || *mode == modeMaskReactor
		reactors := 0
		if *mode == modeRelayReactor || *mode == modeMaskReactor {
			reactors = runtime.GOMAXPROCS(0) * min(max(*perCPU, 1), 16)
		}
		closers, err = startRelays(*calls, caller, agent, *batch, *ports, mask, reactors, *coalesce)
	default:
		err = fmt.Errorf("unknown mode %q", *mode)
	}
	if err == nil {
		fmt.Println("ready")
		done := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			close(done)
		}()
		t := time.NewTimer(*life)
		select {
		case <-done:
		case <-t.C:
			err = fmt.Errorf("still running after -life %v", *life)
		}
		t.Stop()
	}
	for _, c := range closers {
		err = errors.Join(err, c())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadrelay child:", err)
		return 1
	}
	return 0
}

// startReference starts the reference forwarder for calls calls.
func startReference(calls int, callerPeer, agentPeer netip.AddrPort) ([]func() error, error) {
	var closers []func() error
	var wg sync.WaitGroup
	closers = append(closers, func() error { wg.Wait(); return nil })
	for i := range calls {
		a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return closers, err
		}
		b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			a.Close()
			return closers, err
		}
		// Closers run in order: the sockets go in front of the wait.
		closers = append([]func() error{a.Close, b.Close}, closers...)
		wg.Add(2)
		go func() { defer wg.Done(); forward(a, b, agentPeer) }()
		go func() { defer wg.Done(); forward(b, a, callerPeer) }()
		fmt.Printf("call %d %d %d\n", i, a.LocalAddr().(*net.UDPAddr).Port, b.LocalAddr().(*net.UDPAddr).Port)
	}
	return closers, nil
}

// forward is the reference: read a datagram on in, write it from out to
// to, until in is closed.
func forward(in, out *net.UDPConn, to netip.AddrPort) {
	buf := make([]byte, 1500)
	for {
		n, _, err := in.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		_, _ = out.WriteToUDPAddrPort(buf[:n], to)
	}
}

// startRelays starts calls media.Relays, masking or not, on one shared
// TickWheel.
func startRelays(calls int, callerPeer, agentPeer netip.AddrPort, batch int, ports string, mask bool, reactors int, coalesce time.Duration) ([]func() error, error) {
	r, err := call.ParsePortRange(ports)
	if err != nil {
		return nil, fmt.Errorf("-ports: %w", err)
	}
	pool, err := media.NewPortPool(media.PortPoolConfig{BindAddr: netip.MustParseAddr("127.0.0.1"), Min: r.Min, Max: r.Max, Drain: -1})
	if err != nil {
		return nil, err
	}
	wheel := media.NewTickWheel(media.DefaultTickInterval, nil)
	presses := newPressSink()
	closers := []func() error{func() error { wheel.Close(); presses.close(); return nil }}
	rs := make([]*media.Reactor, reactors)
	for i := range rs {
		if rs[i], err = media.NewReactor(media.ReactorConfig{Coalesce: coalesce}); err != nil {
			return closers, err
		}
		closers = append(closers, rs[i].Close) // after every relay's Close
	}
	for i := range calls {
		legCfg := media.LegConfig{Pool: pool, MediaTimeout: 30 * time.Second, BatchRead: batch, EventPayloadTypes: []uint8{eventPT}}
		legCfg.Remote = callerPeer
		cl, err := media.NewLeg(legCfg)
		if err != nil {
			return closers, err
		}
		legCfg.Remote = agentPeer
		al, err := media.NewLeg(legCfg)
		if err != nil {
			cl.Close()
			return closers, err
		}
		cfg := media.RelayConfig{Caller: cl, Agent: al, Wheel: wheel}
		if reactors > 0 {
			cfg.Reactor = rs[i%reactors]
		}
		if mask {
			h, tick, err := newMask(al, presses)
			if err != nil {
				cl.Close()
				al.Close()
				return closers, err
			}
			cfg.CallerToAgent, cfg.Tick = h, tick
		}
		r, err := media.NewRelay(cfg)
		if err != nil {
			cl.Close()
			al.Close()
			return closers, err
		}
		closers = append([]func() error{r.Close}, closers...)
		if err := r.Start(); err != nil {
			return closers, err
		}
		fmt.Printf("call %d %d %d\n", i, cl.LocalAddr().Port(), al.LocalAddr().Port())
	}
	return closers, nil
}

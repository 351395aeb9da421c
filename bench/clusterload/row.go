//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"dtmfgw/internal/testkit/kamailiotest"
	"dtmfgw/internal/testkit/pgtest"
	"dtmfgw/internal/testkit/sipptest"
)

// secureService is the caller's Request-URI user: kamailio.cfg's secure
// prefix (*88, stripped) sends the call to a dtmfgw node.
const secureService = "*88agent"

// proxyReadyTimeout bounds the wait for Kamailio to answer OPTIONS.
const proxyReadyTimeout = 10 * time.Second

// row is one run: calls at one rate through Kamailio to some nodes.
type row struct {
	seq, round int
	nodes      int
	rate       int // offered, calls/s
	calls      int
	load       sipptest.LoadResult
	perNode    []int // calls each node created (dtmfgw_calls_total)
	masked     int   // key presses the agent heard masked, all nodes
	leftUp     int   // calls still up on the nodes callsEndTimeout after the caller ended
	cpu        cpuUse
	wall       time.Duration // between the two CPU snapshots: the caller's run
}

// callerRTP is what every caller plays.
func callerRTP(keys bool) sipptest.CallerRTP {
	if keys {
		return sipptest.CallerRTP{Keys: sipptest.CanaryCard, Mode: sipptest.Both}
	}
	return sipptest.CallerRTP{Tail: 3 * time.Second}
}

// failed counts the calls that did not succeed, either side: the caller's
// not successful (failed, or never finished) and the agent's failed.
func (r *row) failed() int {
	return max(r.calls-r.load.Caller.Successful, r.load.Caller.Failed) + r.load.Agent.Failed
}

// clean reports whether every call of the row succeeded on both sides.
func (r *row) clean() bool {
	return r.load.Caller.Successful == r.calls && r.load.Caller.Failed == 0 && r.load.Agent.Failed == 0 && r.leftUp == 0
}

// achieved is the calls per second completed: the caller's successful
// calls over its running time less one call's length (the last call
// started that much before the caller ended).
func (r *row) achieved() float64 {
	d := r.load.Caller.Elapsed - r.load.CallLength
	if d <= 0 {
		return 0
	}
	return float64(r.load.Caller.Successful) / d.Seconds()
}

// perCall divides a CPU time by the row's successful calls.
func (r *row) perCall(d time.Duration) time.Duration {
	if r.load.Caller.Successful == 0 {
		return 0
	}
	return d / time.Duration(r.load.Caller.Successful)
}

// summary is the row in one line, for stderr.
func (r *row) summary() string {
	s := fmt.Sprintf("%d/%d calls ok, %d failed, %.1f calls/s, peak %d concurrent, setup %v, dtmfgw CPU %.2f ms/call, machine %.2f cores",
		r.load.Caller.Successful, r.calls, r.failed(), r.achieved(), r.load.Agent.PeakCalls, r.load.Caller.ResponseTime,
		ms(r.perCall(r.cpu.nodes)), r.cores(r.cpu.machine))
	if reasons := failureReasons(r.load); reasons != "" {
		s += "; " + reasons
	}
	if r.leftUp > 0 {
		s += fmt.Sprintf("; %d calls still up on the nodes %v after the caller ended", r.leftUp, callsEndTimeout)
	}
	return s
}

// cores is d spread over the row's wall time.
func (r *row) cores(d time.Duration) float64 {
	if r.wall <= 0 {
		return 0
	}
	return d.Seconds() / r.wall.Seconds()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// failureReasons lists SIPp's failure counters of both sides, or "".
func failureReasons(l sipptest.LoadResult) string {
	var parts []string
	for _, side := range []struct {
		name string
		res  sipptest.Result
	}{{"caller", l.Caller}, {"agent", l.Agent}} {
		for _, k := range slices.Sorted(maps.Keys(side.res.FailureReasons)) {
			parts = append(parts, fmt.Sprintf("%s %s %d", side.name, k, side.res.FailureReasons[k]))
		}
	}
	return strings.Join(parts, ", ")
}

// runRow runs one row: a fresh schema, n nodes, Kamailio in front, the
// SIPp agent behind, and the caller at rate for o.duration. Everything it
// started is stopped before it returns, whatever happened.
func runRow(ctx context.Context, o options, n, rate int, base string, stderr io.Writer) (_ *row, err error) {
	dir, err := os.MkdirTemp(base, "row-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	dsn, drop, err := pgtest.Schema(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if dropErr := drop(); dropErr != nil && err == nil {
			err = fmt.Errorf("drop the row's schema: %w", dropErr)
		}
	}()
	rtp := callerRTP(o.keys)
	rw := &row{nodes: n, rate: rate, calls: rate * int(o.duration/time.Second)}
	interrupted := ctx
	ctx, cancel := context.WithTimeout(ctx, o.duration+rtp.Duration()+3*time.Minute)
	defer cancel()

	var nodes []*node
	var proxy *kamailiotest.Proxy
	defer func() {
		if proxy != nil {
			proxy.Stop()
		}
		for _, nd := range nodes {
			if interrupted.Err() != nil || rw.leftUp > 0 {
				// Calls may be up: no drain.
				nd.kill()
				continue
			}
			if stopErr := nd.stop(); stopErr != nil && err == nil {
				err = stopErr
			}
		}
	}()
	var before cpuUse
	var t0 time.Time
	pids := func() []int {
		out := make([]int, len(nodes))
		for i, nd := range nodes {
			out[i] = nd.pid()
		}
		return out
	}
	sippDir := filepath.Join(dir, "sipp")
	rw.load, err = sipptest.RunLoad(ctx, sipptest.LoadOptions{
		Calls: rw.calls, Rate: rate, RTP: rtp, Dir: sippDir, Service: secureService, AgentGrace: 10 * time.Second,
	}, func(agent netip.AddrPort) (netip.AddrPort, error) {
		s := newSecrets()
		// One at a time: the first migrates the schema.
		for i := range n {
			nd, err := startNode(ctx, o.dtmfgw, dir, i, n, o.ports, dsn, agent, s)
			if err != nil {
				return netip.AddrPort{}, err
			}
			nodes = append(nodes, nd)
		}
		var list strings.Builder
		for _, nd := range nodes {
			fmt.Fprintf(&list, "1 sip:%s;transport=udp 8 0\n", nd.sip)
		}
		kdir := filepath.Join(dir, "kamailio")
		if err := os.Mkdir(kdir, 0o700); err != nil {
			return netip.AddrPort{}, err
		}
		p, err := kamailiotest.Run(o.kamailioCfg, list.String(), kdir)
		if err != nil {
			return netip.AddrPort{}, err
		}
		proxy = p
		wctx, wcancel := context.WithTimeout(ctx, proxyReadyTimeout)
		defer wcancel()
		if err := proxy.WaitReady(wctx); err != nil {
			return netip.AddrPort{}, err
		}
		if before, err = snapshot(pids(), proxy.Pid()); err != nil {
			return netip.AddrPort{}, err
		}
		t0 = time.Now()
		return netip.ParseAddrPort(proxy.Addr())
	})
	if err == nil && interrupted.Err() != nil {
		err = fmt.Errorf("interrupted: %w", interrupted.Err())
	}
	if err != nil {
		return nil, err
	}
	after, err := snapshot(pids(), proxy.Pid())
	if err != nil {
		return nil, err
	}
	rw.wall = time.Since(t0)
	rw.cpu = after.sub(before)

	ectx, ecancel := context.WithTimeout(ctx, callsEndTimeout)
	defer ecancel()
	var errs []error
	for _, nd := range nodes {
		left, err := nd.waitCallsEnded(ectx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rw.leftUp += left
		v, err := nd.metrics(ctx, "dtmfgw_calls_total", "dtmfgw_dtmf_masked_presses_total")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rw.perNode = append(rw.perNode, v[0])
		rw.masked += max(v[1], 0)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if !rw.clean() {
		if e := rw.load.Caller.Errors; e != "" {
			fmt.Fprintf(stderr, "clusterload: the caller's SIPp error log begins:\n%s\n", firstLines(e, 8))
		}
	}
	return rw, nil
}

// firstLines returns the first n lines of s.
func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

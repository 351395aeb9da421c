//go:build linux

package main

import (
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"

	"dtmfgw/call"
	"dtmfgw/internal/testkit/kamailiotest"
	"dtmfgw/internal/testkit/sipptest"
	"dtmfgw/media/mask"
)

// report is what a run measured.
type report struct {
	opts               options
	started            time.Time
	loadStart, loadEnd string
	sippVer            string
	kamailioVer, pgVer string
	rows               []*row
	// stoppedAt is the rate at which every row failed calls, after which
	// no higher rate was run; 0 if every rate was run.
	stoppedAt int
}

// kamailioVersion returns e.g. "Kamailio 5.6.3", or "Kamailio (version unknown)".
func kamailioVersion() string {
	bin, err := kamailiotest.Binary()
	if err == nil {
		out, _ := exec.Command(bin, "-v").Output()
		line, _, _ := strings.Cut(string(out), "\n")
		if f := strings.Fields(line); len(f) >= 3 && f[1] == "kamailio" {
			return "Kamailio " + f[2]
		}
	}
	return "Kamailio (version unknown)"
}

// postgresVersion returns e.g. "PostgreSQL 15.14".
func postgresVersion(ctx context.Context, db *sql.DB) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var v string
	if err := db.QueryRowContext(ctx, "SELECT current_setting('server_version')").Scan(&v); err != nil {
		return "PostgreSQL (version unknown)"
	}
	v, _, _ = strings.Cut(v, " ")
	return "PostgreSQL " + v
}

// rowsOf returns the rows of n nodes at rate, in the order run.
func (r *report) rowsOf(n, rate int) []*row {
	var out []*row
	for _, rw := range r.rows {
		if rw.nodes == n && rw.rate == rate {
			out = append(out, rw)
		}
	}
	return out
}

// ratesRun returns the rates that have rows, in order.
func (r *report) ratesRun() []int {
	var out []int
	for _, rate := range r.opts.rates {
		if len(r.rowsOf(r.opts.nodes[0], rate)) > 0 {
			out = append(out, rate)
		}
	}
	return out
}

// highest returns the highest rate up to which every row of n nodes had
// no failed call (0: not even the lowest), and whether it is the highest
// rate run (the limit lies above it).
func (r *report) highest(n int) (rate int, top bool) {
	run := r.ratesRun()
	for _, rt := range run {
		rows := r.rowsOf(n, rt)
		if len(rows) == 0 {
			break
		}
		ok := true
		for _, rw := range rows {
			ok = ok && rw.clean()
		}
		if !ok {
			break
		}
		rate = rt
	}
	return rate, len(run) > 0 && rate == run[len(run)-1]
}

// ratio compares the highest clean rates of the most and the fewest
// nodes, saying which way a bound goes when a limit was not reached.
func (r *report) ratio() string {
	few, many := slices.Min(r.opts.nodes), slices.Max(r.opts.nodes)
	if few == many {
		return ""
	}
	hf, topF := r.highest(few)
	hm, topM := r.highest(many)
	head := fmt.Sprintf("%d nodes / %d node%s, highest rate with no failed call", many, few, plural(few))
	switch {
	case hf == 0 || hm == 0:
		return head + ": not defined (a row failed calls at the lowest rate)"
	case topF && topM:
		return fmt.Sprintf("%s: %.2f, a floor only: both ran every rate without a failed call, so their limits lie above %d calls/s (run higher -rates to find them)", head, float64(hm)/float64(hf), hm)
	case topM:
		return fmt.Sprintf("%s: ≥ %.2f (%d nodes ran every rate without a failed call)", head, float64(hm)/float64(hf), many)
	case topF:
		return fmt.Sprintf("%s: ≤ %.2f (%d node%s ran every rate without a failed call)", head, float64(hm)/float64(hf), few, plural(few))
	}
	return fmt.Sprintf("%s: %.2f", head, float64(hm)/float64(hf))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// lowestRateClean returns an error when a row at the lowest rate failed
// calls: the setup, not the load, is at fault then.
func (r *report) lowestRateClean() error {
	if len(r.rows) == 0 {
		return fmt.Errorf("no row was run")
	}
	lowest := slices.Min(r.opts.rates)
	var bad []string
	for _, rw := range r.rows {
		if rw.rate == lowest && !rw.clean() {
			bad = append(bad, fmt.Sprintf("row %d (%d nodes): %d of %d calls failed", rw.seq, rw.nodes, rw.failed(), rw.calls))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("calls failed at the lowest rate, %d calls/s: %s", lowest, strings.Join(bad, "; "))
	}
	return nil
}

// median returns the median of f over rows.
func median(rows []*row, f func(*row) float64) float64 {
	if len(rows) == 0 {
		return 0
	}
	v := make([]float64, len(rows))
	for i, rw := range rows {
		v[i] = f(rw)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// The per-row figures the tables show.
func (r *row) nodesMS() float64    { return ms(r.perCall(r.cpu.nodes)) }
func (r *row) kamailioMS() float64 { return ms(r.perCall(r.cpu.kamailio)) }
func (r *row) postgresMS() float64 { return ms(r.perCall(r.cpu.postgres)) }
func (r *row) sippMS() float64     { return ms(r.perCall(r.cpu.sipp)) }
func (r *row) machineMS() float64  { return ms(r.perCall(r.cpu.machine)) }
func (r *row) peak() float64       { return float64(r.load.Agent.PeakCalls) }

// setupText is SIPp's mean call setup time; it counts whole milliseconds.
func setupText(d time.Duration) string {
	if d == 0 {
		return "< 1 ms"
	}
	return d.String()
}

// markdown renders the report.
func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	o := r.opts
	mc := call.DefaultMediaConfig()
	nodesText := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(o.nodes)), ", "), "[]")
	callLen := time.Duration(0)
	if len(r.rows) > 0 {
		callLen = r.rows[0].load.CallLength
	}
	p("# Cluster load benchmark\n\n")
	p("Generated by `%s`; do not edit by hand.\n\n", o.command)
	p("- Date: %s; Go %s %s/%s; %d CPUs visible; %s; %s; %s; 1-minute load average at the start and at the end: %s, %s\n",
		r.started.UTC().Format("2006-01-02 15:04 MST"), runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(),
		r.sippVer, r.kamailioVer, r.pgVer, r.loadStart, r.loadEnd)
	p("- Setup, for each row afresh: a new PostgreSQL schema (one server for the run); the row's number of `dtmfgw serve` processes (%s) built from this tree with `cluster.enabled: true` on that schema, node *i* on 127.0.0.(1+*i*) with its own SIP, HTTP and admin listeners and its share of the RTP ports %d-%d, on the default media configuration (masking %s, %v look-ahead); Kamailio with [deploy/kamailio/kamailio.cfg](../../deploy/kamailio/kamailio.cfg) on 127.0.0.1 spreading the calls round-robin over the nodes (dispatcher set 1, OPTIONS probes every second); SIPp `uac_load` calling `%s` through Kamailio (the secure prefix, stripped) at the row's rate for %v; SIPp `uas_load` as the agent, every node's `sip.default_target`, whose answers send the media to a counting recorder\n",
		nodesText, o.ports.Min, o.ports.Max, mask.Policy(mc.MaskInband), mc.LookAhead, secureService, o.duration)
	p("- Rows: at each rate, the numbers of nodes in turn (%s), %d round(s), the rate stepped up%s\n",
		nodesText, o.rounds, stoppedText(r.stoppedAt))
	what := "silence"
	if o.keys {
		what = "the 16-digit canary card number pressed as RFC 4733 events and in-band tones at once, every key masked toward the agent"
	}
	p("- Each call: INVITE with a PCMU offer to Kamailio, which record-routes it to a node (the ACK and the BYE go through Kamailio too), the node's INVITE to the agent, 100/180/200, ACK; %v of 20 ms PCMU from the caller (%s); BYE from the caller\n", callLen, what)
	p("- Calls/s achieved: the caller's successful calls over its running time less one call's length. Failed calls: the calls the caller did not complete and the calls the agent failed. Peak concurrent calls: the most calls up at the agent in SIPp's one-second samples, each bridged and masked by a node. Call setup: INVITE → 200 at the caller through Kamailio, a node and the agent (SIPp's mean, whole milliseconds)\n")
	p("- CPU per call: user+system time from just before the caller starts to its end, over the successful calls: the dtmfgw nodes' processes, Kamailio's processes, PostgreSQL's server and backends, SIPp's caller and agent; machine: every CPU's time less its idle time (idle, iowait and steal in /proc/stat, which the kernel measures exactly, whereas it samples busy time at its tick), all parties and anything else running. Cores: that time over the wall time, of %d\n", runtime.NumCPU())
	p("- **On one machine**: the nodes, Kamailio, PostgreSQL and the load generator (SIPp and its recorder) all share the same %d CPUs, so a ratio of more nodes to one says what clustering costs here — the proxy hop is the same, the nodes' heartbeats, shared tables and idle processes are added — not what it gains on separate machines, where each node would bring CPUs of its own\n\n", runtime.NumCPU())

	p("## Summary\n\n")
	p("| nodes | highest rate with no failed call in any row, up to it | median calls/s achieved there | median peak concurrent calls there | median dtmfgw CPU per call there | median machine CPU per call there |\n|---:|---:|---:|---:|---:|---:|\n")
	for _, n := range o.nodes {
		h, top := r.highest(n)
		if h == 0 {
			p("| %d | none (calls failed at %d calls/s) | - | - | - | - |\n", n, slices.Min(o.rates))
			continue
		}
		rows := r.rowsOf(n, h)
		limit := fmt.Sprintf("%d calls/s", h)
		if top {
			limit = fmt.Sprintf("≥ %d calls/s (the highest run)", h)
		}
		p("| %d | %s | %.1f | %.0f | %.2f ms | %.2f ms |\n", n, limit, median(rows, (*row).achieved), median(rows, (*row).peak),
			median(rows, (*row).nodesMS), median(rows, (*row).machineMS))
	}
	if s := r.ratio(); s != "" {
		p("\n**%s.**\n", s)
	}

	p("\n## By rate (medians over the rounds)\n\n")
	p("| offered calls/s | nodes | rows without a failed call | calls/s achieved | failed calls (all rows) | peak concurrent calls | call setup (mean) | dtmfgw ms/call | Kamailio ms/call | PostgreSQL ms/call | SIPp ms/call | machine ms/call | machine cores |\n")
	p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, rate := range r.ratesRun() {
		for _, n := range o.nodes {
			rows := r.rowsOf(n, rate)
			clean, failed := 0, 0
			for _, rw := range rows {
				if rw.clean() {
					clean++
				}
				failed += rw.failed()
			}
			p("| %d | %d | %d of %d | %.1f | %d | %.0f | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n",
				rate, n, clean, len(rows), median(rows, (*row).achieved), failed,
				median(rows, (*row).peak),
				setupText(time.Duration(median(rows, func(rw *row) float64 { return float64(rw.load.Caller.ResponseTime) }))),
				median(rows, (*row).nodesMS), median(rows, (*row).kamailioMS), median(rows, (*row).postgresMS),
				median(rows, (*row).sippMS), median(rows, (*row).machineMS),
				median(rows, func(rw *row) float64 { return rw.cores(rw.cpu.machine) }))
		}
	}
	if few, many := slices.Min(o.nodes), slices.Max(o.nodes); few != many {
		p("\nCPU per call, %d nodes over %d node%s, at each rate (medians): ", many, few, plural(few))
		var parts []string
		for _, rate := range r.ratesRun() {
			a, bb := r.rowsOf(few, rate), r.rowsOf(many, rate)
			if len(a) == 0 || len(bb) == 0 {
				continue
			}
			parts = append(parts, fmt.Sprintf("%d calls/s: dtmfgw %s, machine %s", rate,
				ratioText(median(bb, (*row).nodesMS), median(a, (*row).nodesMS)),
				ratioText(median(bb, (*row).machineMS), median(a, (*row).machineMS))))
		}
		p("%s.\n", strings.Join(parts, "; "))
	}

	p("\n## Rows, in the order run\n\n")
	p("| row | nodes | offered calls/s | calls | successful (caller / agent) | failed | calls/s achieved | peak concurrent | call setup (mean) | call setup (SIPp distribution) | RTP packets at the agent / audio packets sent | calls taken by each node | presses masked | dtmfgw ms/call | Kamailio ms/call | PostgreSQL ms/call | SIPp ms/call | machine cores | failures |\n")
	p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, rw := range r.rows {
		l := rw.load
		delivered := 0.0
		if l.AudioPacketsSent > 0 {
			delivered = 100 * float64(l.PacketsReceived) / float64(l.AudioPacketsSent)
		}
		per := make([]string, len(rw.perNode))
		for i, v := range rw.perNode {
			per[i] = fmt.Sprint(v)
		}
		reasons := failureReasons(l)
		if rw.leftUp > 0 {
			reasons = strings.TrimPrefix(reasons+fmt.Sprintf(", %d calls still up on the nodes %v after the caller ended", rw.leftUp, callsEndTimeout), ", ")
		}
		if reasons == "" {
			reasons = "-"
		}
		p("| %d | %d | %d | %d | %d / %d | %d | %.1f | %d | %s | %s | %d / %d (%.2f%%) | %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %s |\n",
			rw.seq, rw.nodes, rw.rate, rw.calls, l.Caller.Successful, l.Agent.Successful, rw.failed(), rw.achieved(),
			l.Agent.PeakCalls, setupText(l.Caller.ResponseTime), sipptest.ResponseBuckets(l.Caller.Stats),
			l.PacketsReceived, l.AudioPacketsSent, delivered, strings.Join(per, " / "), rw.masked,
			rw.nodesMS(), rw.kamailioMS(), rw.postgresMS(), rw.sippMS(), rw.cores(rw.cpu.machine), reasons)
	}
	return b.String()
}

// ratioText is a/b to two places, or "-" without b.
func ratioText(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// stoppedText says why the higher rates were not run, if they were not.
func stoppedText(rate int) string {
	if rate == 0 {
		return ""
	}
	return fmt.Sprintf("; every row at %d calls/s failed calls, so the higher rates were not run", rate)
}

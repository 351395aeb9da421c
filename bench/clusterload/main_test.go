//go:build linux

package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"dtmfgw/bench/internal/benchkit"
	"dtmfgw/call"
	"dtmfgw/internal/testkit/pgtest"
	"dtmfgw/internal/testkit/sipptest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.rates) != 4 || o.rates[0] != 20 || len(o.nodes) != 2 || o.nodes[1] != 3 || o.duration != 10*time.Second ||
		o.rounds != 2 || !o.keys || o.command != "go run ./bench/clusterload" {
		t.Errorf("defaults %+v", o)
	}
	o, err = parseOptions([]string{"-rates", "5, 10", "-nodes", "3,1,2", "-duration", "3s", "-rounds", "1", "-rtp-ports", "30000-30999"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.rates) != 2 || o.rates[1] != 10 || len(o.nodes) != 3 || o.nodes[0] != 3 || o.ports != (call.PortRange{Min: 30000, Max: 30999}) {
		t.Errorf("parsed %+v", o)
	}
	if !strings.Contains(o.command, "-rates 5, 10") {
		t.Errorf("command %q does not repeat the arguments", o.command)
	}
	for _, bad := range [][]string{
		{"-rates", "0"},
		{"-rates", "501"},
		{"-rates", "20,10"},
		{"-rates", "10,10"},
		{"-rates", "x"},
		{"-nodes", "0"},
		{"-nodes", "9"},
		{"-duration", "500ms"},
		{"-duration", "11m"},
		{"-rounds", "0"},
		{"-rates", "1", "-duration", "1s"}, // 1 call a row
		{"-rtp-ports", "30000-30299", "-nodes", "1,3"},
		{"extra"},
	} {
		if _, err := parseOptions(bad, io.Discard); err == nil {
			t.Errorf("parseOptions(%q) accepted", bad)
		}
	}
}

func TestNodePorts(t *testing.T) {
	ports := call.PortRange{Min: 20001, Max: 29999}
	prev := 0
	for i := range 3 {
		r := nodePorts(ports, 3, i)
		if r.Min%2 != 0 || r.Max%2 != 1 || r.Min <= prev || r.Min < ports.Min || r.Max > ports.Max || r.Max-r.Min+1 < 3000 {
			t.Errorf("node %d: %v", i, r)
		}
		prev = r.Max
	}
	if r := nodePorts(ports, 1, 0); r.Min != 20002 || r.Max != 29999 {
		t.Errorf("one node: %v", r)
	}
}

func TestParseStat(t *testing.T) {
	// comm may hold spaces and parentheses.
	line := "4242 (dtmfgw (x) y) S 17 4242 4242 0 -1 4194560 900 0 0 0 150 50 7 3 20 0 9 0 1234 0 0"
	p, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if p.pid != 4242 || p.ppid != 17 || p.comm != "dtmfgw (x) y" || p.cpu != 210*tick {
		t.Errorf("parseStat = %+v", p)
	}
	for _, bad := range []string{"", "1 (x S 1", "1 (x) S 1 2 3", "x (y) S 1 1 1 0 -1 0 0 0 0 0 1 1 1 1"} {
		if _, err := parseStat(bad); err == nil {
			t.Errorf("parseStat(%q) accepted", bad)
		}
	}
	if _, err := scanProcs(); err != nil {
		t.Fatal(err)
	}
}

func TestTreeCPU(t *testing.T) {
	procs := map[int]proc{
		1:  {pid: 1, ppid: 0, cpu: 1000 * tick},
		10: {pid: 10, ppid: 1, cpu: 5 * tick},  // the root
		11: {pid: 11, ppid: 10, cpu: 2 * tick}, // its worker
		12: {pid: 12, ppid: 11, cpu: 1 * tick}, // the worker's child
		20: {pid: 20, ppid: 1, cpu: 9 * tick},  // not in the tree
	}
	if got := treeCPU(procs, 10); got != 8*tick {
		t.Errorf("treeCPU = %v, want %v", got, 8*tick)
	}
	if got := treeCPU(procs, 99); got != 0 {
		t.Errorf("treeCPU of a missing process = %v", got)
	}
}

func TestParseProcStat(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	text := "cpu  100 2 30 5000 40 5 6 70 10 0\ncpu0 50 1 15 2500 20 2 3 35 5 0\ncpu1 50 1 15 2500 20 3 3 35 5 0\nintr 1 2 3\n"
	idle, cpus, err := parseProcStat(text)
	if err != nil {
		t.Fatal(err)
	}
	if idle != 5110*tick || cpus != 2 {
		t.Errorf("parseProcStat = %v, %d CPUs; want %v, 2", idle, cpus, 5110*tick)
	}
	for _, bad := range []string{"", "intr 1 2 3\n", "cpu 1 2 3\ncpu0 1 2 3\n", "cpu  1 2 3 x 5 6 7 8 9\ncpu0 1\n"} {
		if _, _, err := parseProcStat(bad); err == nil {
			t.Errorf("parseProcStat(%q) accepted", bad)
		}
	}
	a := cpuUse{machine: 1000 * tick, at: time.Unix(10, 0), cpus: 2}
	b := cpuUse{machine: 400 * tick, at: time.Unix(0, 0), cpus: 2}
	if got := a.sub(b).machine; got != 14*time.Second {
		t.Errorf("busy = %v, want 14s (20 s of CPU less 6 s idle)", got)
	}
}

// fakeRow is a row with the given outcome.
func fakeRow(seq, nodes, rate, failed int) *row {
	calls := rate * 10
	ok := sipptest.Result{Successful: calls - failed, Failed: failed, Elapsed: 10*time.Second + 2960*time.Millisecond}
	ok.Stats = map[string]string{"ResponseTimeRepartition1_<10": "5"}
	if failed > 0 {
		ok.FailureReasons = map[string]int{"FailedTimeoutOnRecv": failed}
	}
	per := make([]int, nodes)
	for i := range per {
		per[i] = calls / nodes
	}
	return &row{seq: seq, nodes: nodes, rate: rate, calls: calls,
		load:    sipptest.LoadResult{Caller: ok, Agent: sipptest.Result{Successful: calls - failed, PeakCalls: rate * 3}, CallLength: 2960 * time.Millisecond, AudioPacketsSent: calls * 148, PacketsReceived: calls * 148},
		perNode: per, masked: 16 * (calls - failed),
		cpu:  cpuUse{nodes: time.Duration(calls) * time.Millisecond * time.Duration(nodes), machine: time.Duration(calls) * 20 * time.Millisecond},
		wall: 13 * time.Second}
}

func TestSummary(t *testing.T) {
	o, err := parseOptions([]string{"-rates", "20,40,60"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := &report{opts: o, started: time.Unix(0, 0), sippVer: "SIPp v3.6.1", kamailioVer: "Kamailio 5.6.3", pgVer: "PostgreSQL 15.1", loadStart: "0.5", loadEnd: "1.9"}
	seq := 0
	add := func(nodes, rate, failed int) {
		seq++
		r.rows = append(r.rows, fakeRow(seq, nodes, rate, failed))
	}
	for _, rate := range []int{20, 40, 60} {
		for range 2 {
			f1, f3 := 0, 0
			if rate == 60 {
				f1 = 3 // one node fails at 60
			}
			add(1, rate, f1)
			add(3, rate, f3)
		}
	}
	if h, top := r.highest(1); h != 40 || top {
		t.Errorf("highest(1) = %d, %v; want 40, false", h, top)
	}
	if h, top := r.highest(3); h != 60 || !top {
		t.Errorf("highest(3) = %d, %v; want 60, true", h, top)
	}
	if got := r.ratio(); !strings.Contains(got, "≥ 1.50") {
		t.Errorf("ratio = %q", got)
	}
	if err := r.lowestRateClean(); err != nil {
		t.Error(err)
	}
	md := r.markdown()
	for _, want := range []string{
		"# Cluster load benchmark",
		"Generated by `go run ./bench/clusterload -rates 20,40,60`",
		"Kamailio 5.6.3; PostgreSQL 15.1",
		"| 1 | 40 calls/s | 40.0 | 120 | 1.00 ms | 20.00 ms |",
		"| 3 | ≥ 60 calls/s (the highest run) |",
		"3 nodes / 1 node, highest rate with no failed call: ≥ 1.50",
		"| 60 | 1 | 0 of 2 | 59.7 | 6 |",
		"| 12 | 3 | 60 | 600 | 600 / 600 | 0 | 60.0 | 180 | < 1 ms | < 10 ms: 5 | 88800 / 88800 (100.00%) | 200 / 200 / 200 | 9600 |",
		"caller FailedTimeoutOnRecv 3",
		"all share the same",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, sipptest.CanaryCard) {
		t.Error("the report holds the canary card number")
	}

	// Calls left up on the nodes make a row unclean, and say so.
	left := fakeRow(13, 3, 60, 0)
	left.leftUp = 2
	if left.clean() {
		t.Error("a row with calls left up on the nodes is clean")
	}
	r.rows = append(r.rows, left)
	if md := r.markdown(); !strings.Contains(md, "| 2 calls still up on the nodes 15s after the caller ended |") {
		t.Errorf("the report does not tell the calls left up:\n%s", md)
	}
	if h, _ := r.highest(3); h != 40 {
		t.Errorf("highest(3) = %d with calls left up at 60, want 40", h)
	}

	// A failure at the lowest rate fails the run.
	r.rows[0] = fakeRow(1, 1, 20, 1)
	if err := r.lowestRateClean(); err == nil {
		t.Error("lowestRateClean accepted a failed call at the lowest rate")
	}
	if h, _ := r.highest(1); h != 0 {
		t.Errorf("highest(1) = %d after a failure at the lowest rate", h)
	}
	if got := r.ratio(); !strings.Contains(got, "not defined") {
		t.Errorf("ratio = %q", got)
	}
}

// TestClusterLoadShort is a short real run: dtmfgw built from this tree,
// one node and then three behind Kamailio on one PostgreSQL, 5 calls/s
// for 2 s each. It checks that every call succeeded, went through the
// nodes (three nodes all took calls) and was masked, and that the report
// has its shape. It needs sipp, kamailio and postgresql (make deps) and
// root, and fails without them.
func TestClusterLoadShort(t *testing.T) {
	if testing.Short() {
		t.Skip("builds dtmfgw and runs one and three nodes behind Kamailio for about 20 s: make test runs it")
	}
	o, err := parseOptions([]string{"-rates", "5", "-nodes", "1,3", "-duration", "2s", "-rounds", "1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkTools(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if o.dtmfgw, err = benchkit.BuildDtmfgw(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	t.Logf("dtmfgw built in %v", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var log strings.Builder
	r, err := runBenchmark(ctx, o, &log)
	t.Logf("clusterload said:\n%s", log.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.rows) != 2 || r.rows[0].nodes != 1 || r.rows[1].nodes != 3 {
		t.Fatalf("rows: %d, want one of 1 node and one of 3", len(r.rows))
	}
	for _, rw := range r.rows {
		if err := rw.load.Check(rw.calls); err != nil {
			t.Errorf("%d nodes: %v", rw.nodes, err)
		}
		if rw.failed() != 0 || !rw.clean() {
			t.Errorf("%d nodes: %d failed calls", rw.nodes, rw.failed())
		}
		sum := 0
		for i, v := range rw.perNode {
			if v == 0 {
				t.Errorf("%d nodes: node %d took no call", rw.nodes, i+1)
			}
			sum += v
		}
		if len(rw.perNode) != rw.nodes || sum != rw.calls {
			t.Errorf("%d nodes: calls taken by each node %v, want %d in all", rw.nodes, rw.perNode, rw.calls)
		}
		if rw.masked == 0 {
			t.Errorf("%d nodes: no key press masked", rw.nodes)
		}
		if rw.cpu.nodes <= 0 || rw.cpu.machine <= 0 || rw.wall <= 0 { // Kamailio may take less than a tick for ten calls
			t.Errorf("%d nodes: CPU not measured: %+v over %v", rw.nodes, rw.cpu, rw.wall)
		}
	}
	if err := r.lowestRateClean(); err != nil {
		t.Error(err)
	}
	// A node that cannot start ends the run with an error, everything
	// started stopped.
	bad := o
	bad.dtmfgw = "/bin/false"
	if _, err := runRow(ctx, bad, 3, 5, t.TempDir(), io.Discard); err == nil || !strings.Contains(err.Error(), "node-1 exited while starting") {
		t.Errorf("a row whose first node cannot start: %v", err)
	}
	md := r.markdown()
	for _, want := range []string{
		"# Cluster load benchmark",
		"| 1 | ≥ 5 calls/s (the highest run) |",
		"| 3 | ≥ 5 calls/s (the highest run) |",
		"3 nodes / 1 node, highest rate with no failed call: 1.00, a floor only",
		"| 5 | 1 | 1 of 1 |",
		"| 5 | 3 | 1 of 1 |",
		"| 1 | 1 | 5 | 10 | 10 / 10 | 0 |",
		"| 2 | 3 | 5 | 10 | 10 / 10 | 0 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the report lacks %q:\n%s", want, md)
		}
	}
}

//go:build linux

package main

// CPU time from /proc: of the nodes, of Kamailio's and PostgreSQL's
// process trees, of the SIPp processes this one reaped, and of the whole
// machine.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// tick is 1/USER_HZ, the unit of /proc's CPU times (100 Hz on Linux).
const tick = 10 * time.Millisecond

// proc is one process's line of /proc/PID/stat.
type proc struct {
	pid, ppid int
	comm      string
	// cpu is its user+system time and that of the children it has
	// waited for (utime, stime, cutime, cstime).
	cpu time.Duration
}

// parseStat reads the text of /proc/PID/stat.
func parseStat(s string) (proc, error) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return proc{}, errors.New("unexpected /proc stat line")
	}
	var p proc
	var err error
	if p.pid, err = strconv.Atoi(strings.TrimSpace(s[:open])); err != nil {
		return proc{}, err
	}
	p.comm = s[open+1 : end]
	f := strings.Fields(s[end+1:])
	// f[0] is field 3 (state): ppid is field 4, utime…cstime 14–17.
	if len(f) < 15 {
		return proc{}, errors.New("short /proc stat line")
	}
	if p.ppid, err = strconv.Atoi(f[1]); err != nil {
		return proc{}, err
	}
	for _, k := range f[11:15] {
		n, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return proc{}, err
		}
		p.cpu += time.Duration(n) * tick
	}
	return p, nil
}

// scanProcs reads every process's stat line; processes that end while it
// reads are left out.
func scanProcs() (map[int]proc, error) {
	paths, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, err
	}
	procs := make(map[int]proc, len(paths))
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if p, err := parseStat(string(b)); err == nil {
			procs[p.pid] = p
		}
	}
	if len(procs) == 0 {
		return nil, errors.New("no process readable in /proc")
	}
	return procs, nil
}

// treeCPU is the CPU time of root and its live descendants, each with the
// children it has reaped: every process of the tree counted once.
func treeCPU(procs map[int]proc, root int) time.Duration {
	children := map[int][]int{}
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	var sum time.Duration
	stack := []int{root}
	for len(stack) > 0 {
		pid := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if p, ok := procs[pid]; ok {
			sum += p.cpu
			stack = append(stack, children[pid]...)
		}
	}
	return sum
}

// postmaster returns the PostgreSQL server pgtest started: this
// process's child named postgres, or 0.
func postmaster(procs map[int]proc) int {
	self := os.Getpid()
	for _, p := range procs {
		if p.ppid == self && p.comm == "postgres" {
			return p.pid
		}
	}
	return 0
}

// cpuUse is CPU time by party.
type cpuUse struct {
	nodes, kamailio, postgres, sipp time.Duration
	// machine is the time the machine's CPUs were not idle, all CPUs:
	// in a snapshot, the idle time so far and when it was read; after
	// sub, the busy time between two snapshots.
	machine time.Duration
	at      time.Time
	cpus    int
}

// sub returns the CPU time between b and a. The machine's busy time is
// its CPUs' time less their idle time: the kernel measures idle periods
// exactly, whereas it samples busy time at its tick, and a load woken by
// timers (RTP every 20 ms) runs between ticks often enough to be missed.
func (a cpuUse) sub(b cpuUse) cpuUse {
	return cpuUse{nodes: a.nodes - b.nodes, kamailio: a.kamailio - b.kamailio, postgres: a.postgres - b.postgres,
		sipp: a.sipp - b.sipp, machine: time.Duration(a.cpus)*a.at.Sub(b.at) - (a.machine - b.machine)}
}

// snapshot reads the CPU time so far of the nodes (pids), Kamailio's
// process group (kamailio, its workers forked from it), PostgreSQL's
// server and backends, the children this process has reaped (the SIPp
// runs: the nodes, Kamailio and PostgreSQL are reaped only after a row),
// and the machine's idle time.
func snapshot(nodes []int, kamailio int) (cpuUse, error) {
	procs, err := scanProcs()
	if err != nil {
		return cpuUse{}, err
	}
	var u cpuUse
	for _, pid := range nodes {
		if _, ok := procs[pid]; !ok {
			return cpuUse{}, fmt.Errorf("node process %d is gone", pid)
		}
		u.nodes += treeCPU(procs, pid)
	}
	u.kamailio = treeCPU(procs, kamailio)
	if pm := postmaster(procs); pm != 0 {
		u.postgres = treeCPU(procs, pm)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		return cpuUse{}, err
	}
	u.sipp = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuUse{}, err
	}
	u.at = time.Now()
	if u.machine, u.cpus, err = parseProcStat(string(b)); err != nil {
		return cpuUse{}, err
	}
	return u, nil
}

// parseProcStat reads the idle time so far of all CPUs from the text of
// /proc/stat: idle, iowait and steal (the hypervisor's) of the "cpu" line
// (proc(5)), and counts the CPUs (the "cpuN" lines).
func parseProcStat(text string) (idle time.Duration, cpus int, err error) {
	first := true
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			cpus++
			continue
		}
		if !first || len(f) < 9 {
			return 0, 0, fmt.Errorf("unexpected /proc/stat line %q", strings.TrimSpace(line))
		}
		first = false
		for _, i := range []int{4, 5, 8} { // idle, iowait, steal
			n, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return 0, 0, err
			}
			idle += time.Duration(n) * tick
		}
	}
	if first || cpus == 0 {
		return 0, 0, errors.New("no cpu lines in /proc/stat")
	}
	return idle, cpus, nil
}

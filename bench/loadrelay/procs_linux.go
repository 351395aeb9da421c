package main

// The processes the benchmark starts, and what it reads about them and
// the machine from /proc.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"dtmfgw/bench/internal/benchkit"
)

// live holds what must not outlive the benchmark: the processes it
// started (killed) and their temporary directories (removed), whatever
// ends it: a normal stop, an error, or a signal.
var live struct {
	sync.Mutex
	procs    map[*os.Process]string
	cleanups map[*string]func()
}

// track registers a started process; the returned func unregisters it
// once it has been waited for.
func track(p *os.Process, what string) func() {
	live.Lock()
	defer live.Unlock()
	if live.procs == nil {
		live.procs = map[*os.Process]string{}
	}
	live.procs[p] = what
	return func() {
		live.Lock()
		delete(live.procs, p)
		live.Unlock()
	}
}

// atExit registers a cleanup to run on a signal if it has not run
// before; the returned func runs it (once) and unregisters it.
func atExit(f func()) func() {
	live.Lock()
	defer live.Unlock()
	if live.cleanups == nil {
		live.cleanups = map[*string]func(){}
	}
	key := new(string)
	var once sync.Once
	run := func() { once.Do(f) }
	live.cleanups[key] = run
	return func() {
		live.Lock()
		delete(live.cleanups, key)
		live.Unlock()
		run()
	}
}

// killAll kills every tracked process and runs every cleanup.
func killAll() {
	live.Lock()
	procs := live.procs
	cleanups := live.cleanups
	live.procs, live.cleanups = nil, nil
	live.Unlock()
	for p := range procs {
		_ = p.Kill()
	}
	for _, f := range cleanups {
		f()
	}
}

// onSignals makes SIGINT, SIGTERM and SIGHUP kill every process the
// benchmark started before it exits. The children are also started with
// a parent-death signal (SIGKILL), for the case this process is killed
// outright.
func onSignals() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-ch
		fmt.Fprintf(os.Stderr, "loadrelay: %v: stopping every process started\n", s)
		killAll()
		os.Exit(130)
	}()
}

// command builds the command for a relaying process, under taskset -c
// cpus when cpus is set (taskset execs the program: the PID is the
// program's), killed if this process dies.
func command(cpus, name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if cpus != "" {
		cmd = exec.Command("taskset", append([]string{"-c", cpus, name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// process is a started relaying process that is not this program: its
// exit is watched, its stderr goes to a file whose tail an error shows.
type process struct {
	name    string
	cmd     *exec.Cmd
	exited  chan struct{}
	err     error // once exited is closed
	logPath string
	untrack func()
}

// startProcess starts cmd, its stderr and stdout into logPath.
func startProcess(name string, cmd *exec.Cmd, logPath string) (*process, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, exited: make(chan struct{}), logPath: logPath}
	p.untrack = track(cmd.Process, name)
	go func() {
		p.err = cmd.Wait()
		f.Close()
		p.untrack()
		close(p.exited)
	}()
	return p, nil
}

// adopt makes p the child's relaying process: its pid is measured, and
// stopping the child stops p, then calls cleanup (its directory, say).
func (c *child) adopt(p *process, cleanup func()) {
	c.pid = p.cmd.Process.Pid
	c.stopProcess = func() error {
		err := p.stop(childStopTimeout)
		cleanup()
		return err
	}
}

// running returns an error if the process has exited.
func (p *process) running() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited: %v%s", p.name, p.err, p.logTail())
	default:
		return nil
	}
}

// stop sends SIGTERM and waits up to grace, then kills.
func (p *process) stop(grace time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
		var ee *exec.ExitError
		if p.err != nil && !(errors.As(p.err, &ee) && !ee.Exited()) {
			// Killed by our SIGTERM is how it should end; a non-zero exit
			// code is worth telling.
			return fmt.Errorf("%s: %v%s%s", p.name, p.err, p.keepLog(), p.logTail())
		}
		return nil
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within %v of SIGTERM; killed%s%s", p.name, grace, p.keepLog(), p.logTail())
	}
}

// keepLog copies the process's log out of its temporary directory (which
// goes when it stops) for a look after the run, and says where.
func (p *process) keepLog() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	f, err := os.CreateTemp("", "loadrelay-"+strings.ReplaceAll(p.name, " ", "-")+"-*.log")
	if err != nil {
		return ""
	}
	_, err = f.Write(b)
	if err = errors.Join(err, f.Close()); err != nil {
		return ""
	}
	return " (its log kept in " + f.Name() + ")"
}

// logTail returns the last lines of the process's log, for an error.
func (p *process) logTail() string { return benchkit.LogTail(p.logPath, p.name, 15) }

// waitFor polls ready every 50 ms until it returns nil, the process exits
// or timeout passes.
func (p *process) waitFor(timeout time.Duration, what string, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		if err := p.running(); err != nil {
			return err
		}
		if last = ready(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: %s not within %v: %v%s", p.name, what, timeout, last, p.logTail())
}

// udpDrops returns, summed over the loopback UDP sockets bound to ports,
// the datagrams the kernel dropped because their receive buffer was full
// (the last column of /proc/net/udp), and how many of the ports it found.
func udpDrops(ports map[uint16]bool) (drops int64, found int, err error) {
	f, err := os.Open("/proc/net/udp")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	return parseUDPDrops(f, ports)
}

// parseUDPDrops is udpDrops on the text of /proc/net/udp.
func parseUDPDrops(r io.Reader, ports map[uint16]bool) (drops int64, found int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue // the header
		}
		f := strings.Fields(sc.Text())
		if len(f) < 13 {
			continue
		}
		_, port, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		p, err := strconv.ParseUint(port, 16, 16)
		if err != nil || !ports[uint16(p)] {
			continue
		}
		n, err := strconv.ParseInt(f[len(f)-1], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/net/udp drops %q: %w", f[len(f)-1], err)
		}
		drops += n
		found++
	}
	return drops, found, sc.Err()
}

// machine describes the machine for a report.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "unknown"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d CPUs visible; Linux %s; Go %s %s/%s", model, runtime.NumCPU(), kernel, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

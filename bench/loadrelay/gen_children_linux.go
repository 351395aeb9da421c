package main

// The relay processes under load: started, read for their ports, measured
// for CPU, stopped.

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"dtmfgw/media/mask"
)

// child is a relaying child process and the generator's two sockets
// facing it: one sends every call's caller stream and receives what the
// child relays toward the callers, the other the same for the agents.
type child struct {
	callerConn, agentConn *net.UDPConn
	// rtcpSinks hold the ports after the generator's sockets (RTP port
	// + 1, RFC 3550 §11), where a relay that sends RTCP sends it, so
	// that no other socket of ours receives it as media.
	rtcpSinks []*net.UDPConn
	legs      []relayPorts
	pid       int
	res       *result
	// lookAhead is how long the child delays the caller→agent audio by
	// design (a masking relay's look-ahead): the receiver finds stamps
	// shifted by it and times them from the packet that released them.
	lookAhead time.Duration
	// finish, if set, ends the calls (SIP BYE, ng delete) before the
	// process is stopped.
	finish      func() error
	stopProcess func() error
}

// startChild starts the child for cfg, to relay for at most life, and
// waits until it is ready: this program itself for the in-process modes,
// dtmfgw serve or rtpengine for the end-to-end ones.
func startChild(cfg runConfig, life time.Duration) (_ *child, err error) {
	c := &child{res: &result{runConfig: cfg, Up: new(direction), Down: new(direction)}}
	defer func() {
		if err != nil {
			c.closeConns()
		}
	}()
	if c.callerConn, err = c.listenGen(); err != nil {
		return nil, err
	}
	if c.agentConn, err = c.listenGen(); err != nil {
		return nil, err
	}
	switch baseMode(cfg.Mode) {
	case modeServe, modeServeBase:
		err = startServe(c, cfg)
	case modeRTPEngine, modeRTPEngineDTMF:
		err = startRTPEngine(c, cfg)
	default:
		err = startSelf(c, cfg, life)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// startSelf starts this program as the relaying child for the in-process
// modes.
func startSelf(c *child, cfg runConfig, life time.Duration) error {
	if m := baseMode(cfg.Mode); m == modeRelayMask || m == modeMaskReactor {
		c.lookAhead = mask.DefaultLookAhead
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := command(cfg.CPUs, self, "-mode", baseMode(cfg.Mode), "-calls", strconv.Itoa(cfg.Calls),
		"-caller", c.callerConn.LocalAddr().String(), "-agent", c.agentConn.LocalAddr().String(),
		"-batch", strconv.Itoa(cfg.Batch), "-coalesce", cfg.Coalesce.String(), "-reactors-per-cpu", strconv.Itoa(max(cfg.PerCPU, 1)), "-ports", cfg.Ports, "-cpuprofile", cfg.Profile,
		"-life", (life + childStartTimeout + time.Minute).String())
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	untrack := track(cmd.Process, cfg.Mode+" child")
	c.pid = cmd.Process.Pid
	exited := make(chan error, 1)
	c.stopProcess = func() error {
		stdin.Close()
		t := time.NewTimer(childStopTimeout)
		defer t.Stop()
		select {
		case err := <-exited:
			return err
		case <-t.C:
			_ = cmd.Process.Kill()
			return fmt.Errorf("%s child did not exit in %v; killed", cfg.Mode, childStopTimeout)
		}
	}
	legs, err := readPorts(stdout, cfg.Calls)
	go func() { exited <- cmd.Wait(); untrack() }()
	if err != nil {
		return errors.Join(err, c.stopProcess())
	}
	c.legs = legs
	return nil
}

// stop ends the calls and the child process and closes the generator's
// sockets.
func (c *child) stop() error {
	var err error
	if c.finish != nil {
		err = c.finish()
	}
	err = errors.Join(err, c.stopProcess())
	c.closeConns()
	return err
}

func (c *child) closeConns() {
	for _, conn := range append([]*net.UDPConn{c.callerConn, c.agentConn}, c.rtcpSinks...) {
		if conn != nil {
			conn.Close()
		}
	}
}

// listenGen opens a generator socket on an even loopback port whose next
// port it holds too (kept in rtcpSinks, never read).
func (c *child) listenGen() (*net.UDPConn, error) {
	for range 200 {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		port := conn.LocalAddr().(*net.UDPAddr).Port
		if port%2 != 0 || port == 65535 {
			conn.Close()
			continue
		}
		sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port + 1})
		if err != nil {
			conn.Close()
			continue
		}
		c.rtcpSinks = append(c.rtcpSinks, sink)
		// A thousand calls' packets can arrive between two of our reads.
		c.res.GenRcvBuf = setBuffers(conn)
		return conn, nil
	}
	return nil, errors.New("no even loopback port with a free next port in 200 tries")
}

// relayPorts are one call's two addresses on the relaying process.
type relayPorts struct{ caller, agent netip.AddrPort }

// readPorts reads the child's "call I CALLERPORT AGENTPORT" lines up to
// "ready", within childStartTimeout.
func readPorts(r interface{ Read([]byte) (int, error) }, calls int) ([]relayPorts, error) {
	type out struct {
		legs []relayPorts
		err  error
	}
	ch := make(chan out, 1)
	go func() {
		legs := make([]relayPorts, 0, calls)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 1 && f[0] == "ready" {
				if len(legs) != calls {
					ch <- out{err: fmt.Errorf("child set up %d calls, want %d", len(legs), calls)}
				} else {
					ch <- out{legs: legs}
				}
				return
			}
			if len(f) != 4 || f[0] != "call" || len(legs) >= calls {
				ch <- out{err: fmt.Errorf("child said %q", sc.Text())}
				return
			}
			c, err1 := strconv.ParseUint(f[2], 10, 16)
			a, err2 := strconv.ParseUint(f[3], 10, 16)
			if err := errors.Join(err1, err2); err != nil {
				ch <- out{err: err}
				return
			}
			lo := netip.MustParseAddr("127.0.0.1")
			legs = append(legs, relayPorts{netip.AddrPortFrom(lo, uint16(c)), netip.AddrPortFrom(lo, uint16(a))})
		}
		ch <- out{err: fmt.Errorf("child stopped before it was ready: %v", sc.Err())}
	}()
	t := time.NewTimer(childStartTimeout)
	defer t.Stop()
	select {
	case o := <-ch:
		return o.legs, o.err
	case <-t.C:
		return nil, fmt.Errorf("child not ready within %v", childStartTimeout)
	}
}

// procCPU returns the user+system CPU time of process pid, all threads,
// from /proc/PID/stat (fields 14 and 15, in clock ticks; USER_HZ is 100 on
// Linux).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const tick = 10 * time.Millisecond // 1/USER_HZ
	return time.Duration(ut+st) * tick, nil
}

// stealTime returns the machine's steal time so far, all CPUs: the
// eighth figure of /proc/stat's "cpu" line (proc(5)), in clock ticks.
func stealTime() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("unexpected /proc/stat line %q", line)
	}
	ticks, err := strconv.ParseInt(f[8], 10, 64)
	if err != nil {
		return 0, err
	}
	const tick = 10 * time.Millisecond // 1/USER_HZ
	return time.Duration(ticks) * tick, nil
}

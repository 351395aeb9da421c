package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/media"
)

// Pacing: a call's packets go out every packetGap; the calls are spread
// over paceSlots slots of packetGap/paceSlots each, so that the load
// arrives as an even stream, not as one burst per packet interval.
const (
	paceSlots = 20
	slotGap   = packetGap / paceSlots
	// drainQuiet and drainMax: after the generator stopped sending, the
	// receivers go on until nothing has arrived for drainQuiet, at most
	// drainMax, so that a relay slowed by a busy machine is not counted
	// as losing what it still had queued.
	drainQuiet = time.Second
	drainMax   = 10 * time.Second
	// childStartTimeout bounds the child's set-up (1000 calls: 2000 legs).
	childStartTimeout = 30 * time.Second
	// childStopTimeout bounds the child's exit after its stdin closed.
	childStopTimeout = 10 * time.Second
	// histBuckets: latency histogram in 1 µs buckets up to 100 ms; slower
	// packets land in the last bucket.
	histBuckets = 100_000
)

// runConfig is one measured run.
type runConfig struct {
	Mode     string // modeReference, modeRelay or modeRelayMask
	Calls    int
	Warmup   time.Duration
	Measure  time.Duration
	Batch    int           // the relay legs' BatchRead
	Coalesce time.Duration // the reactors' Coalesce
	PerCPU   int           // reactors per CPU (reactor modes)
	Round    int           // which repetition of the whole set of runs, from 1
	Ports    string        // the relay's port range, "min-max"
	Profile  string        // the child's CPU profile file, if any
}

// direction is what one generator socket received: one direction of all
// calls.
type direction struct {
	received     int64 // whole run
	inWindow     int64 // received during the measurement window
	timed        int64 // stamped packets timed during the window
	eventPackets int64 // telephone-event packets received (whole run)
	hist         [histBuckets]uint32
	// sends are the caller streams' send logs (up only): a delayed stamp
	// is timed from the actual send of the packet it left with.
	sends []sendLog
	// slip counts, for the delayed stamps, how much later than its
	// schedule the generator sent the packet a stamp left with (1 µs
	// buckets): time a nominal reckoning would have charged to the relay.
	slip      [histBuckets]uint32
	slipTimed int64
}

func (d *direction) percentile(p float64) time.Duration {
	return percentile(&d.hist, d.timed, p)
}

// slipPercentile is percentile for the generator's send slip.
func (d *direction) slipPercentile(p float64) time.Duration {
	return percentile(&d.slip, d.slipTimed, p)
}

func percentile(hist *[histBuckets]uint32, timed int64, p float64) time.Duration {
	if timed == 0 {
		return 0
	}
	want := int64(p*float64(timed-1)) + 1
	var seen int64
	for i, n := range hist {
		seen += int64(n)
		if seen >= want {
			return time.Duration(i) * time.Microsecond
		}
	}
	return histBuckets * time.Microsecond
}

// result is one run's figures.
type result struct {
	runConfig
	WindowPackets int64 // relayed packets received in the window, both directions
	ChildCPU      time.Duration
	GenCPU        time.Duration
	SentUp        int64 // caller→agent packets sent
	SentDown      int64
	LateSlots     int64  // pacing slots skipped because the generator fell behind
	LoadAvg       string // /proc/loadavg's 1-minute figure at the window's end: other work on the machine
	Up, Down      *direction
}

// CPUPerPacket is the relaying process's CPU time per relayed packet.
func (r *result) CPUPerPacket() time.Duration {
	if r.WindowPackets == 0 {
		return 0
	}
	return r.ChildCPU / time.Duration(r.WindowPackets)
}

func listenGen() (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	// A thousand calls' packets can arrive between two of our reads.
	_ = c.SetReadBuffer(8 << 20)
	_ = c.SetWriteBuffer(4 << 20)
	return c, nil
}

// run starts the child relaying process, drives cfg.Calls calls through
// it and measures.
func run(cfg runConfig) (*result, error) {
	callerConn, err := listenGen()
	if err != nil {
		return nil, err
	}
	defer callerConn.Close()
	agentConn, err := listenGen()
	if err != nil {
		return nil, err
	}
	defer agentConn.Close()

	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-mode", cfg.Mode, "-calls", strconv.Itoa(cfg.Calls),
		"-caller", callerConn.LocalAddr().String(), "-agent", agentConn.LocalAddr().String(),
		"-batch", strconv.Itoa(cfg.Batch), "-coalesce", cfg.Coalesce.String(), "-reactors-per-cpu", strconv.Itoa(max(cfg.PerCPU, 1)), "-ports", cfg.Ports, "-cpuprofile", cfg.Profile,
		"-life", (cfg.Warmup + cfg.Measure + childStartTimeout + time.Minute).String())
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	stopChild := func() error {
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
	go func() { exited <- cmd.Wait() }()
	if err != nil {
		return nil, errors.Join(err, stopChild())
	}
	res := &result{runConfig: cfg, Up: new(direction), Down: new(direction)}
	if err := drive(cfg, res, callerConn, agentConn, legs, cmd.Process.Pid); err != nil {
		return nil, errors.Join(err, stopChild())
	}
	if err := stopChild(); err != nil {
		return nil, err
	}
	return res, nil
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

// drive sends both directions of every call, paced, for warmup+measure,
// receives and times what comes back, and samples the CPU of the child
// and of this process at the window's ends.
func drive(cfg runConfig, res *result, callerConn, agentConn *net.UDPConn, legs []relayPorts, pid int) error {
	start := time.Now()
	winStart := cfg.Warmup
	winEnd := cfg.Warmup + cfg.Measure
	stopAt := start.Add(winEnd + drainMax)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	res.Up.sends = make([]sendLog, len(legs))
	delay := 0 // look-ahead, in samples, of the caller→agent audio
	if cfg.Mode == modeRelayMask || cfg.Mode == modeMaskReactor {
		delay = int(media.DefaultLookAhead / (time.Second / dtmf.SampleRate))
	}
	for _, rx := range []struct {
		conn  *net.UDPConn
		d     *direction
		delay int
	}{{agentConn, res.Up, delay}, {callerConn, res.Down, 0}} {
		if err := rx.conn.SetReadDeadline(stopAt); err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := receive(rx.conn, rx.d, rx.delay, start, winStart, winEnd); err != nil {
				errs <- err
			}
		}()
	}
	// CPU samples at the window's ends, off the sending goroutine.
	var cpuErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTimer(time.Until(start.Add(winStart)))
		defer t.Stop()
		<-t.C
		c0, e1 := procCPU(pid)
		g0, e2 := procCPU(os.Getpid())
		t.Reset(time.Until(start.Add(winEnd)))
		<-t.C
		c1, e3 := procCPU(pid)
		g1, e4 := procCPU(os.Getpid())
		if b, err := os.ReadFile("/proc/loadavg"); err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				res.LoadAvg = f[0]
			}
		}
		cpuErr = errors.Join(e1, e2, e3, e4)
		res.ChildCPU, res.GenCPU = c1-c0, g1-g0
	}()
	sendErr := send(res, callerConn, agentConn, legs, start, winEnd)
	waitQuiet(res, stopAt)
	for _, c := range []*net.UDPConn{callerConn, agentConn} {
		_ = c.SetReadDeadline(time.Now()) // ends the receivers
	}
	wg.Wait()
	close(errs)
	var recvErr error
	for e := range errs {
		recvErr = errors.Join(recvErr, e)
	}
	res.WindowPackets = res.Up.inWindow + res.Down.inWindow
	return errors.Join(sendErr, recvErr, cpuErr)
}

// waitQuiet returns once no packet has arrived for drainQuiet, or at
// stopAt. It reads the receivers' counters without a lock: a stale read
// only makes it wait one more round.
func waitQuiet(res *result, stopAt time.Time) {
	const step = 50 * time.Millisecond
	t := time.NewTicker(step)
	defer t.Stop()
	last, quiet := int64(-1), time.Duration(0)
	for time.Now().Before(stopAt) && quiet < drainQuiet {
		<-t.C
		n := atomicLoad(&res.Up.received) + atomicLoad(&res.Down.received)
		if n == last {
			quiet += step
		} else {
			last, quiet = n, 0
		}
	}
}

// send paces every call's two streams until stop (since start).
func send(res *result, callerConn, agentConn *net.UDPConn, legs []relayPorts, start time.Time, stop time.Duration) error {
	calls := len(legs)
	perSlot := (calls + paceSlots - 1) / paceSlots
	up, err := newBatch(callerConn, perSlot)
	if err != nil {
		return err
	}
	down, err := newBatch(agentConn, perSlot)
	if err != nil {
		return err
	}
	upStreams := make([]stream, calls)
	downStreams := make([]stream, calls)
	for i := range calls {
		upStreams[i] = newStream(i, false)
		if i < len(res.Up.sends) {
			upStreams[i].sends = &res.Up.sends[i]
		}
		downStreams[i] = newStream(i, true)
	}
	tones := renderTones()
	lens := make([]int, perSlot)
	ticker := time.NewTicker(slotGap)
	defer ticker.Stop()
	next := 0
	maxSlots := int(stop/slotGap) + 1
	for range maxSlots + 1 {
		el := time.Since(start)
		if el >= stop {
			return nil
		}
		due := int(el / slotGap)
		if due-next > paceSlots {
			// More than a whole packet interval behind: skip, and say so.
			res.LateSlots += int64(due - next - paceSlots)
			next = due - paceSlots
		}
		for ; next <= due; next++ {
			slot := next % paceSlots
			for _, dir := range []struct {
				b       *batch
				streams []stream
				up      bool
			}{{up, upStreams, true}, {down, downStreams, false}} {
				now := int64(time.Since(start))
				n := 0
				for c := slot; c < calls; c += paceSlots {
					lens[n] = dir.streams[c].next(dir.b.bufs[n], tones, now)
					to := legs[c].agent
					if dir.up {
						to = legs[c].caller
					}
					dir.b.setDest(n, to)
					n++
				}
				if n == 0 {
					continue
				}
				if err := dir.b.send(n, lens); err != nil {
					return err
				}
				if dir.up {
					res.SentUp += int64(n)
				} else {
					res.SentDown += int64(n)
				}
			}
		}
		<-ticker.C
	}
	return nil
}

// receive reads one direction until the socket's deadline and times the
// stamped packets.
func receive(conn *net.UDPConn, d *direction, delay int, start time.Time, winStart, winEnd time.Duration) error {
	b, err := newBatch(conn, 64)
	if err != nil {
		return err
	}
	for {
		n, err := b.recv()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil
			}
			return err
		}
		now := time.Since(start)
		in := now >= winStart && now < winEnd
		for i := range n {
			pkt := b.datagram(i)
			atomic.AddInt64(&d.received, 1)
			if len(pkt) >= 2 && pkt[1]&0x7F == eventPT {
				d.eventPackets++
			}
			if !in {
				continue
			}
			d.inWindow++
			if st, ok := stamp(pkt, delay); ok {
				sent := d.releasedAt(st)
				us := (int64(now) - sent) / int64(time.Microsecond)
				d.hist[min(max(us, 0), histBuckets-1)]++
				d.timed++
			}
		}
	}
}

// releasedAt returns when the packet that a stamp's copy left with was
// sent: the stamped packet's own send, or, with a look-ahead (later > 0),
// the send of the audio packet whose arrival released it. Look-ahead
// excluded means exactly that: the pipeline sends one packet per packet
// in, so what a later packet's arrival releases is not late by the
// look-ahead, and whatever the generator's own pacing slips by (its
// ticker wakes late on a busy machine) is not the relay's. When the log
// no longer holds that send, the schedule stands in for it (it can only
// charge the relay more, never less).
func (d *direction) releasedAt(st stampInfo) int64 {
	nominal := st.sentNS + int64(st.later)*int64(packetGap)
	if st.later == 0 || int(st.call) >= len(d.sends) || st.later >= sendLogLen {
		return nominal
	}
	sent := d.sends[st.call][(st.index+uint16(st.later))%sendLogLen].Load()
	if sent < nominal-int64(packetGap)/2 || sent > nominal+sendLogLen/2*int64(packetGap) {
		return nominal // overwritten or not yet written: not that packet
	}
	if sent-nominal < int64(packetGap) { // no events paused the audio between
		us := (sent - nominal) / int64(time.Microsecond)
		d.slip[max(us, 0)]++
		d.slipTimed++
	}
	return sent
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

func atomicLoad(p *int64) int64 { return atomic.LoadInt64(p) }

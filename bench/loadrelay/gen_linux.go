package main

import (
	"cmp"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"dtmfgw/dtmf"
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
	// CPUs, if set, runs the relaying process under taskset -c CPUs.
	CPUs string
	// The end-to-end modes: the dtmfgw binary, the rtpengine binary and
	// rtpengine-dtmf's delay buffer, the calls set up per second, and
	// the bound on each call's set-up.
	Dtmfgw      string
	RTPEngine   string
	DelayBuffer time.Duration
	// StopRelay, if positive, is how long the relaying process is
	// stopped (SIGSTOP) in the middle of each measured window (stopRelays).
	StopRelay    time.Duration
	SetupRate    int
	SetupTimeout time.Duration
}

// direction is what one generator socket received: one direction of all
// calls.
type direction struct {
	received     int64 // RTP audio and event packets, whole run
	inWindow     int64 // of these, received during the measurement window
	other        int64 // datagrams neither (RTCP a relay sent to the wrong port, say)
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
	// windows, if not nil, holds a coarse histogram of the timed packets
	// of each measured window (windowBucket wide), by window: to compare
	// modes window by window.
	windows [][windowBuckets]uint32
	// WindowP99s are the windows' p99s, from windows once the run is over.
	WindowP99s []time.Duration

	// sent is what the generator sent this way; seen marks, by call and
	// audio index, the stamps that arrived (bitsets sized as sent.clean).
	sent *sentCounts
	seen [][]uint64
	// frames counts the audio packets received by what they carried
	// (frameKind).
	frames [4]int64
	// Lost and Clean: of the stamped packets sent away from any press
	// (all but a stream's last tailGuard), how many never arrived; set
	// once the run is over.
	Lost, Clean int64
}

// pauseGuard: the last packets a stream sends before it pauses (its
// mode's turn ends, or the run) are left out of its loss: a look-ahead
// holds them until the stream's next packet, and a masking pipeline
// drops held audio that the stream's next packets come too late for (a
// pause no real call has).
const pauseGuard = 3

// markSeen records that a stamp arrived.
func (d *direction) markSeen(st stampInfo) {
	if int(st.call) >= len(d.seen) {
		return
	}
	if w := int(st.index) / 64; w < len(d.seen[st.call]) {
		d.seen[st.call][w] |= 1 << (st.index % 64)
	}
}

// countLoss sets Lost and Clean from the bitsets.
func (d *direction) countLoss() {
	if d.sent == nil {
		return
	}
	d.Lost, d.Clean = 0, 0
	for call, clean := range d.sent.clean {
		for w, bits := range clean {
			var seen uint64
			if call < len(d.seen) && w < len(d.seen[call]) {
				seen = d.seen[call][w]
			}
			d.Clean += int64(bitCount(bits))
			d.Lost += int64(bitCount(bits &^ seen))
		}
	}
}

func bitCount(x uint64) int { return bits.OnesCount64(x) }

// loss is the share of clean stamped packets that never arrived.
func (d *direction) loss() float64 {
	if d.Clean == 0 {
		return 0
	}
	return float64(d.Lost) / float64(d.Clean)
}

// replaced is the share of the audio packets received that carried
// neither the audio sent (a stamp with the noise around it) nor an
// in-band tone frame sent.
func (d *direction) replaced() float64 {
	n := d.frames[frameIntact] + d.frames[frameChanged] + d.frames[frameTone] + d.frames[frameReplaced]
	if n == 0 {
		return 0
	}
	return float64(d.frames[frameChanged]+d.frames[frameReplaced]) / float64(n)
}

// A window's histogram: 10 µs buckets up to 100 ms, small enough to keep
// one per window.
const (
	windowBucket  = 10 * time.Microsecond
	windowBuckets = 10_000
)

// windowP99s returns the p99 of each window's histogram.
func (d *direction) windowP99s() []time.Duration {
	out := make([]time.Duration, len(d.windows))
	for i := range d.windows {
		var timed int64
		for _, n := range d.windows[i] {
			timed += int64(n)
		}
		out[i] = percentile(d.windows[i][:], timed, 0.99, windowBucket)
	}
	return out
}

func (d *direction) percentile(p float64) time.Duration {
	return percentile(d.hist[:], d.timed, p, time.Microsecond)
}

// slipPercentile is percentile for the generator's send slip.
func (d *direction) slipPercentile(p float64) time.Duration {
	return percentile(d.slip[:], d.slipTimed, p, time.Microsecond)
}

// percentile returns the p-quantile of the timed values counted in hist,
// whose buckets are bucket wide; 0 for none.
func percentile(hist []uint32, timed int64, p float64, bucket time.Duration) time.Duration {
	if timed == 0 {
		return 0
	}
	want := int64(p*float64(timed-1)) + 1
	var seen int64
	for i, n := range hist {
		seen += int64(n)
		if seen >= want {
			return time.Duration(i) * bucket
		}
	}
	return time.Duration(len(hist)) * bucket
}

// result is one run's figures.
type result struct {
	runConfig
	WindowPackets int64 // relayed packets received in the window, both directions
	ChildCPU      time.Duration
	GenCPU        time.Duration
	SentUp        int64 // caller→agent packets sent
	SentDown      int64
	LateSlots     int64         // pacing slots skipped because the generator fell behind
	Driven        time.Duration // how long the generator drove this child: its turns, warm-up included
	LoadAvg       string        // /proc/loadavg's 1-minute figure at the window's end: other work on the machine
	Steal         time.Duration // the machine's steal time over the windows, all CPUs: time the host gave our vCPUs to others
	Up, Down      *direction
	// GenDrops and RelayDrops: datagrams the kernel dropped, whole run,
	// at the generator's two sockets and at the relay's sockets facing
	// it (a full receive buffer: /proc/net/udp); RelaySockets is how
	// many of the relay's sockets were found there. GenRcvBuf is the
	// generator sockets' receive buffer, as the kernel reports it.
	GenDrops, RelayDrops int64
	RelaySockets         int
	GenRcvBuf            int
	// LookAhead is the caller→agent delay the relay adds by design.
	LookAhead time.Duration
	// Counters are the relay's own figures, read at the end (dtmfgw's
	// /metrics), as "name value" pairs for the report.
	Counters []string
	// StopIssue is how an end-to-end relay failed to stop cleanly.
	StopIssue string
}

// CPUPerPacket is the relaying process's CPU time per relayed packet.
func (r *result) CPUPerPacket() time.Duration {
	if r.WindowPackets == 0 {
		return 0
	}
	return r.ChildCPU / time.Duration(r.WindowPackets)
}

// genBuffer is the receive buffer the generator asks for: a thousand
// calls' packets can arrive between two of its reads.
const genBuffer = 8 << 20

// setBuffers sizes a generator socket's buffers and returns the receive
// buffer the kernel granted (SO_RCVBUF, which Linux reports doubled for
// its bookkeeping). As root SO_RCVBUFFORCE passes net.core.rmem_max.
func setBuffers(c *net.UDPConn) int {
	_ = c.SetReadBuffer(genBuffer)
	_ = c.SetWriteBuffer(4 << 20)
	got := 0
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, genBuffer)
			got, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		})
	}
	return got
}

// run starts the child relaying process, drives cfg.Calls calls through
// it for cfg.Warmup and then cfg.Measure, and measures.
func run(cfg runConfig) (*result, error) {
	rs, err := runPlan([]runConfig{cfg}, singlePlan(cfg.Warmup, cfg.Measure))
	if err != nil {
		return nil, err
	}
	return rs[0], nil
}

// runPlan starts one relaying child per configuration (the plan's
// targets, by index), all at once, drives them as the plan says and
// measures each in its own windows.
func runPlan(cfgs []runConfig, p plan) ([]*result, error) {
	var children []*child
	stopAll := func() error {
		var errs error
		for _, c := range children {
			if c != nil {
				errs = errors.Join(errs, c.stop())
			}
		}
		return errs
	}
	// The end-to-end relays start last, dtmfgw the very last: a relay
	// hangs up calls that carry no media for long (dtmfgw after 30 s,
	// rtpengine after 60 s), and setting a thousand calls up over SIP or
	// ng takes seconds.
	children = make([]*child, len(cfgs))
	order := make([]int, len(cfgs))
	for i := range order {
		order[i] = i
	}
	rank := func(mode string) int {
		switch baseMode(mode) {
		case modeServe, modeServeBase:
			return 2
		case modeRTPEngine, modeRTPEngineDTMF:
			return 1
		}
		return 0
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(rank(cfgs[a].Mode), rank(cfgs[b].Mode)) })
	for _, i := range order {
		c, err := startChild(cfgs[i], p.end()+drainMax)
		if err != nil {
			return nil, errors.Join(err, stopAll())
		}
		children[i] = c
	}
	if err := drive(children, p); err != nil {
		return nil, errors.Join(err, stopAll())
	}
	for _, c := range children {
		if err := c.readDrops(); err != nil {
			return nil, errors.Join(err, stopAll())
		}
	}
	// The figures are taken: an end-to-end relay that does not stop
	// cleanly (a BYE lost, a slow drain) is told in the report, not
	// thrown away with them.
	var errs error
	for _, c := range children {
		err := c.stop()
		switch {
		case err == nil:
		case endToEnd(c.res.Mode):
			fmt.Fprintf(os.Stderr, "loadrelay: %s: %v\n", c.res.Mode, err)
			c.res.StopIssue = strings.TrimPrefix(c.res.StopIssue+"; "+err.Error(), "; ")
		default:
			errs = errors.Join(errs, err)
		}
	}
	if errs != nil {
		return nil, errs
	}
	rs := make([]*result, len(children))
	for i, c := range children {
		rs[i] = c.res
	}
	return rs, nil
}

// drive sends both directions of every call of the child the plan has
// active, paced, until the plan's end; receives and times what every child
// relays; and samples the children's CPU, this process's and the
// machine's steal time at the ends of each child's measured windows.
func drive(children []*child, p plan) error {
	start := time.Now()
	stopAt := start.Add(p.end() + drainMax)
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(children)+1)
	tones := renderTones()
	// A stream sends at most one packet per packetGap.
	packets := min(int(p.end()/packetGap)+2, 1<<16)
	for _, tu := range p.turns {
		children[tu.target].res.Driven += tu.to - tu.from
	}
	for i, c := range children {
		c.res.Up.sends = make([]sendLog, len(c.legs))
		c.res.Up.windows = make([][windowBuckets]uint32, len(p.measured[i]))
		c.res.LookAhead = c.lookAhead
		delay := int(c.lookAhead / (time.Second / dtmf.SampleRate)) // look-ahead, in samples, of the caller→agent audio
		for _, d := range []*direction{c.res.Up, c.res.Down} {
			d.sent = newSentCounts(len(c.legs), packets)
			d.seen = make([][]uint64, len(c.legs))
			for j := range d.seen {
				d.seen[j] = make([]uint64, len(d.sent.clean[j]))
			}
		}
		for _, rx := range []struct {
			conn  *net.UDPConn
			d     *direction
			delay int
		}{{c.agentConn, c.res.Up, delay}, {c.callerConn, c.res.Down, 0}} {
			if err := rx.conn.SetReadDeadline(stopAt); err != nil {
				return err
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := receive(rx.conn, rx.d, newAudioChecker(rx.delay, tones), start, p.measured[i]); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := sample(children, p, start); err != nil {
			errs <- err
		}
	}()
	if stopFor := children[0].res.StopRelay; stopFor > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := stopRelays(children, p, start, stopFor); err != nil {
				errs <- err
			}
		}()
	}
	sendErr := send(children, p, start)
	waitQuiet(children, stopAt)
	for _, c := range children {
		for _, conn := range []*net.UDPConn{c.callerConn, c.agentConn} {
			_ = conn.SetReadDeadline(time.Now()) // ends the receivers
		}
	}
	wg.Wait()
	close(errs)
	var recvErr error
	for e := range errs {
		recvErr = errors.Join(recvErr, e)
	}
	for _, c := range children {
		c.res.WindowPackets = c.res.Up.inWindow + c.res.Down.inWindow
		c.res.Up.WindowP99s = c.res.Up.windowP99s()
		c.res.Up.windows = nil
		for _, d := range []*direction{c.res.Up, c.res.Down} {
			d.countLoss()
			d.seen, d.sent.clean = nil, nil
		}
	}
	return errors.Join(sendErr, recvErr)
}

// sample reads, at both ends of every measured window, the CPU time of
// the child it measures and of this process, and the machine's steal
// time, off the sending goroutine, and adds the differences to the
// child's result.
func sample(children []*child, p plan, start time.Time) error {
	type window struct {
		c *child
		span
	}
	var ws []window
	for i, spans := range p.measured {
		for _, s := range spans {
			ws = append(ws, window{children[i], s})
		}
	}
	slices.SortFunc(ws, func(a, b window) int { return cmp.Compare(a.from, b.from) })
	t := time.NewTimer(0)
	defer t.Stop()
	at := func(d time.Duration) {
		t.Reset(time.Until(start.Add(d)))
		<-t.C
	}
	<-t.C
	var errs error
	for _, w := range ws {
		at(w.from)
		c0, e1 := procCPU(w.c.pid)
		g0, e2 := procCPU(os.Getpid())
		s0, e3 := stealTime()
		at(w.to)
		c1, e4 := procCPU(w.c.pid)
		g1, e5 := procCPU(os.Getpid())
		s1, e6 := stealTime()
		if b, err := os.ReadFile("/proc/loadavg"); err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				w.c.res.LoadAvg = f[0]
			}
		}
		if err := errors.Join(e1, e2, e3, e4, e5, e6); err != nil {
			errs = errors.Join(errs, err)
			continue
		}
		w.c.res.ChildCPU += c1 - c0
		w.c.res.GenCPU += g1 - g0
		w.c.res.Steal += s1 - s0
	}
	return errs
}

// waitQuiet returns once no packet has arrived from any child for
// drainQuiet, or at stopAt. It reads the receivers' counters without a
// lock: a stale read only makes it wait one more round.
func waitQuiet(children []*child, stopAt time.Time) {
	const step = 50 * time.Millisecond
	t := time.NewTicker(step)
	defer t.Stop()
	last, quiet := int64(-1), time.Duration(0)
	for time.Now().Before(stopAt) && quiet < drainQuiet {
		<-t.C
		var n int64
		for _, c := range children {
			n += atomicLoad(&c.res.Up.received) + atomicLoad(&c.res.Down.received)
		}
		if n == last {
			quiet += step
		} else {
			last, quiet = n, 0
		}
	}
}

// sender is the generator's sending side toward one child.
type sender struct {
	c                      *child
	up, down               *batch
	upStreams, downStreams []stream
}

// send paces every call's two streams of the child the plan has active
// until the plan's end (since start). A child's streams pause while
// another's turn lasts and go on where they stopped: one stream per call
// and direction for the whole run, as on a call whose caller goes quiet.
func send(children []*child, p plan, start time.Time) error {
	senders := make([]sender, len(children))
	perSlot := 0
	for i, c := range children {
		calls := len(c.legs)
		perSlot = max(perSlot, (calls+paceSlots-1)/paceSlots)
		s := &senders[i]
		s.c = c
		var err error
		if s.up, err = newBatch(c.callerConn, perSlot); err != nil {
			return err
		}
		if s.down, err = newBatch(c.agentConn, perSlot); err != nil {
			return err
		}
		s.upStreams = make([]stream, calls)
		s.downStreams = make([]stream, calls)
		for j := range calls {
			s.upStreams[j] = newStream(j, false)
			if j < len(c.res.Up.sends) {
				s.upStreams[j].sends = &c.res.Up.sends[j]
			}
			s.upStreams[j].sent = c.res.Up.sent
			s.downStreams[j] = newStream(j, true)
			s.downStreams[j].sent = c.res.Down.sent
		}
	}
	// A stream's last packets before each pause are left out of the loss.
	prev := -1
	pause := func(tg int) {
		if tg < 0 {
			return
		}
		for _, st := range [][]stream{senders[tg].upStreams, senders[tg].downStreams} {
			for j := range st {
				st[j].pause()
			}
		}
	}
	defer func() { pause(prev) }()
	tones := renderTones()
	lens := make([]int, perSlot)
	ticker := time.NewTicker(slotGap)
	defer ticker.Stop()
	next := 0
	stop := p.end()
	maxSlots := int(stop/slotGap) + 1
	for range maxSlots + 1 {
		el := time.Since(start)
		if el >= stop {
			return nil
		}
		due := int(el / slotGap)
		if due-next > paceSlots {
			// More than a whole packet interval behind: skip, and say so.
			if tg := p.active(el); tg >= 0 {
				senders[tg].c.res.LateSlots += int64(due - next - paceSlots)
			}
			next = due - paceSlots
		}
		for ; next <= due; next++ {
			tg := p.active(time.Duration(next) * slotGap)
			if tg != prev {
				pause(prev)
				prev = tg
			}
			if tg < 0 {
				continue
			}
			if err := senders[tg].sendSlot(next%paceSlots, tones, lens, start); err != nil {
				return err
			}
		}
		<-ticker.C
	}
	return nil
}

// sendSlot sends one pacing slot's packets, both directions.
func (s *sender) sendSlot(slot int, tones *toneFrameSet, lens []int, start time.Time) error {
	calls := len(s.c.legs)
	for _, dir := range []struct {
		b       *batch
		streams []stream
		up      bool
	}{{s.up, s.upStreams, true}, {s.down, s.downStreams, false}} {
		now := int64(time.Since(start))
		n := 0
		for c := slot; c < calls; c += paceSlots {
			lens[n] = dir.streams[c].next(dir.b.bufs[n], tones, now)
			to := s.c.legs[c].agent
			if dir.up {
				to = s.c.legs[c].caller
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
			s.c.res.SentUp += int64(n)
		} else {
			s.c.res.SentDown += int64(n)
		}
	}
	return nil
}

// receive reads one direction until the socket's deadline. A packet that
// arrives inside a measured window counts toward the window's relayed
// packets; a stamped packet is timed if it was released (sent, or with a
// look-ahead, released by the send of a later packet) inside one. Every
// audio packet is classified by what it carries (chk), and every stamp
// that arrives is marked, for the loss.
func receive(conn *net.UDPConn, d *direction, chk *audioChecker, start time.Time, measured []span) error {
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
		in := holds(measured, now)
		for i := range n {
			pkt := b.datagram(i)
			p, ok := payloadOf(pkt)
			if !ok || pkt[1]&0x7F != audioPT && pkt[1]&0x7F != eventPT {
				d.other++
				continue
			}
			atomic.AddInt64(&d.received, 1)
			if in {
				d.inWindow++
			}
			if pkt[1]&0x7F == eventPT {
				d.eventPackets++
				continue
			}
			st, ok, kind := chk.check(p)
			d.frames[kind]++
			if !ok {
				continue
			}
			d.markSeen(st)
			sent, slip, slipped := d.release(st)
			w := spanAt(measured, time.Duration(sent))
			if w < 0 {
				continue
			}
			us := (int64(now) - sent) / int64(time.Microsecond)
			d.hist[min(max(us, 0), histBuckets-1)]++
			if w < len(d.windows) {
				d.windows[w][min(max(time.Duration(int64(now)-sent)/windowBucket, 0), windowBuckets-1)]++
			}
			d.timed++
			if slipped {
				d.countSlip(slip)
			}
		}
	}
}

// readDrops reads the kernel's drop counters of the generator's sockets
// and of the relay's sockets facing them, before the child stops.
func (c *child) readDrops() error {
	gen := map[uint16]bool{}
	for _, conn := range []*net.UDPConn{c.callerConn, c.agentConn} {
		gen[uint16(conn.LocalAddr().(*net.UDPAddr).Port)] = true
	}
	relay := map[uint16]bool{}
	for _, l := range c.legs {
		relay[l.caller.Port()], relay[l.agent.Port()] = true, true
	}
	var err1, err2 error
	c.res.GenDrops, _, err1 = udpDrops(gen)
	c.res.RelayDrops, c.res.RelaySockets, err2 = udpDrops(relay)
	return errors.Join(err1, err2)
}

// countSlip counts one releasing packet's slip (ns) in the slip histogram.
func (d *direction) countSlip(slip int64) {
	us := slip / int64(time.Microsecond)
	d.slip[min(max(us, 0), histBuckets-1)]++
	d.slipTimed++
}

// release returns when the packet that a stamp's copy left with was
// sent: the stamped packet's own send, or, with a look-ahead (later > 0),
// the send of the audio packet whose arrival released it. Look-ahead
// excluded means exactly that: the pipeline sends one packet per packet
// in, so what a later packet's arrival releases is not late by the
// look-ahead, and whatever the generator's own pacing slips by (its
// ticker wakes late on a busy machine) is not the relay's. When the log
// no longer holds that send, the schedule stands in for it (it can only
// charge the relay more, never less). slip is how late, against its
// schedule, the generator sent the packet that released the stamp, when
// slipped says that is known.
func (d *direction) release(st stampInfo) (sent, slip int64, slipped bool) {
	nominal := st.sentNS + int64(st.later)*int64(packetGap)
	if st.later == 0 || int(st.call) >= len(d.sends) || st.later >= sendLogLen {
		return nominal, 0, false
	}
	sent = d.sends[st.call][(st.index+uint16(st.later))%sendLogLen].Load()
	if sent < nominal-int64(packetGap)/2 || sent > nominal+sendLogLen/2*int64(packetGap) {
		return nominal, 0, false // overwritten or not yet written: not that packet
	}
	// Only with no events between (they pause the audio) is the releasing
	// packet's schedule known.
	return sent, sent - nominal, sent-nominal < int64(packetGap)
}

func atomicLoad(p *int64) int64 { return atomic.LoadInt64(p) }

// stopRelays stops each child's relaying process with SIGSTOP for stopFor
// in the middle of each of its measured windows, and continues it with
// SIGCONT, while the generator goes on sending to it: the pause of a busy
// host. It returns after the last window's pause.
func stopRelays(children []*child, p plan, start time.Time, stopFor time.Duration) error {
	type stop struct {
		at  time.Duration
		pid int
	}
	var stops []stop
	for i, spans := range p.measured {
		for _, s := range spans {
			stops = append(stops, stop{at: s.from + (s.to-s.from-stopFor)/2, pid: children[i].pid})
		}
	}
	slices.SortFunc(stops, func(a, b stop) int { return cmp.Compare(a.at, b.at) })
	for _, s := range stops {
		time.Sleep(time.Until(start.Add(s.at)))
		if err := unix.Kill(s.pid, unix.SIGSTOP); err != nil {
			return fmt.Errorf("stopping relay %d: %w", s.pid, err)
		}
		time.Sleep(stopFor)
		if err := unix.Kill(s.pid, unix.SIGCONT); err != nil {
			return fmt.Errorf("continuing relay %d: %w", s.pid, err)
		}
	}
	return nil
}

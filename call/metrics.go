package call

import (
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/internal/histo"
	"dtmfgw/media"
)

// JitterBuckets are the bucket bounds of the jitter histograms: RFC 3550
// §A.8 interarrival jitter of a leg at the call's end. A few milliseconds
// is a healthy network; tens of milliseconds overrun a typical jitter
// buffer.
var JitterBuckets = []time.Duration{
	500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond,
}

// DetectBuckets are the bucket bounds of the detection latency histograms:
// from the first packet of a press (or the tone's onset) to the press
// being told. An RFC 4733 press is told at its first packet (0); an
// in-band one takes the Detector's 28–32 ms, more for a weak tone.
var DetectBuckets = []time.Duration{
	time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond,
	30 * time.Millisecond, 40 * time.Millisecond, 50 * time.Millisecond, 60 * time.Millisecond,
	80 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond, 250 * time.Millisecond,
	500 * time.Millisecond,
}

// Termination is one kind of call end, as calls_terminated_total counts
// them: the reason, and whether the agent had answered.
type Termination struct {
	Answered bool
	Reason   EndReason
}

// MediaMetrics is what the metrics package reads from a Manager at scrape
// time. Counters never go down: Calls holds the final counters of the
// ended calls plus the live calls' counters so far.
type MediaMetrics struct {
	// Stats are the Manager's own counters.
	Stats ManagerStats
	// Calls is every call's counters since start, summed (the look-ahead
	// and the RTCP figures are not summed and stay zero).
	Calls Stats
	// Terminated counts ended calls by kind of end.
	Terminated map[Termination]uint64
	// CallerJitter and AgentJitter are each ended call's jitter of the
	// stream the leg received, observed at the call's end (calls whose
	// leg received nothing are not observed).
	CallerJitter, AgentJitter histo.Snapshot
	// DetectRFC4733 and DetectInband are the presses' detection latency
	// (mask.Press.Decided − FirstSeen), by the source that told them.
	DetectRFC4733, DetectInband histo.Snapshot
	// CallerToAgent and AgentToCaller are the relay's added latency,
	// summed over the reactors (empty when no reactor reads the calls).
	CallerToAgent, AgentToCaller histo.Snapshot
}

// managerMetrics is the part of a Manager that metrics read: the ended
// calls' running totals (under Manager.mu, updated with the registry so
// that a scrape counts each call exactly once) and the histograms.
type managerMetrics struct {
	ended      Stats                  // guarded by Manager.mu
	terminated map[Termination]uint64 // guarded by Manager.mu
	jitter     [2]*histo.Histogram    // caller, agent
	detect     [2]*histo.Histogram    // rfc4733, inband
	_          [0]func()              // not comparable
}

func newManagerMetrics() managerMetrics {
	return managerMetrics{
		terminated: make(map[Termination]uint64),
		jitter:     [2]*histo.Histogram{histo.Must(JitterBuckets...), histo.Must(JitterBuckets...)},
		detect:     [2]*histo.Histogram{histo.Must(DetectBuckets...), histo.Must(DetectBuckets...)},
	}
}

// noteEndLocked adds an ended call's final counters; m.mu is held.
func (m *Manager) noteEndLocked(st Stats, t Termination) {
	addCallStats(&m.metrics.ended, st)
	m.metrics.terminated[t]++
	for i, r := range []media.ReceiveSnapshot{st.Relay.Caller.Received, st.Relay.Agent.Received} {
		if r.Packets > 0 {
			m.metrics.jitter[i].Observe(time.Duration(r.JitterMs * float64(time.Millisecond)))
		}
	}
}

// noteDetect records one press's detection latency.
func (m *Manager) noteDetect(p dtmf.Press) {
	i := 0
	if p.Source == dtmf.SourceInband {
		i = 1
	}
	if !p.Decided.IsZero() && !p.FirstSeen.IsZero() {
		m.metrics.detect[i].Observe(p.Decided.Sub(p.FirstSeen))
	}
}

// Metrics returns the counters and histograms the metrics package exports.
// The ended calls' totals and the list of live calls are read together,
// so a call that ends meanwhile is counted once, live or ended.
func (m *Manager) Metrics() MediaMetrics {
	mm := MediaMetrics{Stats: m.Stats(), Terminated: make(map[Termination]uint64)}
	m.mu.Lock()
	mm.Calls = m.metrics.ended
	for t, n := range m.metrics.terminated {
		mm.Terminated[t] = n
	}
	live := make([]*Call, 0, len(m.calls))
	for _, c := range m.calls {
		live = append(live, c)
	}
	m.mu.Unlock()
	for _, c := range live {
		addCallStats(&mm.Calls, c.Stats())
	}
	mm.CallerJitter = m.metrics.jitter[0].Snapshot()
	mm.AgentJitter = m.metrics.jitter[1].Snapshot()
	mm.DetectRFC4733 = m.metrics.detect[0].Snapshot()
	mm.DetectInband = m.metrics.detect[1].Snapshot()
	for _, r := range m.reactors {
		mm.CallerToAgent.Merge(r.AddedLatency(media.CallerSide))
		mm.AgentToCaller.Merge(r.AddedLatency(media.AgentSide))
	}
	if mm.CallerToAgent.Bounds == nil {
		mm.CallerToAgent = histo.Must(media.AddedLatencyBuckets...).Snapshot()
		mm.AgentToCaller = mm.CallerToAgent
	}
	return mm
}

// addCallStats adds b's counters to a (not the look-ahead nor RTCP).
func addCallStats(a *Stats, b Stats) {
	addLeg(&a.Relay.Caller, b.Relay.Caller)
	addLeg(&a.Relay.Agent, b.Relay.Agent)
	a.Relay.Ticks += b.Relay.Ticks
	la := a.Pipeline.LookAhead
	a.Pipeline.Add(b.Pipeline)
	a.Pipeline.LookAhead = la
	a.PipelineSwaps += b.PipelineSwaps
	d, e := &a.Presses, b.Presses
	d.Delivered += e.Delivered
	d.Overflows += e.Overflows
	d.SIPInfo += e.SIPInfo
	d.Joined += e.Joined
	d.RFC4733 += e.RFC4733
	d.Inband += e.Inband
	d.SIPInfoFirst += e.SIPInfoFirst
	d.Invalid += e.Invalid
}

func addLeg(a *media.LegSnapshot, b media.LegSnapshot) {
	r, s := &a.Received, b.Received
	r.Packets += s.Packets
	r.EventPackets += s.EventPackets
	r.Bytes += s.Bytes
	r.PayloadBytes += s.PayloadBytes
	r.Expected += s.Expected
	r.Received += s.Received
	// Loss is summed per call clamped at zero: a call whose duplicates
	// outnumber its losses must not make the process total go down.
	r.Lost += max(s.Lost, 0)
	r.Duplicates += s.Duplicates
	r.Reordered += s.Reordered
	r.Sources += s.Sources
	r.DroppedWrongSource += s.DroppedWrongSource
	r.DroppedMalformed += s.DroppedMalformed
	r.DroppedOversize += s.DroppedOversize
	a.Sent.Packets += b.Sent.Packets
	a.Sent.Bytes += b.Sent.Bytes
	a.Sent.Errors += b.Sent.Errors
}

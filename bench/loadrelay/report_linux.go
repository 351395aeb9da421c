package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// modeLoad is a mode's runs at one call count, every round pooled.
type modeLoad struct {
	mode       string
	calls      int
	rounds     int
	cpu        time.Duration
	packets    int64 // relayed in the windows
	measured   time.Duration
	lookAhead  time.Duration
	up, down   direction // histograms, frames and loss pooled
	sentTone   int64
	sentEvents int64
	genDrops   int64
	relayDrops int64
	relaySocks int
	genRcvBuf  int
	lateSlots  int64
	driven     time.Duration // the time the generator drove the mode: warm-up and turns
	counters   []string
	stopIssues []string
}

// pool pools results by call count and mode, in the order they come.
func pool(results []*result) []*modeLoad {
	var out []*modeLoad
	byKey := map[string]*modeLoad{}
	for _, r := range results {
		k := r.Mode + "/" + strconv.Itoa(r.Calls)
		m := byKey[k]
		if m == nil {
			m = &modeLoad{mode: r.Mode, calls: r.Calls, lookAhead: r.LookAhead, genRcvBuf: r.GenRcvBuf}
			byKey[k] = m
			out = append(out, m)
		}
		m.rounds++
		m.cpu += r.ChildCPU
		m.packets += r.WindowPackets
		m.measured += r.Measure
		for _, d := range []struct{ to, from *direction }{{&m.up, r.Up}, {&m.down, r.Down}} {
			for i := range d.to.hist {
				d.to.hist[i] += d.from.hist[i]
			}
			d.to.timed += d.from.timed
			d.to.Lost += d.from.Lost
			d.to.Clean += d.from.Clean
			d.to.eventPackets += d.from.eventPackets
			d.to.received += d.from.received
			d.to.other += d.from.other
			for i := range d.to.frames {
				d.to.frames[i] += d.from.frames[i]
			}
		}
		if r.Up.sent != nil {
			m.sentTone += r.Up.sent.tone
			m.sentEvents += r.Up.sent.events
		}
		m.genDrops += r.GenDrops
		m.relayDrops += r.RelayDrops
		m.relaySocks = max(m.relaySocks, r.RelaySockets)
		m.lateSlots += r.LateSlots
		m.driven += r.Driven
		if r.StopIssue != "" {
			m.stopIssues = append(m.stopIssues, fmt.Sprintf("round %d: %s", r.Round, strings.SplitN(r.StopIssue, "\n", 2)[0]))
		}
		if len(r.Counters) > 0 {
			m.counters = append(m.counters, fmt.Sprintf("round %d: %s", r.Round, strings.Join(r.Counters, "; ")))
		}
	}
	return out
}

func (m *modeLoad) cpuPerPacket() float64 {
	if m.packets == 0 {
		return 0
	}
	return float64(m.cpu) / float64(m.packets) / float64(time.Microsecond)
}

func (m *modeLoad) figures() loadFigures {
	return loadFigures{calls: m.calls, lossUp: m.up.loss(), lossDown: m.down.loss(),
		p99Up: m.up.percentile(0.99), p99Down: m.down.percentile(0.99),
		genBehind: float64(m.lateSlots) > maxLate*float64(m.driven/slotGap)}
}

// msTail formats a latency percentile, "≥100" past the histogram.
func msTail(d time.Duration) string {
	if d >= histBuckets*time.Microsecond-time.Microsecond {
		return "≥100"
	}
	return strconv.FormatFloat(d.Seconds()*1000, 'f', 2, 64)
}

func pct(x float64) string { return strconv.FormatFloat(100*x, 'f', 3, 64) }

// loadTables renders each mode's sustainable calls and its figures per
// load, every round pooled.
func loadTables(results []*result) string {
	pooled := pool(results)
	var b strings.Builder
	var modes []string
	points := map[string][]loadFigures{}
	tried := map[string][]int{}
	for _, m := range pooled {
		if !slices.Contains(modes, m.mode) {
			modes = append(modes, m.mode)
		}
		points[m.mode] = append(points[m.mode], m.figures())
		tried[m.mode] = append(tried[m.mode], m.calls)
	}
	fmt.Fprintf(&b, "## Sustainable calls\n\n")
	fmt.Fprintf(&b, "The highest load tried at which the mode lost at most %.1f %% of the packets each way and kept p99 at most %v each way (caller→agent beyond the look-ahead), every round pooled. A load at which the generator itself fell behind (skipped more than %.1f %% of its 1 ms pacing slots: the machine could not run it and the relay) does not count: it was not offered in full.\n\n", 100*maxLoss, maxP99, 100*maxLate)
	b.WriteString("| mode | sustainable calls | loads tried | not sustained below that |\n|---|---:|---|---|\n")
	for _, mode := range modes {
		n, failed := sustainable(points[mode])
		ns := strconv.Itoa(n)
		if n == 0 {
			ns = "none of those tried"
		}
		fb := "—"
		if len(failed) > 0 {
			fb = strings.Trim(strings.Join(strings.Fields(fmt.Sprint(failed)), ", "), "[]")
		}
		ts := slices.Clone(tried[mode])
		slices.Sort(ts)
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mode, ns, strings.Trim(strings.Join(strings.Fields(fmt.Sprint(slices.Compact(ts))), ", "), "[]"), fb)
	}
	b.WriteString("\n## Per mode and load\n\n")
	b.WriteString("Every round pooled. Latency in ms: up = caller→agent, beyond the look-ahead (shown apart); down = agent→caller. Loss, replaced: % of packets (see above). In-band: tone frames that reached the agent unchanged ÷ sent. Events: RFC 4733 packets that reached the agent ÷ sent. Drops: datagrams the kernel dropped at the generator's sockets / at the relay's.\n\n")
	b.WriteString("| mode | calls | rounds | CPU µs/pkt | × reference | relay CPU (cores) | look-ahead ms | up p50 | up p99 | up p99.9 | down p50 | down p99 | down p99.9 | loss up % | loss down % | replaced up % | in-band | events | drops gen / relay | sustained |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	ref := map[int]*modeLoad{}
	for _, m := range pooled {
		if m.mode == modeReference {
			ref[m.calls] = m
		}
	}
	for _, m := range pooled {
		ratio := "—"
		if r, ok := ref[m.calls]; ok && r.cpuPerPacket() > 0 && m != r {
			ratio = strconv.FormatFloat(m.cpuPerPacket()/r.cpuPerPacket(), 'f', 2, 64)
		}
		cores := 0.0
		if m.measured > 0 {
			cores = m.cpu.Seconds() / m.measured.Seconds()
		}
		ok := "no"
		switch f := m.figures(); {
		case f.sustained():
			ok = "yes"
		case f.genBehind:
			ok = fmt.Sprintf("no: generator behind (%d late slots)", m.lateSlots)
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %.2f | %s | %.2f | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d / %d | %d / %d | %d / %d | %s |\n",
			m.mode, m.calls, m.rounds, m.cpuPerPacket(), ratio, cores, m.lookAhead.Seconds()*1000,
			msTail(m.up.percentile(0.5)), msTail(m.up.percentile(0.99)), msTail(m.up.percentile(0.999)),
			msTail(m.down.percentile(0.5)), msTail(m.down.percentile(0.99)), msTail(m.down.percentile(0.999)),
			pct(m.up.loss()), pct(m.down.loss()), pct(m.up.replaced()),
			m.up.frames[frameTone], m.sentTone, m.up.eventPackets, m.sentEvents,
			m.genDrops, m.relayDrops, ok)
	}
	b.WriteString("\n")
	var notes []string
	for _, m := range pooled {
		if m.relaySocks < 2*m.calls && endToEnd(m.mode) {
			notes = append(notes, fmt.Sprintf("%s at %d calls: %d of its %d sockets facing the generator were found in /proc/net/udp for the drop count", m.mode, m.calls, m.relaySocks, 2*m.calls))
		}
		if m.up.other+m.down.other > 0 {
			notes = append(notes, fmt.Sprintf("%s at %d calls: %d datagrams at the generator were neither audio nor events (not counted as relayed)", m.mode, m.calls, m.up.other+m.down.other))
		}
		if m.up.frames[frameChanged]+m.down.frames[frameChanged] > 0 {
			notes = append(notes, fmt.Sprintf("%s at %d calls: %d packets up and %d down carried their stamp but changed audio around it (counted as replaced)", m.mode, m.calls, m.up.frames[frameChanged], m.down.frames[frameChanged]))
		}
		for _, s := range m.stopIssues {
			notes = append(notes, fmt.Sprintf("%s at %d calls did not stop cleanly after the measurement, %s", m.mode, m.calls, s))
		}
		if rep := m.down.replaced(); rep > 0 {
			notes = append(notes, fmt.Sprintf("%s at %d calls: %s %% of the agent→caller audio replaced", m.mode, m.calls, pct(rep)))
		}
	}
	if len(notes) > 0 {
		b.WriteString("Notes:\n\n")
		for _, n := range notes {
			b.WriteString("- " + n + "\n")
		}
		b.WriteString("\n")
	}
	var counters []string
	for _, m := range pooled {
		for _, c := range m.counters {
			counters = append(counters, fmt.Sprintf("- %s at %d calls, %s", m.mode, m.calls, c))
		}
	}
	if len(counters) > 0 {
		b.WriteString("## The relays' own settings and counters\n\n")
		b.WriteString("dtmfgw's from its `--print-config` and its admin listener's `/metrics` at the end of each run (before the BYEs; non-zero series only); rtpengine-dtmf's ng request.\n\n")
		b.WriteString(strings.Join(counters, "\n"))
		b.WriteString("\n\n")
	}
	return b.String()
}

package offline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
	"dtmfgw/internal/capture"
)

// Static payload types of G.711 (RFC 3551 §6, table 4).
const (
	ptPCMU = 0
	ptPCMA = 8
)

const (
	// sampleTime is one sample at 8 kHz.
	sampleTime = time.Second / dtmf.SampleRate
	// maxStreamSamples bounds the audio rebuilt for one stream: four hours.
	maxStreamSamples = 4 * 3600 * dtmf.SampleRate
	// maxAudioGap is the longest pause in a stream filled with silence
	// (lost packets, silence suppression); after a longer one (hold) the
	// audio continues in a new segment timed by capture time.
	maxAudioGap = 10 * dtmf.SampleRate
	// reanchorSlack is how far an RTP timestamp may disagree with capture
	// time before it is taken as a jump of the sender's timestamps rather
	// than jitter or clock drift; the timeline is then re-anchored on
	// capture time.
	reanchorSlack = dtmf.SampleRate
	// mergeSlack widens both presses when matching an RFC 4733 press with
	// an in-band one: the two are timed by different clocks (capture time
	// of packets against samples of audio).
	mergeSlack = 60 * time.Millisecond
)

// streamPress is a key press found in one stream, timed from the first
// packet of the capture.
type streamPress struct {
	onset, length time.Duration
	key           dtmf.Key
	source        string
	stream        int // index in Capture.Streams; a merged press keeps the event's
}

// detectCapture finds the presses of every RTP stream of a capture, and
// those of its SIP INFO requests.
func detectCapture(ctx context.Context, c *capture.Capture, stderr io.Writer, verbose bool) ([]detection, error) {
	if verbose || len(c.Streams) == 0 {
		// An empty result needs explaining even without -v: was there no
		// RTP, or nothing this tool could take apart?
		fmt.Fprintf(stderr, "capture: %d records (%d not IP/UDP/TCP over a known link type), %d UDP, %d RTP packets in %d streams, %d SIP messages with SDP, %d SIP INFO with a body\n",
			c.Stats.Records, c.Stats.Undecodable, c.Stats.UDP, c.Stats.RTP, len(c.Streams), c.Stats.SIP, len(c.Infos))
	}
	// Presses are merged per direction (source and destination address),
	// not per SSRC: most senders put telephone-event in the audio's SSRC,
	// but some give it an SSRC of its own.
	type direction struct{ src, dst netip.AddrPort }
	events := map[direction][]streamPress{}
	inband := map[direction][]streamPress{}
	var order []direction
	err := analyzeStreams(ctx, c, func(i int, s *capture.Stream, a streamAnalysis) {
		ev, ib := a.events, a.inband
		if verbose {
			describeStream(stderr, s, a.audio.String(), len(ev), len(ib))
		}
		for j := range ev {
			ev[j].stream = i
		}
		for j := range ib {
			ib[j].stream = i
		}
		d := direction{s.Key.Src, s.Key.Dst}
		if _, seen := events[d]; !seen {
			order = append(order, d)
		}
		events[d] = append(events[d], ev...)
		inband[d] = append(inband[d], ib...)
	})
	if err != nil {
		return nil, err
	}
	var found []detection
	for _, d := range order {
		for _, p := range mergePresses(events[d], inband[d]) {
			found = append(found, detection{
				OnsetMS:    roundMS(p.onset),
				Digit:      p.key.Reveal(),
				Source:     p.source,
				DurationMS: roundMS(p.length),
				Stream:     c.Streams[p.stream].Key.String(),
				order:      p.stream,
			})
		}
	}
	return append(found, sipInfoPresses(c, stderr, verbose)...), nil
}

// sipInfoPresses reads the key presses of the SIP INFO requests of a
// capture (application/dtmf-relay and application/dtmf). INFO requests of
// other packages are skipped; malformed DTMF bodies are reported with -v,
// by position only, as the body may be card data.
func sipInfoPresses(c *capture.Capture, stderr io.Writer, verbose bool) []detection {
	var out []detection
	for i, in := range c.Infos {
		key, dur, err := dtmf.ParseSIPInfo(in.ContentType, in.Body)
		if errors.Is(err, dtmf.ErrUnsupportedContentType) {
			continue
		}
		name := in.Src.String() + ">" + in.Dst.String()
		if in.CallID != "" {
			name += " call-id=" + in.CallID
		}
		if err != nil {
			if verbose {
				fmt.Fprintf(stderr, "SIP INFO %s at %d ms: %v\n", name, roundMS(in.At.Sub(c.First)), err)
			}
			continue
		}
		out = append(out, detection{
			OnsetMS:    roundMS(in.At.Sub(c.First)),
			Digit:      key.Reveal(),
			Source:     dtmf.SourceSIPInfo.String(),
			DurationMS: dur.Milliseconds(),
			Stream:     name,
			order:      len(c.Streams) + i,
		})
	}
	return out
}

// roundMS rounds a duration to whole milliseconds, half away from zero.
func roundMS(d time.Duration) int64 { return d.Round(time.Millisecond).Milliseconds() }

// streamAnalysis is the DTMF one RTP stream of a capture carries, each
// source on its own (not merged): what detect prints per direction and
// inspect counts per stream.
type streamAnalysis struct {
	events []streamPress // from telephone-event packets (RFC 4733)
	inband []streamPress // from tones in the G.711 audio
	audio  audioSummary
}

// analyzeStreams analyzes every stream of c, in the capture's order, and
// hands each analysis to f as soon as it is made; it stops at the first
// error or when ctx ends.
func analyzeStreams(ctx context.Context, c *capture.Capture, f func(i int, s *capture.Stream, a streamAnalysis)) error {
	for i, s := range c.Streams {
		if err := ctx.Err(); err != nil {
			return err
		}
		a, err := analyzeStream(ctx, s, c.First)
		if err != nil {
			return err
		}
		f(i, s, a)
	}
	return nil
}

// analyzeStream finds the presses of one stream, timed from first.
func analyzeStream(ctx context.Context, s *capture.Stream, first time.Time) (streamAnalysis, error) {
	ib, audio, err := inbandStreamPresses(ctx, s, first)
	if err != nil {
		return streamAnalysis{}, err
	}
	return streamAnalysis{events: eventPresses(s, first), inband: ib, audio: audio}, nil
}

// audioSummary describes the G.711 audio rebuilt from a stream.
type audioSummary struct {
	packets   int   // G.711 packets placed; 0 when the stream has no G.711 audio
	samples   int64 // samples at 8 kHz in all segments
	segments  int
	truncated bool // the stream is longer than maxStreamSamples
}

// String describes the audio for detect -v.
func (a audioSummary) String() string {
	if a.packets == 0 {
		return "no G.711 audio"
	}
	note := fmt.Sprintf("%d G.711 packets, %.1f s of audio in %d segment(s)", a.packets, float64(a.samples)/dtmf.SampleRate, a.segments)
	if a.truncated {
		note += " (truncated at 4 h)"
	}
	return note
}

// eventPresses runs the stream's telephone-event packets through a
// Tracker. A press's onset is its first packet's capture time less the
// duration that packet reports (RFC 4733 §2.5.1.2: the duration counts from
// the event's start), so that a press whose first packets were lost still
// starts where it began.
func eventPresses(s *capture.Stream, first time.Time) []streamPress {
	if s.EventSource == capture.EventPTNone || len(s.Packets) == 0 {
		return nil
	}
	rate := s.EventRate
	clock := func(units uint32) time.Duration {
		return time.Duration(int64(units) * int64(time.Second) / int64(rate))
	}
	tr := dtmf.NewTracker(dtmf.TrackerConfig{ClockRate: uint32(rate)})
	var (
		out    []streamPress
		evs    = make([]dtmf.KeyEvent, 0, 8)
		open   bool
		onset  time.Duration
		curKey dtmf.Key
	)
	handle := func(evs []dtmf.KeyEvent) {
		for _, ev := range evs {
			switch ev.Kind {
			case dtmf.Begin:
				open, curKey = true, ev.Key
				onset = ev.FirstSeen.Sub(first) - clock(ev.Duration)
			case dtmf.End:
				if !open {
					continue
				}
				open = false
				out = append(out, streamPress{onset: onset, length: clock(ev.Duration), key: curKey, source: dtmf.SourceRFC4733.String()})
			}
		}
	}
	for _, p := range s.Packets {
		if p.PayloadType != s.EventPT {
			// Other packets of the stream advance the clock, so that a
			// press whose end packets were lost ends on time.
			handle(tr.Tick(p.At, evs[:0]))
			continue
		}
		h := dtmf.RTPInfo{SSRC: s.Key.SSRC, Sequence: p.Sequence, Timestamp: p.Timestamp, Marker: p.Marker}
		got, err := tr.Feed(h, p.Payload, p.At, evs[:0])
		if err != nil {
			continue // a malformed payload is skipped; the stream goes on
		}
		handle(got)
	}
	last := s.Packets[len(s.Packets)-1].At
	handle(tr.Tick(last.Add(time.Minute), evs[:0]))
	handle(tr.Flush(evs[:0]))
	return out
}

// inbandStreamPresses rebuilds the stream's G.711 audio on its RTP clock
// (lost packets become silence, so sample positions stay true) and runs
// the in-band Detector over it.
func inbandStreamPresses(ctx context.Context, s *capture.Stream, first time.Time) ([]streamPress, audioSummary, error) {
	var tl audioTimeline
	for _, p := range s.Packets {
		if p.PayloadType == ptPCMU || p.PayloadType == ptPCMA {
			tl.unplaced += int64(len(p.Payload))
		}
	}
	for _, p := range s.Packets {
		switch p.PayloadType {
		case ptPCMU:
			tl.add(p, g711.DecodeUlaw)
		case ptPCMA:
			tl.add(p, g711.DecodeAlaw)
		}
	}
	audio := audioSummary{packets: tl.packets, samples: tl.total, segments: len(tl.segments), truncated: tl.truncated}
	if tl.packets == 0 {
		return nil, audio, nil
	}
	var out []streamPress
	for _, seg := range tl.segments {
		offset := seg.originAt.Sub(first)
		err := inbandPresses(ctx, seg.pcm, func(onset, end int64, key dtmf.Key) {
			out = append(out, streamPress{
				onset:  offset + time.Duration(onset)*sampleTime,
				length: time.Duration(end-onset) * sampleTime,
				key:    key,
				source: dtmf.SourceInband.String(),
			})
		})
		if err != nil {
			return nil, audio, err
		}
	}
	return out, audio, nil
}

// audioTimeline places decoded G.711 packets at the sample position their
// RTP timestamps give (RFC 3550 §5.1: the timestamp is the sampling instant
// of the first octet). Audio is kept in segments: a new one starts when the
// stream pauses for longer than maxAudioGap (hold, silence suppression), so
// that long pauses cost no memory and positions after them are timed from
// the capture clock anew.
type audioTimeline struct {
	segments  []audioSegment
	packets   int
	total     int64 // samples in all segments
	baseIdx   int64 // sample index in the current segment of baseTS
	baseTS    uint32
	baseAt    time.Time
	truncated bool
	// unplaced counts the samples of the packets not yet added, to size a
	// new segment once instead of growing it by doubling.
	unplaced int64
}

// audioSegment is audio without a pause longer than maxAudioGap.
type audioSegment struct {
	originAt time.Time // capture time of sample 0
	pcm      []int16
}

func (a *audioTimeline) add(p capture.Packet, decode func([]int16, []byte) int) {
	n := int64(len(p.Payload))
	a.unplaced -= n
	if n == 0 || a.truncated {
		return
	}
	if len(a.segments) == 0 {
		a.startSegment(p)
	}
	cur := &a.segments[len(a.segments)-1]
	have := int64(len(cur.pcm))
	idx := a.baseIdx + int64(int32(p.Timestamp-a.baseTS))
	byClock := a.baseIdx + int64(p.At.Sub(a.baseAt)/sampleTime)
	if d := idx - byClock; d > reanchorSlack || d < -reanchorSlack {
		// The sender's timestamps jumped (new source after a re-INVITE,
		// a restarted sender): trust capture time for where this goes.
		idx = max(byClock, have)
		a.baseIdx, a.baseTS, a.baseAt = idx, p.Timestamp, p.At
	}
	if idx-have > maxAudioGap {
		a.startSegment(p)
		cur, idx, have = &a.segments[len(a.segments)-1], 0, 0
	}
	if idx < 0 || idx+n <= have-maxAudioGap {
		return // far too late to place
	}
	grow := max(idx+n-have, 0)
	if a.total+grow > maxStreamSamples {
		a.truncated = true
		return
	}
	if grow > 0 {
		// Lost packets before this one leave zeros: linear silence.
		cur.pcm = append(cur.pcm, make([]int16, grow)...)
		a.total += grow
	}
	decode(cur.pcm[idx:idx+n], p.Payload)
	a.packets++
}

// startSegment begins a segment whose sample 0 is packet p.
func (a *audioTimeline) startSegment(p capture.Packet) {
	size := min(a.unplaced+int64(len(p.Payload)), maxStreamSamples-a.total)
	a.segments = append(a.segments, audioSegment{originAt: p.At, pcm: make([]int16, 0, max(size, 0))})
	a.baseIdx, a.baseTS, a.baseAt = 0, p.Timestamp, p.At
}

// mergePresses pairs each RFC 4733 press with an in-band press of the same
// key that overlaps it in time, both of one direction: the same key press sent both ways (DTMF.md:
// count it once). A pair becomes one press with both sources, spanning
// both: from the earlier onset to the later end.
func mergePresses(events, inband []streamPress) []streamPress {
	used := make([]bool, len(inband))
	out := make([]streamPress, 0, len(events)+len(inband))
	for _, e := range events {
		for j, b := range inband {
			if used[j] || b.key != e.key || !overlaps(e, b) {
				continue
			}
			used[j] = true
			e.source = e.source + "+" + b.source
			end := max(e.onset+e.length, b.onset+b.length)
			e.onset = min(e.onset, b.onset)
			e.length = end - e.onset
			break
		}
		out = append(out, e)
	}
	for j, b := range inband {
		if !used[j] {
			out = append(out, b)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].onset < out[j].onset })
	return out
}

func overlaps(a, b streamPress) bool {
	return a.onset-mergeSlack < b.onset+b.length && b.onset-mergeSlack < a.onset+a.length
}

// describeStream writes one line about a stream for -v.
func describeStream(w io.Writer, s *capture.Stream, audioNote string, events, inband int) {
	counts := map[uint8]int{}
	for _, p := range s.Packets {
		counts[p.PayloadType]++
	}
	pts := make([]int, 0, len(counts))
	for pt := range counts {
		pts = append(pts, int(pt))
	}
	sort.Ints(pts)
	var b strings.Builder
	for i, pt := range pts {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "%d×%d", pt, counts[uint8(pt)])
	}
	ev := "no telephone-event"
	if s.EventSource != capture.EventPTNone {
		ev = fmt.Sprintf("telephone-event PT %d/%d (%s)", s.EventPT, s.EventRate, s.EventSource)
	}
	fmt.Fprintf(w, "stream %s: %d packets (PT×count %s), %s, %s; %d rfc4733 and %d inband presses\n",
		s.Key.String(), len(s.Packets), b.String(), ev, audioNote, events, inband)
}

package offline

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pion/rtp"

	"dtmfgw/dtmf"
	"dtmfgw/internal/capture"
	"dtmfgw/internal/cli"
	"dtmfgw/media"
)

// exitDTMFFound is inspect's exit code with --fail-on-dtmf when a stream
// carries DTMF: distinct from 1 (failure) and 2 (usage) so that scripts
// can tell a leak from a broken run.
const exitDTMFFound = 3

// streamReport is one RTP stream as `dtmfgw inspect` prints it; with
// --json, one object per line. It never holds a digit unless --show-digits
// asked for them: the output is meant to be pasted into tickets.
type streamReport struct {
	// Kind is "rtp" for an RTP stream, "sip-info" for the SIP INFO DTMF
	// requests of one SIP hop.
	Kind string `json:"kind"`
	// Stream is "src>dst ssrc=0x…" (rtp) or "src>dst" (sip-info).
	Stream string `json:"stream"`
	// Codec names the stream's audio payload types, most packets first:
	// from the capture's SDP, else the static name (RFC 3551 §6), else
	// "PT n"; "telephone-event" for a stream of events only.
	Codec string `json:"codec,omitempty"`
	// Packets and PayloadBytes count what the capture holds of the stream
	// (RTP payload octets, headers and padding excluded); DurationMS is
	// from its earliest packet to its latest, by capture time.
	Packets      uint64 `json:"packets"`
	PayloadBytes uint64 `json:"payload_bytes"`
	DurationMS   int64  `json:"duration_ms"`
	// Expected, Lost, Duplicates and OutOfOrder are RFC 3550 §A.1
	// receiver statistics over the stream's sequence numbers, as
	// media.ReceiveStats counts them; LossPercent is Lost/Expected.
	Expected    uint64  `json:"expected"`
	Lost        int64   `json:"lost"`
	LossPercent float64 `json:"loss_percent"`
	Duplicates  uint64  `json:"duplicates"`
	OutOfOrder  uint64  `json:"out_of_order"`
	// JitterMS is the RFC 3550 §A.8 interarrival jitter of the audio at
	// its end, by capture time; null for a stream without audio packets.
	JitterMS *float64 `json:"jitter_ms"`
	// EventPackets counts telephone-event packets (RFC 4733), EventPresses
	// the key presses they carry.
	EventPackets int `json:"rfc4733_packets"`
	EventPresses int `json:"rfc4733_presses"`
	// InbandChecked says the stream had G.711 audio to search for tones;
	// InbandDigits is how many were found.
	InbandChecked bool `json:"inband_checked"`
	InbandDigits  int  `json:"inband_digits"`
	// SIPInfoPresses counts the DTMF key presses of SIP INFO requests
	// (sip-info only).
	SIPInfoPresses int `json:"sipinfo_presses,omitempty"`
	// Keys are the digits found, per source, only with --show-digits.
	Keys *reportKeys `json:"keys,omitempty"`
	// DTMF is true when the stream carries any key press; Verdict says
	// so in words: "clean" or "DTMF present (…)".
	DTMF    bool   `json:"dtmf"`
	Verdict string `json:"verdict"`
}

// reportKeys are the digits of a stream, in order of onset, per source.
type reportKeys struct {
	RFC4733 string `json:"rfc4733,omitempty"`
	Inband  string `json:"inband,omitempty"`
	SIPInfo string `json:"sipinfo,omitempty"`
}

// Inspect implements `dtmfgw inspect [--json] [--show-digits]
// [--fail-on-dtmf] FILE`: per RTP stream of a capture, its codec, counts,
// RFC 3550 loss and jitter, and whether it carries DTMF.
func Inspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fset.SetOutput(stderr)
	asJSON := fset.Bool("json", false, "print one JSON object per stream instead of a table")
	showDigits := fset.Bool("show-digits", false, "also print the digits found (card data: not for tickets)")
	failOnDTMF := fset.Bool("fail-on-dtmf", false, "exit with code 3 when any stream carries DTMF")
	fset.Usage = func() {
		fmt.Fprint(stderr, `usage: dtmfgw inspect [--json] [--show-digits] [--fail-on-dtmf] FILE

Reads a pcap or pcapng capture (gzipped too) and prints, for each RTP
stream (source, destination, SSRC): codec, packets, RTP payload bytes,
duration, packets lost (RFC 3550 §A.1: expected less received, counted
from each source's second packet, the first being its probation), duplicates,
packets out of order, interarrival jitter (RFC 3550, by capture time),
telephone-event packets and the key presses they carry (RFC 4733), the
in-band digits found in PCMU/PCMA audio ("-": no G.711 audio to search),
and a verdict: "clean" or "DTMF present (rfc4733: N presses, inband: M)";
for audio other than G.711, "clean (in-band not checked: CODEC)" or
"inband: not checked".
SIP INFO key presses are reported per SIP hop.

Digits are counted, not printed, unless --show-digits is given: the
output is meant to be pasted into tickets. The exit code is 0 whatever
the verdict, unless --fail-on-dtmf is given: then 3 when any stream
carries DTMF.

Flags:
`)
		fset.PrintDefaults()
	}
	path, err := fileArg(fset, args)
	if err != nil {
		return err
	}
	reports, err := inspectFile(ctx, path, stderr)
	if err != nil {
		return fileError(path, err)
	}
	if !*showDigits {
		for i := range reports {
			reports[i].Keys = nil
		}
	}
	if err := printInspection(stdout, reports, *asJSON, *showDigits); err != nil {
		return err
	}
	if *failOnDTMF {
		for _, r := range reports {
			if r.DTMF {
				return cli.ExitStatus(exitDTMFFound)
			}
		}
	}
	return nil
}

// inspectFile reads path as a capture and reports on each stream, digits
// included (the caller drops them unless asked).
func inspectFile(ctx context.Context, path string, stderr io.Writer) ([]streamReport, error) {
	in, err := openInput(path)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	if in.kind == "" {
		return nil, fmt.Errorf("%w (starts with % x)", capture.ErrNotCapture, in.head)
	}
	c, err := readCapture(ctx, in, "inspect", stderr)
	if err != nil {
		return nil, err
	}
	if c.Stats.DroppedStreams > 0 {
		// A leak check that silently skipped streams would mislead.
		fmt.Fprintf(stderr, "dtmfgw inspect: %s: warning: %d RTP packets of streams beyond the first %d not inspected\n",
			path, c.Stats.DroppedStreams, capture.MaxStreams)
	}
	if len(c.Streams) == 0 {
		fmt.Fprintf(stderr, "dtmfgw inspect: %s: no RTP streams (%d records, %d not IP/UDP/TCP over a known link type, %d UDP)\n",
			path, c.Stats.Records, c.Stats.Undecodable, c.Stats.UDP)
	}
	return inspectCapture(ctx, c)
}

// inspectCapture reports on every stream of c, in the capture's order,
// then on the SIP INFO DTMF of each SIP hop.
func inspectCapture(ctx context.Context, c *capture.Capture) ([]streamReport, error) {
	out := make([]streamReport, 0, len(c.Streams))
	err := analyzeStreams(ctx, c, func(_ int, s *capture.Stream, a streamAnalysis) {
		out = append(out, inspectStream(s, c.Media, a))
	})
	if err != nil {
		return nil, err
	}
	return append(out, inspectSIPInfo(c)...), nil
}

// inspectStream builds the report of one stream from its packets and the
// presses found in it.
func inspectStream(s *capture.Stream, sdp []capture.SDPMedia, a streamAnalysis) streamReport {
	r := streamReport{Kind: "rtp", Stream: s.Key.String(), Keys: &reportKeys{}}
	hasEvents := s.EventSource != capture.EventPTNone
	codec := streamCodec(s, sdp)
	r.Codec = codec.name

	// Loss, duplicates, reordering and jitter are media's receive
	// statistics, fed as if the packets arrived at their capture times.
	var st media.ReceiveStats
	st.SetClockRate(codec.clockRate)
	if hasEvents {
		// Event packets repeat their event's start timestamp (RFC 4733
		// §2.5.1.1): they would read as delay in the audio's jitter.
		st.SetEventPayloadTypes(s.EventPT)
	}
	var (
		h                rtp.Header
		earliest, latest time.Time
	)
	for i, p := range s.Packets {
		// Capture clocks can step backwards (NTP, a merged capture): the
		// duration spans the earliest to the latest packet.
		if i == 0 || p.At.Before(earliest) {
			earliest = p.At
		}
		if i == 0 || p.At.After(latest) {
			latest = p.At
		}
		h = rtp.Header{Version: 2, PayloadType: p.PayloadType, SequenceNumber: p.Sequence, Timestamp: p.Timestamp, SSRC: s.Key.SSRC, Marker: p.Marker}
		st.Update(&h, len(p.Payload), len(p.Payload), p.At)
		if hasEvents && p.PayloadType == s.EventPT {
			r.EventPackets++
		}
	}
	snap := st.Snapshot()
	r.Packets, r.PayloadBytes = snap.Packets, snap.PayloadBytes
	r.Expected, r.Lost = snap.Expected, snap.Lost
	r.LossPercent = round2(100 * snap.LossFraction())
	r.Duplicates, r.OutOfOrder = snap.Duplicates, snap.Reordered
	r.DurationMS = roundMS(latest.Sub(earliest))
	if r.EventPackets < len(s.Packets) {
		j := round2(snap.JitterMs)
		r.JitterMS = &j
	}

	r.EventPresses, r.InbandDigits = len(a.events), len(a.inband)
	r.InbandChecked = a.audio.packets > 0
	r.Keys.RFC4733, r.Keys.Inband = pressKeys(a.events), pressKeys(a.inband)
	r.DTMF = r.EventPresses > 0 || r.InbandDigits > 0
	switch {
	case r.DTMF && codec.otherAudio && !r.InbandChecked:
		r.Verdict = fmt.Sprintf("DTMF present (rfc4733: %d presses, inband: not checked)", r.EventPresses)
	case r.DTMF:
		r.Verdict = fmt.Sprintf("DTMF present (rfc4733: %d presses, inband: %d)", r.EventPresses, r.InbandDigits)
	case codec.otherAudio:
		// Tones cannot be searched for in audio we do not decode; say so
		// rather than call the stream clean outright.
		r.Verdict = "clean (in-band not checked: " + codec.name + ")"
	default:
		r.Verdict = "clean"
	}
	return r
}

// inspectSIPInfo reports the SIP INFO key presses of the capture, one
// report per SIP hop (source and destination), in order of first press.
// INFO requests of other packages and malformed bodies are not counted.
func inspectSIPInfo(c *capture.Capture) []streamReport {
	type hop struct{ src, dst netip.AddrPort }
	index := map[hop]int{}
	var out []streamReport
	for _, in := range c.Infos {
		key, _, err := dtmf.ParseSIPInfo(in.ContentType, in.Body)
		if err != nil {
			continue
		}
		h := hop{in.Src, in.Dst}
		i, ok := index[h]
		if !ok {
			i = len(out)
			index[h] = i
			out = append(out, streamReport{Kind: "sip-info", Stream: in.Src.String() + ">" + in.Dst.String(), Keys: &reportKeys{}})
		}
		r := &out[i]
		r.Packets++
		r.SIPInfoPresses++
		r.Keys.SIPInfo += key.Reveal()
	}
	for i := range out {
		r := &out[i]
		r.DTMF = true
		r.Verdict = fmt.Sprintf("DTMF present (sipinfo: %d presses)", r.SIPInfoPresses)
	}
	return out
}

// pressKeys returns the keys of presses in order of onset.
func pressKeys(presses []streamPress) string {
	var b strings.Builder
	for _, p := range presses {
		b.WriteString(p.key.Reveal())
	}
	return b.String()
}

// round2 rounds to two decimals, so that printed figures do not depend on
// floating-point noise.
func round2(x float64) float64 { return math.Round(x*100) / 100 }

// printInspection writes the reports as an aligned table, or as JSON
// lines.
func printInspection(w io.Writer, reports []streamReport, asJSON, showDigits bool) error {
	bw := bufio.NewWriter(w)
	if asJSON {
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false) // stream names contain ">"
		for _, r := range reports {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return bw.Flush()
	}
	if len(reports) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', 0)
	header := "STREAM\tCODEC\tPACKETS\tBYTES\tDURATION\tLOST\tDUP\tOOO\tJITTER\tEVENTS\tPRESSES\tINBAND\t"
	if showDigits {
		header += "DIGITS\t"
	}
	fmt.Fprintln(tw, header+"VERDICT")
	for _, r := range reports {
		if r.Kind == "sip-info" {
			fmt.Fprintf(tw, "%s\tSIP INFO\t%d\t-\t-\t-\t-\t-\t-\t-\t%d\t-\t", r.Stream, r.Packets, r.SIPInfoPresses)
		} else {
			jitter := "-"
			if r.JitterMS != nil {
				jitter = strconv.FormatFloat(*r.JitterMS, 'f', 2, 64) + "ms"
			}
			inband := "-"
			if r.InbandChecked {
				inband = strconv.Itoa(r.InbandDigits)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d (%s%%)\t%d\t%d\t%s\t%d\t%d\t%s\t",
				r.Stream, r.Codec, r.Packets, r.PayloadBytes, formatSeconds(r.DurationMS),
				r.Lost, strconv.FormatFloat(r.LossPercent, 'f', -1, 64), r.Duplicates, r.OutOfOrder,
				jitter, r.EventPackets, r.EventPresses, inband)
		}
		if showDigits {
			fmt.Fprintf(tw, "%s\t", r.Keys.String())
		}
		fmt.Fprintln(tw, r.Verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}

// String lists the digits per source, "-" when there are none.
func (k *reportKeys) String() string {
	if k == nil {
		return "-"
	}
	var parts []string
	for _, p := range []struct{ source, keys string }{
		{dtmf.SourceRFC4733.String(), k.RFC4733},
		{dtmf.SourceInband.String(), k.Inband},
		{dtmf.SourceSIPInfo.String(), k.SIPInfo},
	} {
		if p.keys != "" {
			parts = append(parts, p.source+"="+p.keys)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// formatSeconds prints milliseconds as seconds with two decimals.
func formatSeconds(ms int64) string {
	return strconv.FormatFloat(time.Duration(ms*int64(time.Millisecond)).Seconds(), 'f', 2, 64) + "s"
}

package offline

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
	"dtmfgw/internal/capture"
	"dtmfgw/internal/cli"
	"dtmfgw/internal/testkit/capturetest"
)

// sentPacket is one RTP packet of a test stream, in the order it was
// sent, and what the network did to it.
type sentPacket struct {
	sent    time.Time
	pt      uint8
	ts      uint32
	marker  bool
	payload []byte
	lose    bool          // never arrives
	delay   time.Duration // arrives this much after it was sent
	dup     time.Duration // a second copy arrives this much after the first
}

// arrival is one datagram as the capture records it.
type arrival struct {
	at       time.Time
	src, dst netip.AddrPort
	h        rtp.Header
	payload  []byte
	udp      []byte // a non-RTP datagram when set
}

// networkPlan collects the datagrams of a capture so that they can be
// written in order of arrival.
type networkPlan struct{ arrivals []arrival }

// stream numbers pkts (already in send order) from seq0 and adds what
// arrives of them.
func (n *networkPlan) stream(src, dst netip.AddrPort, ssrc uint32, seq0 uint16, pkts []sentPacket) {
	for i, p := range pkts {
		if p.lose {
			continue
		}
		h := rtp.Header{PayloadType: p.pt, SequenceNumber: seq0 + uint16(i), Timestamp: p.ts, SSRC: ssrc, Marker: p.marker}
		at := p.sent.Add(p.delay)
		n.arrivals = append(n.arrivals, arrival{at: at, src: src, dst: dst, h: h, payload: p.payload})
		if p.dup > 0 {
			n.arrivals = append(n.arrivals, arrival{at: at.Add(p.dup), src: src, dst: dst, h: h, payload: p.payload})
		}
	}
}

func (n *networkPlan) udp(at time.Time, src, dst netip.AddrPort, payload []byte) {
	n.arrivals = append(n.arrivals, arrival{at: at, src: src, dst: dst, udp: payload})
}

// pcap writes the datagrams in order of arrival.
func (n *networkPlan) pcap() []byte {
	sorted := append([]arrival(nil), n.arrivals...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].at.Before(sorted[j].at) })
	w := capturetest.New(capturetest.Ethernet)
	for _, a := range sorted {
		if a.udp != nil {
			w.UDP(a.at, a.src, a.dst, a.udp)
		} else {
			w.RTP(a.at, a.src, a.dst, a.h, a.payload)
		}
	}
	return w.Pcap()
}

// g711Packets cuts pcm into 20 ms packets from start, timestamps from ts0.
func g711Packets(start time.Time, ts0 uint32, pt uint8, pcm []int16) []sentPacket {
	const frame = 160
	var out []sentPacket
	for i := 0; i*frame < len(pcm); i++ {
		chunk := pcm[i*frame : min((i+1)*frame, len(pcm))]
		payload := make([]byte, len(chunk))
		if pt == ptPCMA {
			g711.EncodeAlaw(payload, chunk)
		} else {
			g711.EncodeUlaw(payload, chunk)
		}
		out = append(out, sentPacket{sent: start.Add(time.Duration(i) * 20 * time.Millisecond), pt: pt, ts: ts0 + uint32(i*frame), payload: payload})
	}
	return out
}

// eventPackets is one RFC 4733 press of 100 ms at 8 kHz: updates every
// 20 ms (durations 160…640), then the end packet three times.
func eventPackets(onset time.Time, pt uint8, ts uint32, key dtmf.Key) []sentPacket {
	var out []sentPacket
	for i := 1; i <= 5; i++ {
		end := i == 5
		reps := 1
		if end {
			reps = 3
		}
		for range reps {
			out = append(out, sentPacket{
				sent: onset.Add(time.Duration(i) * 20 * time.Millisecond), pt: pt, ts: ts, marker: i == 1,
				payload: capturetest.EventPayload(key.Code(), end, 10, uint16(160*i)),
			})
		}
	}
	return out
}

// mergeSent merges streams of one SSRC in order of sending; at equal times
// the earlier argument's packet goes first.
func mergeSent(streams ...[]sentPacket) []sentPacket {
	var out []sentPacket
	for _, s := range streams {
		out = append(out, s...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].sent.Before(out[j].sent) })
	return out
}

// toneAt writes a 100 ms tone of key into pcm from ms milliseconds on.
func toneAt(pcm []int16, ms int, key dtmf.Key) {
	tone := dtmf.AppendDTMF(nil, dtmf.ToneSpec{Key: key, LevelDBm0: -10, TwistDB: 2, Duration: 100 * time.Millisecond})
	copy(pcm[ms*8:], tone)
}

// hum is a 400 Hz tone at about −20 dBm0: audio that is not DTMF.
func hum(samples int) []int16 {
	pcm := make([]int16, samples)
	a := dtmf.Amplitude(-20)
	for i := range pcm {
		pcm[i] = int16(math.Round(a * math.Sin(2*math.Pi*400*float64(i)/8000)))
	}
	return pcm
}

var (
	callerHost = netip.MustParseAddrPort("10.0.0.1:4000")
	gwCaller   = netip.MustParseAddrPort("10.0.0.2:5000") // where the gateway receives the caller
	agentHost  = netip.MustParseAddrPort("10.0.0.3:6000")
	gwAgent    = netip.MustParseAddrPort("10.0.0.2:5002")
	sipA       = netip.MustParseAddrPort("192.0.2.1:5060")
	sipB       = netip.MustParseAddrPort("192.0.2.2:5060")
)

// leakCapture is a two-way call as an engineer would capture it on the
// gateway:
//
//   - the caller's stream, 10.0.0.1:4000>10.0.0.2:5000 SSRC 0xca11, PCMU
//     (2 s, 100 packets) with telephone-event on PT 101 named by the SDP of
//     the INVITE: in-band tones "1" at 300 ms and "2" at 600 ms, an
//     event-only "3" at 900 ms, and "5" at 1200 ms both as events and as a
//     tone. 114 packets are sent (100 audio, 14 events), sequence numbers
//     from 65500 so they wrap. The network loses audio packets 25, 26 and
//     80, duplicates 40 and 90 (copies 5 ms later), and delays 70 by 25 ms,
//     behind 71 — all in silences;
//   - the agent's stream, 10.0.0.3:6000>10.0.0.2:5002 SSRC 0xa9e7, PCMA
//     (100 packets of a 400 Hz hum from 10 ms), every odd packet 2 ms late.
func leakCapture() *networkPlan {
	var n networkPlan
	n.udp(at(0), sipA, sipB, capturetest.SIPWithSDP(gwCaller, 101, 8000))

	pcm := make([]int16, 2*8000)
	toneAt(pcm, 300, '1')
	toneAt(pcm, 600, '2')
	toneAt(pcm, 1200, '5')
	audio := g711Packets(at(0), 1000, ptPCMU, pcm)
	audio[25].lose, audio[26].lose, audio[80].lose = true, true, true
	audio[40].dup, audio[90].dup = 5*time.Millisecond, 5*time.Millisecond
	audio[70].delay = 25 * time.Millisecond
	caller := mergeSent(audio,
		eventPackets(at(900), 101, 1000+900*8, '3'),
		eventPackets(at(1200), 101, 1000+1200*8, '5'))
	n.stream(callerHost, gwCaller, 0xca11, 65500, caller)

	agent := g711Packets(at(10), 77, ptPCMA, hum(2*8000))
	for i := 1; i < len(agent); i += 2 {
		agent[i].delay = 2 * time.Millisecond
	}
	n.stream(agentHost, gwAgent, 0xa9e7, 7, agent)
	return &n
}

func runInspectArgs(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = Inspect(context.Background(), args, &o, &e)
	return o.String(), e.String(), err
}

// The figures of leakCapture, worked out by hand:
//
//   - caller: 114 sent − 3 lost + 2 copies = 113 packets; 99 audio
//     packets of 160 bytes and 14 events of 4. RFC 3550 §A.1 counts from
//     the packet after the first (the first is the source's probation):
//     113 expected, 110 received, 3 lost (2.65%). Jitter (§A.8, audio
//     only): 0 until packet 70 arrives 200 units late (J = 200/16 =
//     12.5), 72 then reads as 200 early (J = 12.5 + 187.5/16 = 24.21875),
//     and the 26 packets after decay it by 15/16 each: 4.52 units, 0.57 ms.
//     Duration 0–1980 ms.
//   - agent: 100 packets of 160 bytes, 99 expected, nothing lost; every
//     packet after the second moves ±16 units (2 ms), so J = 16·(1 −
//     (15/16)^k) ≈ 16 after ~98 updates: 2.00 ms. Duration 10–1992 ms.
const leakCaptureTable = `STREAM                                   CODEC  PACKETS  BYTES  DURATION  LOST       DUP  OOO  JITTER  EVENTS  PRESSES  INBAND  VERDICT
10.0.0.1:4000>10.0.0.2:5000 ssrc=0xca11  PCMU   113      15896  1.98s     3 (2.65%)  2    1    0.57ms  14      2        3       DTMF present (rfc4733: 2 presses, inband: 3)
10.0.0.3:6000>10.0.0.2:5002 ssrc=0xa9e7  PCMA   100      16000  1.98s     0 (0%)     0    0    2.00ms  0       0        0       clean
`

func TestInspectReportsLossJitterAndDTMFPerStream(t *testing.T) {
	path := writeTemp(t, "call.pcap", leakCapture().pcap())
	out, errOut, err := runInspectArgs(t, path)
	if err != nil || errOut != "" {
		t.Fatalf("err %v, stderr %q", err, errOut)
	}
	if out != leakCaptureTable {
		t.Errorf("output:\n%s\nwant:\n%s", out, leakCaptureTable)
	}
}

// With --json, one object per stream with the same figures; the digits
// appear only with --show-digits.
func TestInspectJSONAndShowDigits(t *testing.T) {
	path := writeTemp(t, "call.pcap", leakCapture().pcap())
	jitter := func(ms float64) *float64 { return &ms }
	want := []streamReport{
		{
			Kind: "rtp", Stream: "10.0.0.1:4000>10.0.0.2:5000 ssrc=0xca11", Codec: "PCMU",
			Packets: 113, PayloadBytes: 15896, DurationMS: 1980, Expected: 113, Lost: 3, LossPercent: 2.65,
			Duplicates: 2, OutOfOrder: 1, JitterMS: jitter(0.57), EventPackets: 14, EventPresses: 2,
			InbandChecked: true, InbandDigits: 3, DTMF: true, Verdict: "DTMF present (rfc4733: 2 presses, inband: 3)",
		},
		{
			Kind: "rtp", Stream: "10.0.0.3:6000>10.0.0.2:5002 ssrc=0xa9e7", Codec: "PCMA",
			Packets: 100, PayloadBytes: 16000, DurationMS: 1982, Expected: 99, JitterMS: jitter(2),
			InbandChecked: true, Verdict: "clean",
		},
	}
	decode := func(out string) []streamReport {
		t.Helper()
		var got []streamReport
		dec := json.NewDecoder(strings.NewReader(out))
		dec.DisallowUnknownFields()
		for dec.More() {
			var r streamReport
			if err := dec.Decode(&r); err != nil {
				t.Fatalf("%v in %s", err, out)
			}
			got = append(got, r)
		}
		return got
	}
	same := func(got, want []streamReport) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			g, w := got[i], want[i]
			if (g.JitterMS == nil) != (w.JitterMS == nil) || (g.JitterMS != nil && *g.JitterMS != *w.JitterMS) {
				return false
			}
			if (g.Keys == nil) != (w.Keys == nil) || (g.Keys != nil && *g.Keys != *w.Keys) {
				return false
			}
			g.JitterMS, w.JitterMS, g.Keys, w.Keys = nil, nil, nil, nil
			if g != w {
				return false
			}
		}
		return true
	}

	out, _, err := runInspectArgs(t, "--json", path)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(out); !same(got, want) {
		t.Errorf("--json:\n%s\nwant:\n%+v", out, want)
	}
	if strings.Contains(out, `"keys"`) {
		t.Errorf("--json prints digits without --show-digits:\n%s", out)
	}

	want[0].Keys = &reportKeys{RFC4733: "35", Inband: "125"}
	want[1].Keys = &reportKeys{}
	out, _, err = runInspectArgs(t, "--json", "--show-digits", path)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(out); !same(got, want) {
		t.Errorf("--json --show-digits:\n%s\nwant keys %+v, %+v", out, *want[0].Keys, *want[1].Keys)
	}

	out, _, err = runInspectArgs(t, "--show-digits", path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out, "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], " DIGITS ") ||
		!strings.Contains(lines[1], " rfc4733=35 inband=125 ") || !strings.Contains(lines[2], " - ") {
		t.Errorf("--show-digits table:\n%s", out)
	}
}

// The default output is pasted into tickets: it must not carry the digits
// in any form. Two calls that differ only in the keys pressed (each key
// sent as a tone and as events) must print the same bytes.
func TestInspectDoesNotPrintDigitsByDefault(t *testing.T) {
	call := func(tone, event dtmf.Key) string {
		var n networkPlan
		n.udp(at(0), sipA, sipB, capturetest.SIPWithSDP(gwCaller, 101, 8000))
		pcm := make([]int16, 8000)
		toneAt(pcm, 300, tone)
		n.stream(callerHost, gwCaller, 0x1, 0, mergeSent(g711Packets(at(0), 0, ptPCMU, pcm), eventPackets(at(600), 101, 4800, event)))
		return writeTemp(t, "call.pcap", n.pcap())
	}
	a, b := call('9', '7'), call('1', '#')
	for _, args := range [][]string{nil, {"--json"}, {"--fail-on-dtmf"}} {
		outA, errA, _ := runInspectArgs(t, append(args, a)...)
		outB, errB, _ := runInspectArgs(t, append(args, b)...)
		if !strings.Contains(outA, "DTMF present (rfc4733: 1 presses, inband: 1)") {
			t.Errorf("%v: no verdict in\n%s", args, outA)
		}
		if outA != outB || errA != errB {
			t.Errorf("%v: the output depends on the keys pressed:\n%s%s\n%s%s", args, outA, errA, outB, errB)
		}
	}
	outA, _, _ := runInspectArgs(t, "--show-digits", a)
	outB, _, _ := runInspectArgs(t, "--show-digits", b)
	if !strings.Contains(outA, " rfc4733=7 inband=9 ") || !strings.Contains(outB, " rfc4733=# inband=1 ") {
		t.Errorf("--show-digits:\n%s\n%s", outA, outB)
	}
}

// Codec names come from the SDP of the capture (the receiver's first),
// else from RFC 3551's static payload types, else "PT n"; in-band tones
// are searched for in G.711 only, and the verdict says when they could not
// be.
func TestInspectNamesCodecs(t *testing.T) {
	sdp := func(media netip.AddrPort, maps string) []byte {
		body := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %[1]s\r\ns=-\r\nc=IN IP4 %[1]s\r\nt=0 0\r\n", media.Addr()) +
			fmt.Sprintf("m=audio %d RTP/AVP 0 111 112\r\n", media.Port()) + maps
		return []byte("SIP/2.0 200 OK\r\nCall-ID: 2@example.com\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n" +
			fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body)
	}
	recv := netip.MustParseAddrPort("10.0.0.9:7000")
	send := netip.MustParseAddrPort("10.0.0.8:7100")
	opaque := func(n int) []byte { return bytes.Repeat([]byte{0xF8}, n) } // not G.711 tones, not events
	packets := func(pts ...uint8) []sentPacket {
		var out []sentPacket
		for i := range 20 {
			pt := pts[i%len(pts)]
			out = append(out, sentPacket{sent: at(20 * i), pt: pt, ts: uint32(160 * i), payload: opaque(160)})
		}
		return out
	}
	tests := []struct {
		name    string
		sip     [][]byte
		pts     []uint8
		codec   string
		verdict string
	}{
		{"static G.711", nil, []uint8{0}, "PCMU", "clean"},
		{"static with comfort noise, most packets first", nil, []uint8{8, 8, 13}, "PCMA,CN", "clean"},
		{"static G.722", nil, []uint8{9}, "G722", "clean (in-band not checked: G722)"},
		{"unnamed dynamic", nil, []uint8{111}, "PT 111", "clean (in-band not checked: PT 111)"},
		{"named by the receiver's SDP", [][]byte{sdp(recv, "a=rtpmap:111 opus/48000/2\r\n")}, []uint8{111}, "opus", "clean (in-band not checked: opus)"},
		{"named by the sender's SDP", [][]byte{sdp(send, "a=rtpmap:111 AMR-WB/16000\r\n")}, []uint8{111}, "AMR-WB", "clean (in-band not checked: AMR-WB)"},
		{"the receiver's SDP before the sender's", [][]byte{sdp(recv, "a=rtpmap:111 opus/48000/2\r\n"), sdp(send, "a=rtpmap:111 AMR-WB/16000\r\n")}, []uint8{111}, "opus", "clean (in-band not checked: opus)"},
		{"the latest SDP of the receiver (re-INVITE)", [][]byte{sdp(recv, "a=rtpmap:111 opus/48000/2\r\n"), sdp(recv, "a=rtpmap:111 speex/8000\r\n")}, []uint8{111}, "speex", "clean (in-band not checked: speex)"},
		{"by port behind NAT", [][]byte{sdp(netip.AddrPortFrom(netip.MustParseAddr("192.168.1.9"), recv.Port()), "a=rtpmap:111 opus/48000/2\r\n")}, []uint8{111}, "opus", "clean (in-band not checked: opus)"},
		{"SDP and static together", [][]byte{sdp(recv, "a=rtpmap:112 iLBC/8000\r\n")}, []uint8{112, 0, 0}, "PCMU,iLBC", "clean (in-band not checked: PCMU,iLBC)"},
		{"events beside audio not searched", [][]byte{sdp(recv, "a=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n")}, []uint8{111, 101}, "opus", "DTMF present (rfc4733: 1 presses, inband: not checked)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var n networkPlan
			for i, msg := range tc.sip {
				n.udp(at(i), sipA, sipB, msg)
			}
			var pkts []sentPacket
			if slices.Contains(tc.pts, 101) {
				pkts = mergeSent(packets(111), eventPackets(at(100), 101, 800, '1'))
			} else {
				pkts = packets(tc.pts...)
			}
			n.stream(send, recv, 0x99, 100, pkts)
			out, _, err := runInspectArgs(t, "--json", writeTemp(t, "codec.pcap", n.pcap()))
			if err != nil {
				t.Fatal(err)
			}
			var r streamReport
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if r.Codec != tc.codec || r.Verdict != tc.verdict {
				t.Errorf("codec %q, verdict %q; want %q, %q", r.Codec, r.Verdict, tc.codec, tc.verdict)
			}
		})
	}
}

// SIP INFO key presses are DTMF on the signalling path: one report per
// SIP hop.
func TestInspectReportsSIPInfoPerHop(t *testing.T) {
	n := leakCapture()
	n.udp(at(100), sipA, sipB, capturetest.SIPInfo(2, "application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n")))
	n.udp(at(300), sipA, sipB, capturetest.SIPInfo(3, "application/dtmf", []byte("#")))
	n.udp(at(400), sipA, sipB, capturetest.SIPInfo(4, "application/dtmf-relay", []byte("Signal=X")))    // malformed: not counted
	n.udp(at(500), sipB, sipA, capturetest.SIPInfo(5, "application/media_control+xml", []byte("<x/>"))) // not DTMF
	path := writeTemp(t, "info.pcap", n.pcap())
	out, _, err := runInspectArgs(t, "--show-digits", path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	want := joinFields("192.0.2.1:5060>192.0.2.2:5060", "SIP INFO", "2", "-", "-", "-", "-", "-", "-", "-", "2", "-", "sipinfo=5#", "DTMF", "present", "(sipinfo:", "2", "presses)")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[3]), " ") != want {
		t.Errorf("output:\n%s\nwant last line fields %q", out, want)
	}
}

// joinFields joins f with single spaces, as strings.Fields splits a line.
func joinFields(f ...string) string { return strings.Join(strings.Fields(strings.Join(f, " ")), " ") }

// --fail-on-dtmf turns a leak into exit code 3 (cli.ExitStatus), for
// scripts; without it, or with a clean capture, Inspect succeeds.
func TestInspectFailOnDTMFExitCode(t *testing.T) {
	leak := writeTemp(t, "leak.pcap", leakCapture().pcap())
	var clean networkPlan
	clean.stream(agentHost, gwAgent, 0xa9e7, 7, g711Packets(at(10), 77, ptPCMA, hum(8000)))
	cleanPath := writeTemp(t, "clean.pcap", clean.pcap())
	tests := []struct {
		args []string
		code int
	}{
		{[]string{leak}, 0},
		{[]string{"--fail-on-dtmf", leak}, 3},
		{[]string{"--fail-on-dtmf", "--json", leak}, 3},
		{[]string{"--fail-on-dtmf", cleanPath}, 0},
		{[]string{cleanPath}, 0},
	}
	for _, tc := range tests {
		var o, e bytes.Buffer
		err := Inspect(context.Background(), tc.args, &o, &e)
		var status cli.ExitStatus
		switch {
		case tc.code == 0 && err != nil:
			t.Errorf("%v: %v, want success (stderr %q)", tc.args[:len(tc.args)-1], err, e.String())
		case tc.code != 0 && (!errors.As(err, &status) || int(status) != tc.code):
			t.Errorf("%v: %v, want exit status %d (stderr %q)", tc.args[:len(tc.args)-1], err, tc.code, e.String())
		}
		if o.Len() == 0 || e.Len() != 0 {
			t.Errorf("%v: stdout %q, stderr %q", tc.args, o.String(), e.String())
		}
	}
}

func TestInspectErrors(t *testing.T) {
	dir := t.TempDir()
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	tests := []struct {
		name string
		path string
		want string
	}{
		{"missing file", filepath.Join(dir, "none.pcap"), "none.pcap: no such file or directory"},
		{"directory", dir, ": is a directory"},
		{"audio, not a capture", writeTemp(t, "call.wav", wavFile(make([]int16, 800), 8000, 1)), "call.wav: capture: not a pcap or pcapng file"},
		{"empty file", writeTemp(t, "empty.pcap", nil), "empty.pcap: capture: not a pcap or pcapng file"},
		{"bad gzip", writeTemp(t, "bad.pcap.gz", []byte{0x1f, 0x8b, 0, 0}), "bad.pcap.gz: gzip:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o, e bytes.Buffer
			err := Inspect(context.Background(), []string{tc.path}, &o, &e)
			var status cli.ExitStatus
			if err == nil || errors.Is(err, cli.ErrUsage) || errors.As(err, &status) {
				t.Fatalf("%v, want a failure the command line prints (exit 1)", err)
			}
			if o.Len() != 0 || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("stdout %q, error %q, want %q", o.String(), err, tc.want)
			}
		})
	}

	// A gzipped capture is read as what it contains.
	out, _, err := runInspectArgs(t, writeTemp(t, "call.pcap.gz", gz(leakCapture().pcap())))
	if err != nil || out != leakCaptureTable {
		t.Errorf("gzipped capture: err %v, output:\n%s", err, out)
	}
}

func TestInspectUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want error
	}{
		{"no file", nil, cli.ErrUsage},
		{"two files", []string{"a.pcap", "b.pcap"}, cli.ErrUsage},
		{"unknown flag", []string{"--format", "pcap", "a.pcap"}, cli.ErrUsage},
		{"help", []string{"-h"}, flag.ErrHelp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o, e bytes.Buffer
			if err := Inspect(context.Background(), tc.args, &o, &e); !errors.Is(err, tc.want) {
				t.Errorf("%v, want %v", err, tc.want)
			}
			if o.Len() != 0 || !strings.Contains(e.String(), "dtmfgw inspect") {
				t.Errorf("stdout %q, stderr %q", o.String(), e.String())
			}
		})
	}
}

// A capture without RTP prints nothing and says why on stderr; a capture
// cut short in a record reports what came before and warns.
func TestInspectEmptyAndTruncatedCaptures(t *testing.T) {
	var sipOnly networkPlan
	sipOnly.udp(at(0), sipA, sipB, capturetest.SIPWithSDP(gwCaller, 101, 8000))
	out, errOut, err := runInspectArgs(t, writeTemp(t, "sip.pcap", sipOnly.pcap()))
	if err != nil || out != "" || !strings.Contains(errOut, "no RTP streams (1 records") {
		t.Errorf("SIP only: err %v, stdout %q, stderr %q", err, out, errOut)
	}

	data := leakCapture().pcap()
	cut := data[:len(data)-30] // inside the last record: the agent's last packet
	out, errOut, err = runInspectArgs(t, writeTemp(t, "cut.pcap", cut))
	if err != nil || !strings.Contains(errOut, "cut.pcap: warning:") {
		t.Fatalf("err %v, stderr %q", err, errOut)
	}
	lines := strings.Split(out, "\n")
	if len(lines) != 4 || !strings.Contains(lines[1], " 113 ") || !strings.Contains(lines[2], " 99 ") {
		t.Errorf("truncated capture:\n%s", out)
	}
}

func TestInspectStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	path := writeTemp(t, "call.pcap", leakCapture().pcap())
	var o, e bytes.Buffer
	if err := Inspect(ctx, []string{path}, &o, &e); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}

// FuzzInspectCapture runs arbitrary captures through inspect: no capture
// may crash it, and every report keeps its figures consistent.
func FuzzInspectCapture(f *testing.F) {
	// Small seeds: the mutator finds its way around a short capture far
	// sooner than around leakCapture's 40 kB.
	var small networkPlan
	small.udp(at(0), sipA, sipB, capturetest.SIPWithSDP(gwCaller, 101, 8000))
	audio := g711Packets(at(0), 0, ptPCMU, make([]int16, 800))
	audio[2].lose, audio[3].dup = true, time.Millisecond
	small.stream(callerHost, gwCaller, 1, 65534, mergeSent(audio, eventPackets(at(20), 101, 160, '4')))
	f.Add(small.pcap())
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := capture.Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		reports, err := inspectCapture(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range reports {
			if r.Kind == "sip-info" {
				if !r.DTMF || r.SIPInfoPresses == 0 {
					t.Fatalf("sip-info report %+v", r)
				}
				continue
			}
			s := c.Streams[i]
			if r.Packets != uint64(len(s.Packets)) || r.EventPackets > len(s.Packets) || r.DurationMS < 0 {
				t.Fatalf("report %+v of %d packets", r, len(s.Packets))
			}
			if r.LossPercent < 0 || r.LossPercent > 100 || (r.JitterMS != nil && (*r.JitterMS < 0 || math.IsNaN(*r.JitterMS))) {
				t.Fatalf("report %+v", r)
			}
			if r.DTMF != (r.EventPresses+r.InbandDigits > 0) || r.DTMF == strings.HasPrefix(r.Verdict, "clean") {
				t.Fatalf("verdict %q for %+v", r.Verdict, r)
			}
			if len(r.Keys.RFC4733) != r.EventPresses || len(r.Keys.Inband) != r.InbandDigits {
				t.Fatalf("keys %+v for %+v", *r.Keys, r)
			}
			var buf bytes.Buffer
			if err := printInspection(&buf, reports[i:i+1], false, false); err != nil || strings.Count(buf.String(), "\n") != 2 {
				t.Fatalf("table %q, err %v", buf.String(), err)
			}
		}
		if err := printInspection(io.Discard, reports, true, true); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkInspectCapture measures inspect on one minute of a two-way
// G.711 call with twelve key presses each way: capture read, stream
// split, receive statistics, audio rebuilt, Detector and Tracker.
func BenchmarkInspectCapture(b *testing.B) {
	var n networkPlan
	pcm := make([]int16, 60*8000)
	for i := range 12 {
		toneAt(pcm, 2000+i*5000, dtmf.Key("0123456789*#"[i]))
	}
	n.stream(callerHost, gwCaller, 0xa, 0, g711Packets(at(0), 0, ptPCMU, pcm))
	n.stream(agentHost, gwAgent, 0xb, 0, g711Packets(at(10), 0, ptPCMA, pcm))
	data := n.pcap()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c, err := capture.Read(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		reports, err := inspectCapture(context.Background(), c)
		if err != nil || len(reports) != 2 || reports[0].InbandDigits != 12 || reports[1].InbandDigits != 12 {
			b.Fatalf("%+v, err %v", reports, err)
		}
	}
}

// A capture clock that steps back (NTP, merged captures) must not make a
// negative duration: it spans the earliest packet to the latest.
// (Found by FuzzInspectCapture.)
func TestInspectDurationWhenTheCaptureClockStepsBack(t *testing.T) {
	w := capturetest.New(capturetest.Ethernet)
	for i := range 10 {
		ms := 1000 + 20*i // records 0–4 at 1000–1080 ms, then the clock steps back a second
		if i >= 5 {
			ms -= 1000
		}
		h := rtp.Header{PayloadType: ptPCMU, SequenceNumber: uint16(i), Timestamp: uint32(160 * i), SSRC: 5}
		w.RTP(at(ms), callerHost, gwCaller, h, make([]byte, 160))
	}
	out, _, err := runInspectArgs(t, "--json", writeTemp(t, "back.pcap", w.Pcap()))
	if err != nil {
		t.Fatal(err)
	}
	var r streamReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.DurationMS != 980 || r.Packets != 10 { // 100 ms to 1080 ms
		t.Errorf("duration %d ms, want 980:\n%s", r.DurationMS, out)
	}
}

// Streams beyond capture.MaxStreams are not inspected: say so, rather
// than let a leak check pass over them in silence.
func TestInspectWarnsOfStreamsNotInspected(t *testing.T) {
	w := capturetest.New(capturetest.RawIP)
	for i := range capture.MaxStreams + 2 {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 4000)
		for j := range 2 {
			h := rtp.Header{PayloadType: 18, SequenceNumber: uint16(j), Timestamp: uint32(160 * j), SSRC: uint32(i)}
			w.RTP(at(20*j), src, gwCaller, h, make([]byte, 20))
		}
	}
	out, errOut, err := runInspectArgs(t, writeTemp(t, "many.pcap", w.Pcap()))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out, "\n"); n != 1+capture.MaxStreams {
		t.Errorf("%d lines, want a header and %d streams", n, capture.MaxStreams)
	}
	if want := "warning: 4 RTP packets of streams beyond the first 4096 not inspected"; !strings.Contains(errOut, want) {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
}

package offline

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
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

// pressPlan renders keys at 8 kHz: lead silence, then each key on for on
// and off for off, then lead silence again.
func pressPlan(keys string, lead, on, off time.Duration) []int16 {
	silence := func(dst []int16, d time.Duration) []int16 {
		return append(dst, make([]int16, int(d/sampleTime))...)
	}
	pcm := silence(nil, lead)
	for _, k := range []byte(keys) {
		pcm = dtmf.AppendDTMF(pcm, dtmf.ToneSpec{Key: dtmf.Key(k), LevelDBm0: -10, TwistDB: 2, Duration: on})
		pcm = silence(pcm, off)
	}
	return silence(pcm, lead)
}

// wavFile writes 16-bit PCM WAV with channels copies of each sample.
func wavFile(pcm []int16, rate, channels int) []byte {
	le := binary.LittleEndian
	var data []byte
	for _, s := range pcm {
		for range channels {
			data = le.AppendUint16(data, uint16(s))
		}
	}
	out := []byte("RIFF\x00\x00\x00\x00WAVEfmt ")
	out = le.AppendUint32(out, 16)
	out = le.AppendUint16(out, 1)
	out = le.AppendUint16(out, uint16(channels))
	out = le.AppendUint32(out, uint32(rate))
	out = le.AppendUint32(out, uint32(rate*2*channels))
	out = le.AppendUint16(out, uint16(2*channels))
	out = le.AppendUint16(out, 16)
	out = append(out, "data"...)
	out = le.AppendUint32(out, uint32(len(data)))
	out = append(out, data...)
	le.PutUint32(out[4:], uint32(len(out)-8))
	return out
}

// tonesAt renders keys directly at rate (no resampling in the test), with
// the same timing as pressPlan.
func tonesAt(rate int, keys string, lead, on, off time.Duration) []int16 {
	n := func(d time.Duration) int { return int(d * time.Duration(rate) / time.Second) }
	pcm := make([]int16, n(lead))
	for _, k := range []byte(keys) {
		lo, hi, _ := dtmf.KeyFrequencies(dtmf.Key(k))
		a := dtmf.Amplitude(-10)
		for i := range n(on) {
			t := float64(i) / float64(rate)
			pcm = append(pcm, int16(math.Round(a*math.Sin(2*math.Pi*lo*t)+a*1.26*math.Sin(2*math.Pi*hi*t))))
		}
		pcm = append(pcm, make([]int16, n(off))...)
	}
	return append(pcm, make([]int16, n(lead))...)
}

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runDetectArgs(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = Detect(context.Background(), args, &o, &e)
	return o.String(), e.String(), err
}

func TestDetectPrintsTheDigitsOfAudioFiles(t *testing.T) {
	const keys = "159#0*AD"
	lead, on, off := 500*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
	pcm := pressPlan(keys, lead, on, off)
	ulaw := make([]byte, len(pcm))
	alaw := make([]byte, len(pcm))
	g711.EncodeUlaw(ulaw, pcm)
	g711.EncodeAlaw(alaw, pcm)
	var raw []byte
	for _, s := range pcm {
		raw = binary.LittleEndian.AppendUint16(raw, uint16(s))
	}
	want := "500 1\n700 5\n900 9\n1100 #\n1300 0\n1500 *\n1700 A\n1900 D\n"
	tests := []struct {
		name string
		file string
		data []byte
		args []string
	}{
		{"wav 8 kHz", "call.wav", wavFile(pcm, 8000, 1), nil},
		{"wav 8 kHz stereo", "call.wav", wavFile(pcm, 8000, 2), nil},
		{"wav 44.1 kHz resampled", "call.wav", wavFile(tonesAt(44100, keys, lead, on, off), 44100, 1), nil},
		{"wav 16 kHz resampled, any name", "call.bin", wavFile(tonesAt(16000, keys, lead, on, off), 16000, 2), nil},
		{"ulaw by extension", "call.ulaw", ulaw, nil},
		{"alaw by extension", "call.al", alaw, nil},
		{"pcm16 by extension", "call.sln", raw, nil},
		{"ulaw by flag", "call.bin", ulaw, []string{"--format", "ulaw"}},
		{"alaw by flag", "call.bin", alaw, []string{"--format=alaw"}},
		{"pcm16 by flag", "call.bin", raw, []string{"-format", "pcm16"}},
		{"wav by flag", "call.bin", wavFile(pcm, 8000, 1), []string{"--format", "wav"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, tc.file, tc.data)
			out, errOut, err := runDetectArgs(t, append(tc.args, path)...)
			if err != nil {
				t.Fatalf("Detect: %v (stderr %q)", err, errOut)
			}
			if out != want {
				t.Errorf("output:\n%s\nwant:\n%s", out, want)
			}
		})
	}
}

func TestDetectReadsGzippedFiles(t *testing.T) {
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	pcm := pressPlan("42", 200*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond)
	ulaw := make([]byte, len(pcm))
	g711.EncodeUlaw(ulaw, pcm)
	for _, tc := range []struct {
		file string
		data []byte
		want string
	}{
		{"call.wav.gz", gz(wavFile(pcm, 8000, 1)), "200 4\n400 2\n"},
		{"call.ul.gz", gz(ulaw), "200 4\n400 2\n"},
		{"call.pcapng.gz", gz(callCapture().build(capturetest.LinuxSLL2).PcapNG()), callCaptureWant},
	} {
		out, _, err := runDetectArgs(t, writeTemp(t, tc.file, tc.data))
		if err != nil || out != tc.want {
			t.Errorf("%s: err %v, output:\n%s\nwant:\n%s", tc.file, err, out, tc.want)
		}
	}
	_, _, err := runDetectArgs(t, writeTemp(t, "bad.gz", []byte{0x1f, 0x8b, 0, 0, 0}))
	if err == nil || !strings.Contains(err.Error(), "bad.gz: gzip:") {
		t.Errorf("bad gzip: %v", err)
	}
}

func TestDetectJSONLines(t *testing.T) {
	path := writeTemp(t, "call.wav", wavFile(pressPlan("7*", 300*time.Millisecond, 80*time.Millisecond, 60*time.Millisecond), 8000, 1))
	out, _, err := runDetectArgs(t, "--json", path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"onset_ms":300,"digit":"7","source":"inband","duration_ms":80}
{"onset_ms":440,"digit":"*","source":"inband","duration_ms":80}
`
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

// rtpPlan collects the packets of a capture so they can be written in
// capture-time order whatever order the test makes them in.
type rtpPlan struct {
	pkts []plannedPacket
}

type plannedPacket struct {
	at       time.Time // capture time
	sent     time.Time // send time, for sequence numbers; zero: at
	src, dst netip.AddrPort
	h        rtp.Header
	payload  []byte
	udp      []byte // non-RTP datagram when set
}

func (p *rtpPlan) add(pp plannedPacket) { p.pkts = append(p.pkts, pp) }

// build writes the packets ordered by capture time, numbering each
// stream's sequence in the order its packets were sent, so that a test can
// delay and reorder arrivals while keeping sequence numbers true.
func (p *rtpPlan) build(link capturetest.Link) *capturetest.Builder {
	sent := func(pp plannedPacket) time.Time {
		if pp.sent.IsZero() {
			return pp.at
		}
		return pp.sent
	}
	bySend := append([]plannedPacket(nil), p.pkts...)
	sort.SliceStable(bySend, func(i, j int) bool { return sent(bySend[i]).Before(sent(bySend[j])) })
	seq := map[uint32]uint16{}
	for i := range bySend {
		if bySend[i].udp == nil {
			ssrc := bySend[i].h.SSRC
			bySend[i].h.SequenceNumber = 1000 + seq[ssrc]
			seq[ssrc]++
		}
	}
	sorted := bySend
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].at.Before(sorted[j].at) })
	w := capturetest.New(link)
	for _, pp := range sorted {
		if pp.udp != nil {
			w.UDP(pp.at, pp.src, pp.dst, pp.udp)
		} else {
			w.RTP(pp.at, pp.src, pp.dst, pp.h, pp.payload)
		}
	}
	return w
}

// audioStream adds pcm as 20 ms G.711 packets from start, skipping the
// packets whose index is in lose and delaying those in late by 30 ms.
func (p *rtpPlan) audioStream(start time.Time, src, dst netip.AddrPort, ssrc uint32, pt uint8, pcm []int16, lose, late map[int]bool) {
	p.audioFrom(start, 5000, src, dst, ssrc, pt, pcm, lose, late)
}

// audioFrom is audioStream with the RTP timestamp of the first sample.
func (p *rtpPlan) audioFrom(start time.Time, ts0 uint32, src, dst netip.AddrPort, ssrc uint32, pt uint8, pcm []int16, lose, late map[int]bool) {
	const frame = 160
	for i := 0; i*frame < len(pcm); i++ {
		if lose[i] {
			continue
		}
		chunk := pcm[i*frame : min((i+1)*frame, len(pcm))]
		payload := make([]byte, len(chunk))
		if pt == 8 {
			g711.EncodeAlaw(payload, chunk)
		} else {
			g711.EncodeUlaw(payload, chunk)
		}
		sentAt := start.Add(time.Duration(i) * 20 * time.Millisecond)
		at := sentAt
		if late[i] {
			at = at.Add(30 * time.Millisecond)
		}
		p.add(plannedPacket{at: at, sent: sentAt, src: src, dst: dst, h: rtp.Header{PayloadType: pt, Timestamp: ts0 + uint32(i*frame), SSRC: ssrc}, payload: payload})
	}
}

// eventPress adds one RFC 4733 press: updates every 20 ms after onset
// (durations 160, 320, …), then three end packets, at the 8 kHz clock with
// timestamp ts. skipFirst drops the first update; noEnd drops the end
// packets.
func (p *rtpPlan) eventPress(onset time.Time, src, dst netip.AddrPort, ssrc uint32, pt uint8, ts uint32, key dtmf.Key, length time.Duration, skipFirst, noEnd bool) {
	p.eventPressAt(8000, onset, src, dst, ssrc, pt, ts, key, length, skipFirst, noEnd)
}

// eventPressAt is eventPress with the telephone-event clock rate.
func (p *rtpPlan) eventPressAt(rate int, onset time.Time, src, dst netip.AddrPort, ssrc uint32, pt uint8, ts uint32, key dtmf.Key, length time.Duration, skipFirst, noEnd bool) {
	step := rate / 50 // clock units in 20 ms
	n := int(length / (20 * time.Millisecond))
	for i := 1; i <= n; i++ {
		if i == 1 && skipFirst {
			continue
		}
		end := i == n
		if end && noEnd {
			break
		}
		reps := 1
		if end {
			reps = 3
		}
		for range reps {
			p.add(plannedPacket{
				at: onset.Add(time.Duration(i) * 20 * time.Millisecond), src: src, dst: dst,
				h:       rtp.Header{PayloadType: pt, Timestamp: ts, SSRC: ssrc, Marker: i == 1},
				payload: capturetest.EventPayload(key.Code(), end, 10, uint16(step*i)),
			})
		}
	}
}

var (
	capStart = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	hostA    = netip.MustParseAddrPort("10.0.0.1:4000")
	hostB    = netip.MustParseAddrPort("10.0.0.2:5000")
	hostC    = netip.MustParseAddrPort("10.0.0.3:4002")
	hostD    = netip.MustParseAddrPort("10.0.0.4:5002")
	hostE    = netip.MustParseAddrPort("[2001:db8::5]:6000")
	hostF    = netip.MustParseAddrPort("[2001:db8::6]:7000")
)

func at(ms int) time.Time { return capStart.Add(time.Duration(ms) * time.Millisecond) }

// callCapture is a capture of three streams:
//
//   - A→B (SSRC 0xa): PCMU with the tones of "147" and, for the same
//     presses, telephone-event packets with PT 101 named by the SDP of the
//     SIP INVITE that opens the capture;
//   - C→D (SSRC 0xc): PCMA with the tones of "9*", two packets lost and two
//     arriving out of order, all in the silences;
//   - E→F over IPv6 (SSRC 0xe): telephone-events only, PT 96 with no SDP,
//     "0" with its first update lost and "#" with its end packets lost.
func callCapture() *rtpPlan {
	var p rtpPlan
	p.add(plannedPacket{at: at(0), src: netip.MustParseAddrPort("192.0.2.1:5060"), dst: netip.MustParseAddrPort("192.0.2.2:5060"), udp: capturetest.SIPWithSDP(hostB, 101, 8000)})

	// A→B starts at 100 ms; its keys start 300 ms into the stream.
	on, off, lead := 100*time.Millisecond, 100*time.Millisecond, 300*time.Millisecond
	p.audioStream(at(100), hostA, hostB, 0xa, 0, pressPlan("147", lead, on, off), nil, nil)
	for i, k := range "147" {
		startSample := 2400 + 1600*i // 300 ms + i·200 ms at 8 kHz
		p.eventPress(at(400+200*i), hostA, hostB, 0xa, 101, 5000+uint32(startSample), dtmf.Key(k), on, false, false)
	}

	// C→D starts at 150 ms.
	lose := map[int]bool{2: true, 3: true, 22: true}
	late := map[int]bool{6: true, 23: true}
	p.audioStream(at(150), hostC, hostD, 0xc, 8, pressPlan("9*", lead, on, off), lose, late)

	// E→F: events only.
	p.eventPress(at(1000), hostE, hostF, 0xe, 96, 90000, '0', 120*time.Millisecond, true, false)
	p.eventPress(at(1300), hostE, hostF, 0xe, 96, 90000+2400, '#', 100*time.Millisecond, false, true)
	return &p
}

const callCaptureWant = `400 1 10.0.0.1:4000>10.0.0.2:5000 ssrc=0xa rfc4733+inband
450 9 10.0.0.3:4002>10.0.0.4:5002 ssrc=0xc inband
600 4 10.0.0.1:4000>10.0.0.2:5000 ssrc=0xa rfc4733+inband
650 * 10.0.0.3:4002>10.0.0.4:5002 ssrc=0xc inband
800 7 10.0.0.1:4000>10.0.0.2:5000 ssrc=0xa rfc4733+inband
1000 0 [2001:db8::5]:6000>[2001:db8::6]:7000 ssrc=0xe rfc4733
1300 # [2001:db8::5]:6000>[2001:db8::6]:7000 ssrc=0xe rfc4733
`

func TestDetectPrintsTheDigitsOfCaptures(t *testing.T) {
	tests := []struct {
		name string
		link capturetest.Link
		ng   bool
		file string
		args []string
	}{
		{"pcap ethernet", capturetest.Ethernet, false, "call.pcap", nil},
		{"pcapng linux sll", capturetest.LinuxSLL, true, "call.pcapng", nil},
		{"pcap vlan, odd name", capturetest.EthernetVLAN, false, "call.dat", nil},
		{"pcapng raw ip with --format pcap", capturetest.RawIP, true, "call.cap", []string{"--format", "pcap"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := callCapture().build(tc.link)
			data := w.Pcap()
			if tc.ng {
				data = w.PcapNG()
			}
			path := writeTemp(t, tc.file, data)
			out, errOut, err := runDetectArgs(t, append(tc.args, path)...)
			if err != nil {
				t.Fatalf("Detect: %v (stderr %q)", err, errOut)
			}
			if out != callCaptureWant {
				t.Errorf("output:\n%s\nwant:\n%s", out, callCaptureWant)
			}
		})
	}
}

// A stream that pauses (hold, silence suppression) or whose timestamps
// jump must still time every press by when it happened.
func TestDetectTimesPressesAcrossPausesAndTimestampJumps(t *testing.T) {
	lead, on := 300*time.Millisecond, 100*time.Millisecond
	first := pressPlan("1", lead, on, 0)  // 0.7 s: 35 packets, tone at 300 ms
	second := pressPlan("2", lead, on, 0) // the same length, tone at 300 ms
	firstEnd := uint32(5000 + len(first)) // timestamp after the first part
	tests := []struct {
		name     string
		resumeAt int    // ms after capture start
		resumeTS uint32 // RTP timestamp of the second part
		want     string
	}{
		{"hold, clock kept running", 30700, firstEnd + 30000*8, "31000 2"},
		{"hold, timestamps contiguous", 30700, firstEnd, "31000 2"},
		{"short pause filled with silence", 5700, firstEnd + 5000*8, "6000 2"},
		{"timestamp jump without pause", 700, firstEnd + 123456789, "1000 2"},
		{"timestamp jump backwards", 700, firstEnd - 99999999, "1000 2"},
		{"timestamps wrap", 700, firstEnd, "1000 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p rtpPlan
			ts0 := uint32(5000)
			if tc.name == "timestamps wrap" {
				ts0 = 0xFFFFFFFF - 2000 // wraps inside the first part
				tc.resumeTS = ts0 + uint32(len(first))
			}
			p.audioFrom(at(0), ts0, hostA, hostB, 0xa, 0, first, nil, nil)
			p.audioFrom(at(tc.resumeAt), tc.resumeTS, hostA, hostB, 0xa, 0, second, nil, nil)
			path := writeTemp(t, "hold.pcap", p.build(capturetest.Ethernet).Pcap())
			out, _, err := runDetectArgs(t, path)
			if err != nil {
				t.Fatal(err)
			}
			want := "300 1 10.0.0.1:4000>10.0.0.2:5000 ssrc=0xa inband\n" + tc.want + " 10.0.0.1:4000>10.0.0.2:5000 ssrc=0xa inband\n"
			if out != want {
				t.Errorf("output:\n%s\nwant:\n%s", out, want)
			}
		})
	}
}

// Some senders give telephone-event an SSRC of its own: the press is still
// one press per direction, printed with the event stream's name.
func TestDetectMergesEventsAndToneOfOneDirectionAcrossSSRCs(t *testing.T) {
	var p rtpPlan
	p.audioStream(at(0), hostA, hostB, 0xa, 0, pressPlan("8", 300*time.Millisecond, 100*time.Millisecond, 0), nil, nil)
	p.eventPress(at(300), hostA, hostB, 0xbbb, 101, 42, '8', 100*time.Millisecond, false, false)
	// The other direction's tone is another press.
	p.audioStream(at(5), hostB, hostA, 0xc, 0, pressPlan("8", 300*time.Millisecond, 100*time.Millisecond, 0), nil, nil)
	path := writeTemp(t, "ssrc.pcap", p.build(capturetest.Ethernet).Pcap())
	out, _, err := runDetectArgs(t, path)
	if err != nil {
		t.Fatal(err)
	}
	want := "300 8 10.0.0.1:4000>10.0.0.2:5000 ssrc=0xbbb rfc4733+inband\n" +
		"305 8 10.0.0.2:5000>10.0.0.1:4000 ssrc=0xc inband\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

func TestDetectReadsSIPInfoInCaptures(t *testing.T) {
	sip1 := netip.MustParseAddrPort("192.0.2.1:5060")
	sip2 := netip.MustParseAddrPort("192.0.2.2:5060")
	var p rtpPlan
	relay := capturetest.SIPInfo(2, "application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	p.add(plannedPacket{at: at(0), src: sip1, dst: sip2, udp: relay})
	p.add(plannedPacket{at: at(500), src: sip1, dst: sip2, udp: relay}) // retransmission
	p.add(plannedPacket{at: at(900), src: sip1, dst: sip2, udp: capturetest.SIPInfo(3, "application/dtmf", []byte("11"))})
	p.add(plannedPacket{at: at(950), src: sip1, dst: sip2, udp: capturetest.SIPInfo(4, "application/dtmf-relay", []byte("Signal=X"))})
	p.add(plannedPacket{at: at(990), src: sip1, dst: sip2, udp: capturetest.SIPInfo(5, "application/media_control+xml", []byte("<media_control/>"))})
	path := writeTemp(t, "info.pcap", p.build(capturetest.Ethernet).Pcap())
	out, errOut, err := runDetectArgs(t, "-v", path)
	if err != nil {
		t.Fatal(err)
	}
	want := "0 5 192.0.2.1:5060>192.0.2.2:5060 call-id=1@example.com sipinfo\n" +
		"900 # 192.0.2.1:5060>192.0.2.2:5060 call-id=1@example.com sipinfo\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if !strings.Contains(errOut, "at 950 ms: dtmf: malformed SIP INFO DTMF body") || strings.Contains(errOut, "Signal=X") {
		t.Errorf("-v output does not report the malformed body safely:\n%s", errOut)
	}
	out, _, _ = runDetectArgs(t, "--json", path)
	if first, _, _ := strings.Cut(out, "\n"); first != `{"onset_ms":0,"digit":"5","source":"sipinfo","duration_ms":160,"stream":"192.0.2.1:5060>192.0.2.2:5060 call-id=1@example.com"}` {
		t.Errorf("json %s", first)
	}
}

// Telephone-event clocks other than 8 kHz (DTMF.md: some peers use 16 or
// 48 kHz) must give the same onsets and lengths, from SDP or inferred.
func TestDetectEventsAtOtherClockRates(t *testing.T) {
	for _, rate := range []int{16000, 48000} {
		for _, withSDP := range []bool{true, false} {
			var p rtpPlan
			if withSDP {
				p.add(plannedPacket{at: at(0), src: netip.MustParseAddrPort("192.0.2.1:5060"), dst: netip.MustParseAddrPort("192.0.2.2:5060"), udp: capturetest.SIPWithSDP(hostB, 101, rate)})
			}
			p.eventPressAt(rate, at(400), hostA, hostB, 0xa, 101, 77, '3', 120*time.Millisecond, false, false)
			p.eventPressAt(rate, at(700), hostA, hostB, 0xa, 101, 77+uint32(rate*3/10), 'C', 200*time.Millisecond, true, false)
			path := writeTemp(t, "rate.pcap", p.build(capturetest.Ethernet).Pcap())
			out, _, err := runDetectArgs(t, "--json", path)
			if err != nil {
				t.Fatal(err)
			}
			// Without the SIP packet, the capture starts with the first
			// event packet, 20 ms after the first onset.
			origin := int64(0)
			if !withSDP {
				origin = 420
			}
			var got []detection
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var d detection
				if err := json.Unmarshal([]byte(line), &d); err != nil {
					t.Fatalf("%q: %v", line, err)
				}
				got = append(got, d)
			}
			want := []detection{
				{OnsetMS: 400 - origin, Digit: "3", Source: "rfc4733", DurationMS: 120, Stream: "10.0.0.1:4000>10.0.0.2:5000 ssrc=0xa"},
				{OnsetMS: 700 - origin, Digit: "C", Source: "rfc4733", DurationMS: 200, Stream: "10.0.0.1:4000>10.0.0.2:5000 ssrc=0xa"},
			}
			if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
				t.Errorf("%d Hz, sdp %v:\ngot  %+v\nwant %+v", rate, withSDP, got, want)
			}
		}
	}
}

func TestDetectCaptureJSONAndVerbose(t *testing.T) {
	path := writeTemp(t, "call.pcap", callCapture().build(capturetest.Ethernet).Pcap())
	out, errOut, err := runDetectArgs(t, "--json", "-v", path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 7 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	var first detection
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	want := detection{OnsetMS: 400, Digit: "1", Source: "rfc4733+inband", DurationMS: 100, Stream: "10.0.0.1:4000>10.0.0.2:5000 ssrc=0xa"}
	if first != want {
		t.Errorf("first line %+v, want %+v", first, want)
	}
	for _, s := range []string{
		"3 streams",
		"stream 10.0.0.1:4000>10.0.0.2:5000 ssrc=0xa:",
		"telephone-event PT 101/8000 (sdp)",
		"telephone-event PT 96/8000 (inferred)",
		"no G.711 audio",
	} {
		if !strings.Contains(errOut, s) {
			t.Errorf("-v output lacks %q:\n%s", s, errOut)
		}
	}
}

func TestDetectWarnsOfATruncatedCaptureAndPrintsWhatCameBefore(t *testing.T) {
	data := callCapture().build(capturetest.Ethernet).Pcap()
	path := writeTemp(t, "cut.pcap", data[:len(data)-20])
	out, errOut, err := runDetectArgs(t, path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(callCaptureWant, out) || strings.Count(out, "\n") < 6 {
		t.Errorf("output:\n%s\nwant a prefix of:\n%s", out, callCaptureWant)
	}
	if !strings.Contains(errOut, "cut.pcap: warning: capture: malformed capture file: stopped after 139 records") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestDetectExplainsACaptureWithoutRTP(t *testing.T) {
	w := capturetest.New(capturetest.Ethernet)
	w.UDP(capStart, hostA, hostB, []byte("just some datagram"))
	path := writeTemp(t, "empty.pcap", w.Pcap())
	out, errOut, err := runDetectArgs(t, path)
	if err != nil || out != "" {
		t.Fatalf("err %v, output %q", err, out)
	}
	if want := "capture: 1 records (0 not IP/UDP/TCP over a known link type), 1 UDP, 0 RTP packets in 0 streams"; !strings.Contains(errOut, want) {
		t.Errorf("stderr %q lacks %q", errOut, want)
	}
}

func TestDetectErrorsNameTheFileAndTheReason(t *testing.T) {
	dir := t.TempDir()
	good := wavFile(pressPlan("1", 100*time.Millisecond, 100*time.Millisecond, 0), 8000, 1)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		args []string
		msg  string
	}{
		{"missing file", []string{filepath.Join(dir, "missing.wav")}, "missing.wav: no such file or directory"},
		{"directory", []string{dir}, "is a directory"},
		{"truncated wav", []string{write("cut.wav", good[:len(good)-100])}, "cut.wav: audiofile: malformed file: truncated: data chunk claims"},
		{"wav header only", []string{write("head.wav", good[:20])}, "head.wav: audiofile: malformed file: truncated"},
		{"unknown extension", []string{write("call.mp3", []byte("ID3\x03"))}, `call.mp3: audiofile: unknown format: no RIFF header and extension ".mp3" is not known; say which with --format`},
		{"wav that is not", []string{write("fake.wav", []byte("hello, world"))}, "fake.wav: audiofile: malformed file: no RIFF header"},
		{"odd pcm16", []string{"--format", "pcm16", write("odd.raw", []byte{1, 2, 3})}, "odd.raw: audiofile: malformed file: raw 16-bit PCM has an odd number of bytes (3)"},
		{"pcap flag on a wav", []string{"--format", "pcap", write("x.wav", good)}, "x.wav: --format pcap: capture: not a pcap or pcapng file"},
		{"truncated pcap header", []string{write("cut.pcap", callCapture().build(capturetest.Ethernet).Pcap()[:12])}, "cut.pcap: capture: malformed capture file: pcap header"},
		{"unsupported wav", []string{write("mp3.wav", mp3InWAV(good))}, "mp3.wav: audiofile: unsupported audio: WAV format tag 0x0055 (MPEG layer 3)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runDetectArgs(t, tc.args...)
			if err == nil || errors.Is(err, cli.ErrUsage) {
				t.Fatalf("err %v, want a file error", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
			if out != "" {
				t.Errorf("output %q on error", out)
			}
		})
	}
}

// mp3InWAV rewrites the format tag of a WAV built by wavFile.
func mp3InWAV(wav []byte) []byte {
	b := append([]byte(nil), wav...)
	binary.LittleEndian.PutUint16(b[20:], 0x55)
	return b
}

func TestDetectUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want error
	}{
		{"no file", nil, cli.ErrUsage},
		{"two files", []string{"a.wav", "b.wav"}, cli.ErrUsage},
		{"bad format", []string{"--format", "mp3", "a.wav"}, cli.ErrUsage},
		{"unknown flag", []string{"--frobnicate", "a.wav"}, nil},
		{"help", []string{"-h"}, flag.ErrHelp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := runDetectArgs(t, tc.args...)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if out != "" || !strings.Contains(errOut, "usage: dtmfgw detect") && !strings.Contains(errOut, "--format") {
				t.Errorf("stdout %q, stderr %q", out, errOut)
			}
		})
	}
}

func TestDetectStopsWhenCancelled(t *testing.T) {
	path := writeTemp(t, "call.wav", wavFile(pressPlan("12", time.Second, 100*time.Millisecond, 100*time.Millisecond), 8000, 1))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	pcapPath := writeTemp(t, "call.pcap", callCapture().build(capturetest.Ethernet).Pcap())
	for _, p := range []string{path, pcapPath} {
		var o, e bytes.Buffer
		if err := Detect(ctx, []string{p}, &o, &e); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err %v, want context.Canceled", filepath.Base(p), err)
		}
	}
}

// FuzzDetectCapture runs whole captures through the detect pipeline
// (stream split, Tracker, audio rebuilt on the RTP clock, Detector, merge):
// no capture may crash it, and every press it reports is a key with a
// non-negative length.
func FuzzDetectCapture(f *testing.F) {
	small := func(link capturetest.Link) []byte {
		var p rtpPlan
		p.add(plannedPacket{at: at(0), src: netip.MustParseAddrPort("192.0.2.1:5060"), dst: netip.MustParseAddrPort("192.0.2.2:5060"), udp: capturetest.SIPWithSDP(hostB, 101, 8000)})
		p.audioStream(at(10), hostA, hostB, 0xa, 0, pressPlan("5", 40*time.Millisecond, 60*time.Millisecond, 0), map[int]bool{1: true}, map[int]bool{3: true})
		p.eventPress(at(50), hostA, hostB, 0xa, 101, 5000+320, '5', 60*time.Millisecond, true, false)
		p.eventPress(at(200), hostE, hostF, 0xe, 96, 7, '#', 60*time.Millisecond, false, true)
		return p.build(link).Pcap()
	}
	f.Add(small(capturetest.Ethernet))
	f.Add(small(capturetest.RawIP))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := capture.Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		found, err := detectCapture(context.Background(), c, io.Discard, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range found {
			if k, ok := dtmf.KeyFromChar(d.Digit[0]); !ok || len(d.Digit) != 1 || k.Reveal() != d.Digit {
				t.Fatalf("digit %q", d.Digit)
			}
			if d.DurationMS < 0 {
				t.Fatalf("negative duration %+v", d)
			}
		}
	})
}

// BenchmarkDetectCapture measures the whole pipeline on one minute of a
// two-way G.711 call with twelve key presses each way: capture read,
// stream split, audio rebuilt, Detector and Tracker.
func BenchmarkDetectCapture(b *testing.B) {
	var p rtpPlan
	pcm := pressPlan("0123456789*#", 5*time.Second, 100*time.Millisecond, 100*time.Millisecond)
	minute := make([]int16, 0, 60*8000)
	for len(minute)+len(pcm) <= 60*8000 {
		minute = append(minute, pcm...)
	}
	p.audioStream(at(0), hostA, hostB, 0xa, 0, minute, nil, nil)
	p.audioStream(at(10), hostB, hostA, 0xb, 8, minute, nil, nil)
	data := p.build(capturetest.Ethernet).Pcap()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		c, err := capture.Read(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		found, err := detectCapture(context.Background(), c, io.Discard, false)
		if err != nil || len(found) != 2*4*12 {
			b.Fatalf("%d presses, err %v", len(found), err)
		}
	}
}

// Random calls: keys of random lengths and pauses, sent both as
// telephone-events and as tones in one stream, with event packets lost
// (sometimes every end packet), delayed and reordered, and audio packets
// lost in the pauses. Every press must be printed once, with both sources,
// at its true onset.
func TestDetectRandomCallsCountEachPressOnce(t *testing.T) {
	const keys = "0123456789*#ABCD"
	for seed := uint64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		var p rtpPlan
		type press struct {
			onset int // samples from stream start
			key   dtmf.Key
			n     int // samples
		}
		var presses []press
		pcm := make([]int16, 8000/5) // 200 ms lead
		for range 4 + rng.IntN(6) {
			k := dtmf.Key(keys[rng.IntN(len(keys))])
			on := time.Duration(60+rng.IntN(140)) * time.Millisecond
			presses = append(presses, press{onset: len(pcm), key: k, n: int(on / sampleTime)})
			pcm = dtmf.AppendDTMF(pcm, dtmf.ToneSpec{Key: k, LevelDBm0: -8 - 10*rng.Float64(), TwistDB: 2, Duration: on})
			pcm = append(pcm, make([]int16, int(time.Duration(80+rng.IntN(300))*time.Millisecond/sampleTime))...)
		}
		pcm = append(pcm, make([]int16, 1600)...)
		// Audio: lose packets only where no tone is, so that the tones
		// themselves are intact.
		inTone := func(frame int) bool {
			for _, pr := range presses {
				if frame*160 < pr.onset+pr.n && (frame+1)*160 > pr.onset {
					return true
				}
			}
			return false
		}
		lose := map[int]bool{}
		for f := 0; f*160 < len(pcm); f++ {
			if !inTone(f) && rng.IntN(10) == 0 {
				lose[f] = true
			}
		}
		start := at(0)
		p.audioStream(start, hostA, hostB, 0xa, 0, pcm, lose, nil)
		// Events: every 20 ms an update, then three ends; each packet may
		// be lost (10%) or delayed by up to 30 ms (so reordered).
		for _, pr := range presses {
			n := pr.n / 160
			for i := 1; i <= n+2; i++ {
				end := i >= n
				dur := uint16(160 * min(i, n))
				if rng.IntN(10) == 0 {
					continue
				}
				sendAt := start.Add(time.Duration(pr.onset+160*min(i, n))*sampleTime + time.Duration(i-min(i, n))*time.Millisecond)
				arrive := sendAt.Add(time.Duration(rng.IntN(30)) * time.Millisecond)
				p.add(plannedPacket{at: arrive, sent: sendAt, src: hostA, dst: hostB,
					h:       rtp.Header{PayloadType: 101, Timestamp: 5000 + uint32(pr.onset), SSRC: 0xa},
					payload: capturetest.EventPayload(pr.key.Code(), end, 10, dur)})
			}
		}
		c, err := capture.Read(bytes.NewReader(p.build(capturetest.Ethernet).Pcap()))
		if err != nil {
			t.Fatal(err)
		}
		found, err := detectCapture(context.Background(), c, io.Discard, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != len(presses) {
			t.Errorf("seed %d: %d presses found, %d sent: %+v", seed, len(found), len(presses), found)
			continue
		}
		// Onsets count from the first packet of the capture, which is
		// later than the stream's start when its first packets were lost.
		origin := roundMS(c.First.Sub(start))
		for i, pr := range presses {
			d := found[i]
			wantMS := samplesToMS(int64(pr.onset)) - origin
			if d.Digit != pr.key.Reveal() || d.Source != "rfc4733+inband" || d.OnsetMS < wantMS-1 || d.OnsetMS > wantMS+1 {
				t.Errorf("seed %d press %d: got %+v, want %s at %d ms from both sources", seed, i, d, pr.key, wantMS)
			}
		}
	}
}

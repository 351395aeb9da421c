package sipptest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
	"dtmfgw/internal/capture"
	"dtmfgw/internal/testkit"
	"dtmfgw/internal/testkit/leakcheck"

	"github.com/pion/rtp"
)

func TestCanaryCardIsLuhnValid(t *testing.T) {
	sum := 0
	for i := range len(CanaryCard) {
		d := int(CanaryCard[len(CanaryCard)-1-i] - '0')
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	if len(CanaryCard) != 16 || sum%10 != 0 {
		t.Fatal("CanaryCard is not a 16-digit Luhn-valid number")
	}
	if CanaryCard == "4111111111111111" || CanaryCard == "4242424242424242" {
		t.Fatal("CanaryCard must not be a published test card")
	}
}

func TestCallerRTPPackets(t *testing.T) {
	c := CallerRTP{Keys: "19", Mode: Events}
	pkts, err := c.Packets()
	if err != nil {
		t.Fatal(err)
	}
	// 200 ms lead, two presses of 80 ms on and 80 ms off, 200 ms tail.
	const frames = 10 + 2*(4+4) + 10
	if d := c.Duration(); d != frames*20*time.Millisecond {
		t.Errorf("Duration() = %v, want %v", d, frames*20*time.Millisecond)
	}
	var audio, events int
	type press struct {
		updates, ends int
		markers       int
		maxDur        uint16
	}
	presses := map[uint32]*press{}
	var order []uint32
	for i, tp := range pkts {
		p := tp.Packet
		if i > 0 && p.SequenceNumber != pkts[i-1].Packet.SequenceNumber+1 {
			t.Fatalf("packet %d: sequence %d after %d", i, p.SequenceNumber, pkts[i-1].Packet.SequenceNumber)
		}
		if i > 0 && tp.At < pkts[i-1].At {
			t.Fatalf("packet %d goes back in time", i)
		}
		if p.SSRC != defaultSSRC {
			t.Fatalf("packet %d: SSRC %x", i, p.SSRC)
		}
		switch p.PayloadType {
		case 0:
			if p.Marker != (audio == 0) {
				t.Errorf("audio packet %d: marker %v", audio, p.Marker)
			}
			if want := uint32(defaultTS) + uint32(audio*frameSamples); p.Timestamp != want {
				t.Errorf("audio packet %d: timestamp %d, want %d", audio, p.Timestamp, want)
			}
			audio++
		case DefaultEventPT:
			events++
			ev, err := dtmf.DecodeTelephoneEvent(p.Payload)
			if err != nil {
				t.Fatal(err)
			}
			pr := presses[p.Timestamp]
			if pr == nil {
				pr = &press{}
				presses[p.Timestamp] = pr
				order = append(order, p.Timestamp)
			}
			if p.Marker {
				pr.markers++
			}
			if ev.End {
				pr.ends++
				if ev.Duration != 4*frameSamples {
					t.Errorf("end packet duration %d, want %d", ev.Duration, 4*frameSamples)
				}
			} else {
				pr.updates++
				if ev.Duration != uint16(pr.updates*frameSamples) {
					t.Errorf("update %d duration %d", pr.updates, ev.Duration)
				}
			}
			pr.maxDur = max(pr.maxDur, ev.Duration)
		default:
			t.Fatalf("packet %d: payload type %d", i, p.PayloadType)
		}
	}
	if audio != frames {
		t.Errorf("%d audio packets, want %d", audio, frames)
	}
	if len(order) != 2 || events != 2*(4+3) {
		t.Fatalf("%d presses in %d event packets, want 2 in 14", len(order), events)
	}
	for _, ts := range order {
		pr := presses[ts]
		if pr.updates != 4 || pr.ends != 3 || pr.markers != 1 {
			t.Errorf("press at %d: %d updates, %d end packets, %d markers; want 4, 3 (RFC 4733 §2.5.1.4), 1", ts, pr.updates, pr.ends, pr.markers)
		}
	}
	if order[1]-order[0] != 8*frameSamples {
		t.Errorf("presses %d samples apart, want %d", order[1]-order[0], 8*frameSamples)
	}
}

// The keys each mode carries are found where they should be, and nowhere
// else, before SIPp is involved.
func TestCallerRTPCarriesKeys(t *testing.T) {
	for _, tc := range []struct {
		c              CallerRTP
		events, inband string
	}{
		{CallerRTP{Keys: "4929#*AD", Mode: Events}, "4929#*AD", ""},
		{CallerRTP{Keys: "4929#*AD", Mode: Inband}, "", "4929#*AD"},
		{CallerRTP{Keys: "4929#*AD", Mode: Both, Law: g711.Alaw, EventPT: 96}, "4929#*AD", "4929#*AD"},
		{CallerRTP{}, "", ""},
	} {
		tps, err := tc.c.Packets()
		if err != nil {
			t.Fatal(err)
		}
		pkts := make([]rtp.Packet, len(tps))
		for i, tp := range tps {
			pkts[i] = tp.Packet
		}
		pt := tc.c.EventPT
		if pt == 0 {
			pt = DefaultEventPT
		}
		if got := leakcheck.EventKeys(pkts, pt, 0).Reveal(); got != tc.events {
			t.Errorf("%v: events carry %q, want %q", tc.c.Mode, got, tc.events)
		}
		law := tc.c.Law
		if law == 0 {
			law = g711.Ulaw
		}
		pcm, err := leakcheck.Audio(pkts, tc.c.AudioPT(), law)
		if err != nil {
			t.Fatal(err)
		}
		if got := leakcheck.DetectorKeys(pcm).Reveal(); got != tc.inband {
			t.Errorf("%v: audio carries %q, want %q", tc.c.Mode, got, tc.inband)
		}
	}
}

// The pcap is one our own capture reader takes apart again: one stream,
// every packet.
func TestCallerRTPPcap(t *testing.T) {
	c := CallerRTP{Keys: "12", Mode: Both}
	data, d, err := c.Pcap()
	if err != nil {
		t.Fatal(err)
	}
	pkts, _ := c.Packets()
	if d != c.Duration() {
		t.Errorf("Pcap duration %v, Duration() %v", d, c.Duration())
	}
	cp, err := capture.Read(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(cp.Streams) != 1 || len(cp.Streams[0].Packets) != len(pkts) {
		t.Fatalf("capture reader finds %d streams, want 1 with %d packets", len(cp.Streams), len(pkts))
	}
}

func TestCallerRTPRejects(t *testing.T) {
	for _, c := range []CallerRTP{
		{Keys: "1"},                // no mode
		{Keys: "1x", Mode: Events}, // not a key
		{Keys: "1", Mode: Events, EventPT: 8},
		{Keys: "1", Mode: Events, Tone: 20 * time.Millisecond},
		{Keys: "1", Mode: Events, Gap: 40 * time.Millisecond},
		{Law: g711.Law(9)},
		{Tail: 11 * time.Minute},
	} {
		if _, err := c.Packets(); !errors.Is(err, ErrCallerRTP) {
			t.Errorf("%+v: error %v, want ErrCallerRTP", c, err)
		}
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{Events: "rfc4733", Inband: "inband", Both: "rfc4733+inband", 0: "Mode(0)"} {
		if got := m.String(); got != want {
			t.Errorf("Mode %d: %q, want %q", int(m), got, want)
		}
	}
}

const statsSample = "StartTime;CurrentTime;TotalCallCreated;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);FailedUnexpectedMessage(C);FailedTimeoutOnRecv(C);Retransmissions(C);DeadCallMsgs(C);ResponseTime1(C);CallLength(C);\n" +
	"2026-01-01;2026-01-01;0;0;0;0;0;0;0;0;0;00:00:00:000000;00:00:00:000000;\n" +
	"2026-01-01;2026-01-01;5;2;4;1;1;1;0;3;2;00:00:00:012000;00:00:02:960000;\n" +
	"2026-01-01;2026-01"

func TestParseStats(t *testing.T) {
	row, err := parseStats([]byte(statsSample))
	if err != nil {
		t.Fatal(err)
	}
	var r Result
	r.fill(row)
	if r.Created != 5 || r.Successful != 4 || r.Failed != 1 || r.Retransmissions != 3 || r.DeadCallMessages != 2 {
		t.Errorf("counters %+v", r)
	}
	if len(r.FailureReasons) != 1 || r.FailureReasons["FailedUnexpectedMessage"] != 1 {
		t.Errorf("failure reasons %v", r.FailureReasons)
	}
	if r.ResponseTime != 12*time.Millisecond || r.CallLength != 2960*time.Millisecond || r.Stats["TotalCallCreated"] != "5" {
		t.Errorf("response time %v, call length %v, stats %v", r.ResponseTime, r.CallLength, r.Stats)
	}
	for _, bad := range []string{"", "a;b;c\n", "a;b\n1;2;3\n", strings.Repeat("x;", 2000) + "\n1\n"} {
		if _, err := parseStats([]byte(bad)); !errors.Is(err, errStats) {
			t.Errorf("parseStats(%.20q): error %v", bad, err)
		}
	}
}

func TestPeakColumn(t *testing.T) {
	data := []byte("StartTime;CurrentCall;TotalCallCreated;\n" +
		"t0;0;0;\n" +
		"t1;148;150;\n" +
		"t2;151;300;\n" +
		"t3;12;310;\n" +
		"t4;999\n") // cut short: not counted
	if got := peakColumn(data, "CurrentCall"); got != 151 {
		t.Errorf("peakColumn = %d, want 151", got)
	}
	if got := peakColumn(data, "Missing"); got != 0 {
		t.Errorf("peakColumn of a missing column = %d", got)
	}
	if got := peakColumn(nil, "CurrentCall"); got != 0 {
		t.Errorf("peakColumn(nil) = %d", got)
	}
}

func TestResponseBuckets(t *testing.T) {
	stats := map[string]string{
		"ResponseTimeRepartition1_<10":   "990",
		"ResponseTimeRepartition1_<20":   "0",
		"ResponseTimeRepartition1_<200":  "2",
		"ResponseTimeRepartition1_<50":   "8",
		"ResponseTimeRepartition1_>=500": "1",
		"ResponseTimeRepartition1":       "",
		"CallLengthRepartition_<1000":    "5",
	}
	want := "< 10 ms: 990, < 50 ms: 8, < 200 ms: 2, ≥ 500 ms: 1"
	if got := ResponseBuckets(stats); got != want {
		t.Errorf("ResponseBuckets = %q, want %q", got, want)
	}
	if got := ResponseBuckets(nil); got != "-" {
		t.Errorf("ResponseBuckets(nil) = %q", got)
	}
}

func FuzzParseStats(f *testing.F) {
	f.Add([]byte(statsSample))
	f.Fuzz(func(t *testing.T, data []byte) {
		row, err := parseStats(data)
		if err != nil {
			return
		}
		var r Result
		r.fill(row)
	})
}

func TestParseStatDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"00:00:00:000000", 0, true},
		{"00:00:00:012000", 12 * time.Millisecond, true},
		{"01:02:03:000004", time.Hour + 2*time.Minute + 3*time.Second + 4*time.Microsecond, true},
		{" 00:00:02:960000 ", 2960 * time.Millisecond, true},
		{"", 0, false},
		{"00:00:00", 0, false},
		{"00:60:00:000000", 0, false},
		{"00:00:00:1000000", 0, false},
		{"00:00:-1:000000", 0, false},
		{"999999999:00:00:000000", 0, false},
		{"00:00:0x:000000", 0, false},
		{"00:00:00:000000:00", 0, false},
	} {
		got, err := parseStatDuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseStatDuration(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, errStatDuration) {
			t.Errorf("parseStatDuration(%q): error %v does not wrap errStatDuration", tc.in, err)
		}
	}
}

func FuzzParseStatDuration(f *testing.F) {
	f.Add("00:00:00:012000")
	f.Add("100000:59:59:999999")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseStatDuration(s)
		if err == nil && (d < 0 || d > (maxStatHours+1)*time.Hour) {
			t.Fatalf("parseStatDuration(%q) = %v", s, d)
		}
	})
}

func TestResultCheck(t *testing.T) {
	ok := Result{Scenario: "x", Successful: 2}
	if err := ok.Check(2); err != nil {
		t.Errorf("Check: %v", err)
	}
	for _, r := range []Result{
		{Successful: 1},
		{Successful: 2, Failed: 1, ExitCode: 1, FailureReasons: map[string]int{"FailedTimeoutOnRecv": 1}},
		{Successful: 2, ExitCode: 99},
	} {
		if err := r.Check(2); err == nil {
			t.Errorf("%+v passed Check(2)", r)
		}
	}
}

func TestRedact(t *testing.T) {
	in := "INFO sip:a SIP/2.0\r\n\r\nSignal=4\r\nDuration=160\r\n  signal=9\n"
	got := redact([]byte(in))
	if strings.ContainsAny(got, "49") {
		t.Errorf("redact left a key: %q", got)
	}
	if !strings.Contains(got, "Duration=160") {
		t.Errorf("redact removed more than the key: %q", got)
	}
	log := "audio: send DTMF digit: '4'\naudio: send DTMF digit end: '#'\nDTMF: received event 'A' and '3'\nclock '5'\n"
	got = redactDigits(log)
	if strings.ContainsAny(got, "4#A3") || !strings.Contains(got, "clock '5'") {
		t.Errorf("redactDigits: %q", got)
	}
}

func TestNetstring(t *testing.T) {
	var buf []byte
	msgs := [][]byte{[]byte(`{"command":"dial"}`), {}, []byte("a,b:c")}
	for _, m := range msgs {
		buf = appendNetstring(buf, m)
	}
	if !bytes.HasPrefix(buf, []byte(`18:{"command":"dial"},0:,5:a,b:c,`)) {
		t.Fatalf("encoded %q", buf)
	}
	r := bufio.NewReader(bytes.NewReader(buf))
	for _, want := range msgs {
		got, err := readNetstring(r)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	if _, err := readNetstring(r); err != io.EOF {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
	for in, want := range map[string]error{
		"3:ab":       io.ErrUnexpectedEOF,
		"3":          io.ErrUnexpectedEOF,
		"3:abc;":     errNetstring,
		":abc,":      errNetstring,
		"x:":         errNetstring,
		"03:abc,":    errNetstring,
		"99999999:x": errNetstring,
	} {
		if _, err := readNetstring(bufio.NewReader(strings.NewReader(in))); !errors.Is(err, want) {
			t.Errorf("readNetstring(%q): %v, want %v", in, err, want)
		}
	}
}

func FuzzNetstring(f *testing.F) {
	f.Add([]byte(`5:hello,0:,`))
	f.Add([]byte(`12:{"event":1},`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for range 1000 {
			frame, err := readNetstring(r)
			if err != nil {
				return
			}
			again, err := readNetstring(bufio.NewReader(bytes.NewReader(appendNetstring(nil, frame))))
			if err != nil || !bytes.Equal(again, frame) {
				t.Fatalf("round trip of %q: %q, %v", frame, again, err)
			}
		}
	})
}

const procNetSample = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 4224: 0100007F:C132 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1190415 2 00000000ce8b43eb 0
 4225: 00000000:13C4 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0
 4226: 0200007F:13C5 0100007F:13C4 01 00000000:00000000 00:00000000 00000000     0        0 778 1 0000000000000000 100 0 0 10 0
`

func TestProcNetInodes(t *testing.T) {
	for _, tc := range []struct {
		addr string
		tcp  bool
		want []uint64
	}{
		{"127.0.0.1:49458", false, []uint64{1190415}},
		{"127.0.0.1:5060", true, []uint64{777}}, // bound to 0.0.0.0, listening
		{"127.0.0.2:5061", true, nil},           // connected, not listening
		{"127.0.0.2:5061", false, []uint64{778}},
		{"127.0.0.3:49458", false, nil},
	} {
		got, err := procNetInodes([]byte(procNetSample), netip.MustParseAddrPort(tc.addr), tc.tcp)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
			t.Errorf("%s tcp=%v: %v, want %v", tc.addr, tc.tcp, got, tc.want)
		}
	}
	for _, bad := range []string{"h\n1: 0100007F 0 07 a b c d e 5\n", "h\n1: zz00007F:0001 0 07 a b c d e 5\n", "h\n1: 0100007F:0001 0 07\n"} {
		if _, err := procNetInodes([]byte(bad), netip.MustParseAddrPort("127.0.0.1:1"), false); !errors.Is(err, errProcNet) {
			t.Errorf("procNetInodes(%q): %v", bad, err)
		}
	}
}

func FuzzProcNetInodes(f *testing.F) {
	f.Add([]byte(procNetSample), true)
	f.Fuzz(func(t *testing.T, data []byte, tcp bool) {
		_, _ = procNetInodes(data, netip.MustParseAddrPort("127.0.0.1:5060"), tcp)
	})
}

// The readiness check knows whose socket it is.
func TestWaitBoundChecksOwner(t *testing.T) {
	l, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().(*net.TCPAddr).AddrPort()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := waitBound(ctx, os.Getpid(), addr, true, nil); err != nil {
		t.Fatalf("our own listener: %v", err)
	}
	short, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	if err := waitBound(short, 1, addr, true, nil); err == nil {
		t.Fatal("pid 1 was taken for the owner of our listener")
	}
}

func TestFreeMediaPort(t *testing.T) {
	p, err := FreeMediaPort(Loopback)
	if err != nil {
		t.Fatal(err)
	}
	if p < testkit.ZoneSIPp || p+2 >= testkit.ZoneSIPp+testkit.ZoneSIPpSpan || p%2 != 0 || p >= 32768 {
		t.Errorf("media port %d: want an even port of [%d, %d), below the ephemeral range", p, testkit.ZoneSIPp, testkit.ZoneSIPp+testkit.ZoneSIPpSpan)
	}
	for _, port := range []uint16{p, p + 2} {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(Loopback, port)))
		if err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
		c.Close()
	}
}

// FreeMediaPort reserves what it hands out: never the same port, nor one
// whose pair overlaps, twice, whichever test process asks (the lock on a
// port's file is the same between two files opened here as between two
// processes).
func TestFreeMediaPortReservesItsPorts(t *testing.T) {
	a, err := FreeMediaPort(Loopback)
	if err != nil {
		t.Fatal(err)
	}
	b, err := FreeMediaPort(Loopback)
	if err != nil {
		t.Fatal(err)
	}
	if a == b || a+2 == b || b+2 == a {
		t.Fatalf("media ports %d and %d overlap", a, b)
	}
	for _, p := range []uint16{a, a + 2, b, b + 2} {
		if reservePorts(p) {
			t.Errorf("port %d, handed out already, reserved again", p)
		}
	}
}

func TestRecorder(t *testing.T) {
	rec, err := NewRecorder(3)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(rec.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	send := func(b []byte) {
		t.Helper()
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	send([]byte("not rtp"))
	v1 := []byte{0x40, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1} // version 1
	send(v1)
	for i := range 5 {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(i), SSRC: 9}, Payload: []byte{0xff, byte(i)}}
		raw, _ := p.Marshal()
		send(raw)
	}
	if err := rec.WaitPackets(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if err := rec.WaitFunc(ctx, func([]Received) bool { s := rec.statsLocked(); return s.Dropped == 2 && s.NotRTP == 2 }); err != nil {
		t.Fatalf("%v: %+v", err, rec.Stats())
	}
	got := rec.Packets()
	if len(got) != 3 || got[2].SequenceNumber != 2 || got[2].Payload[1] != 2 {
		t.Fatalf("kept %+v", got)
	}
	if from := rec.Received()[0].From; from != conn.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Errorf("from %s", from)
	}
	if err := rec.WaitQuiet(ctx, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	if err := rec.WaitPackets(short, 4); err == nil {
		t.Error("WaitPackets(4) returned with 3 packets kept")
	}
}

func TestUASReject(t *testing.T) {
	s, err := UASReject(488, "Not Acceptable Here")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(s.XML, []byte("SIP/2.0 488 Not Acceptable Here")) || bytes.Contains(s.XML, []byte(busyStatus)) || s.Name != "uas_reject_488" || s.Role != UAS {
		t.Errorf("UASReject(488): %s %v", s.Name, s.Role)
	}
	if !bytes.Contains(s.XML, []byte(`<scenario name="uas_reject_488">`)) {
		t.Error("UASReject did not rename the scenario")
	}
	for _, bad := range []struct {
		code   int
		reason string
	}{{200, "OK"}, {700, "X"}, {486, ""}, {486, "Busy\r\nX-Evil: 1"}, {486, "]]>"}} {
		if _, err := UASReject(bad.code, bad.reason); err == nil {
			t.Errorf("UASReject(%d, %q) accepted", bad.code, bad.reason)
		}
	}
}

// scenarioElements lists a scenario's top-level elements that SIPp counts
// as messages (labels and the statistics settings are not), with the text
// of each.
func scenarioElements(t *testing.T, name string, data []byte) (names []string, texts []string, scenarioName string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(data))
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	depth := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		switch el := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 {
				for _, a := range el.Attr {
					if a.Name.Local == "name" {
						scenarioName = a.Value
					}
				}
			}
			if depth == 2 {
				switch el.Name.Local {
				case "label", "ResponseTimeRepartition", "CallLengthRepartition":
				default:
					names = append(names, el.Name.Local)
					texts = append(texts, "")
				}
			}
		case xml.CharData:
			if depth >= 2 && len(texts) > 0 {
				texts[len(texts)-1] += string(el)
			}
		case xml.EndElement:
			depth--
		}
	}
}

var branchRef = regexp.MustCompile(`\[branch-(\d+)\]`)

// Every embedded scenario is well-formed, named after its file, reachable
// by a variable, and each [branch-N] (which names the branch of the
// message N elements back) names an INVITE's: a CANCEL and the ACK of a
// non-2xx final share the INVITE's branch (RFC 3261 §9.1, §17.1.1.3).
func TestScenarioFiles(t *testing.T) {
	vars := map[string]bool{}
	for _, s := range []Scenario{UACCall, UACWaitBye, UACCancel, UACInfo, UACHold, UACBadSDP, UACForbidden, UACBusy, UACLoad, UASAnswer, UASRing, UASBye, UASBusy, UASLoad} {
		vars[s.Name] = true
	}
	refs := 0
	names := Names()
	if len(names) != len(vars) {
		t.Errorf("%d embedded scenarios, %d variables", len(names), len(vars))
	}
	for _, name := range names {
		if !vars[name] {
			t.Errorf("scenario %s has no variable", name)
		}
		s, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if s.Role != UAC && s.Role != UAS {
			t.Errorf("%s: no role", name)
		}
		els, texts, sname := scenarioElements(t, name, s.XML)
		if sname != name {
			t.Errorf("%s.xml is scenario %q", name, sname)
		}
		for i, text := range texts {
			for _, m := range branchRef.FindAllStringSubmatch(text, -1) {
				refs++
				back, _ := strconv.Atoi(m[1])
				j := i - back
				if j < 0 || els[j] != "send" || !strings.HasPrefix(strings.TrimSpace(texts[j]), "INVITE ") {
					t.Errorf("%s: element %d's [branch-%d] does not name an INVITE", name, i, back)
				}
			}
		}
		for k := range s.Keys {
			if !bytes.Contains(s.XML, []byte("["+k+"]")) {
				t.Errorf("%s: default for key %s, which it does not use", name, k)
			}
		}
	}
	if refs < 5 {
		t.Errorf("found %d [branch-N] references, want the 5 of the CANCEL and non-2xx ACKs", refs)
	}
	if _, err := Lookup("nope"); err == nil {
		t.Error("Lookup(nope) found a scenario")
	}
	if !UACCall.PlaysPcap() || UACCancel.PlaysPcap() || UASAnswer.PlaysPcap() {
		t.Error("PlaysPcap is wrong")
	}
}

func TestRunRefusesBadOptions(t *testing.T) {
	NeedSIPp(t)
	ctx := testContext(t, 20*time.Second)
	for _, tc := range []struct {
		name string
		sc   Scenario
		opts Options
		want string
	}{
		{"no pcap", UACCall, Options{Remote: netip.MustParseAddrPort("127.0.0.1:5060")}, "CallerPcap"},
		{"no remote", UACBusy, Options{}, "Remote"},
		{"transport", UASBusy, Options{Transport: "s1"}, "transport"},
		{"IPv6", UASBusy, Options{Local: netip.MustParseAddrPort("[::1]:0")}, "IPv4"},
		{"context too short", UASBusy, Options{Timeout: -1}, "too soon"},
		// SIPp refuses the scenario and exits before binding.
		{"broken scenario", Scenario{Name: "broken", Role: UAS, XML: []byte(`<?xml version="1.0"?><scenario name="broken"><recv request="INVITE"/><send><![CDATA[SIP/2.0 99 No]]></send></scenario>`)}, Options{}, "exited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ctx
			if tc.want == "too soon" {
				var cancel context.CancelFunc
				c, cancel = context.WithTimeout(ctx, 500*time.Millisecond)
				defer cancel()
			}
			tc.opts.Dir = t.TempDir()
			_, err := Run(c, tc.sc, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestRunLoadRefusesBadOptions(t *testing.T) {
	gateway := func(agent netip.AddrPort) (netip.AddrPort, error) {
		t.Fatal("the gateway was asked for with bad options")
		return agent, nil
	}
	for _, o := range []LoadOptions{
		{Rate: 10},
		{Calls: 10},
		{Calls: 10, Rate: 10, RTP: CallerRTP{Law: g711.Alaw}},
		{Calls: 10, Rate: 10, RTP: CallerRTP{Keys: "12"}}, // keys but no mode
	} {
		if _, err := RunLoad(context.Background(), o, gateway); err == nil {
			t.Errorf("RunLoad(%+v) = nil error", o)
		}
	}
}

func TestLoadResultCheck(t *testing.T) {
	ok := Result{Scenario: "x", Successful: 10}
	for _, tc := range []struct {
		name string
		r    LoadResult
		fail bool
	}{
		{"all delivered", LoadResult{Caller: ok, Agent: ok, AudioPacketsSent: 100, PacketsReceived: 100}, false},
		{"95% delivered", LoadResult{Caller: ok, Agent: ok, AudioPacketsSent: 100, PacketsReceived: 95}, false},
		{"too few packets", LoadResult{Caller: ok, Agent: ok, AudioPacketsSent: 100, PacketsReceived: 94}, true},
		{"a failed call", LoadResult{Caller: Result{Successful: 9, Failed: 1, ExitCode: 1}, Agent: ok, AudioPacketsSent: 100, PacketsReceived: 100}, true},
		{"the agent missed a call", LoadResult{Caller: ok, Agent: Result{Successful: 9}, AudioPacketsSent: 100, PacketsReceived: 100}, true},
	} {
		if err := tc.r.Check(10); (err != nil) != tc.fail {
			t.Errorf("%s: Check = %v", tc.name, err)
		}
	}
}

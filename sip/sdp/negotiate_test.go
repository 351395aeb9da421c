package sdp

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

var (
	callerRelay = netip.MustParseAddrPort("203.0.113.5:20000")
	agentRelay  = netip.MustParseAddrPort("10.1.0.5:30000")
	agentAddr   = netip.MustParseAddrPort("10.1.0.9:16000")
)

// agentSDP is an SDP from the agent at agentAddr with the given m= formats
// and attributes.
func agentSDP(fmts string, attrs ...string) []byte {
	lines := append([]string{"v=0", "o=agent 5 5 IN IP4 10.1.0.9", "s=-", "c=IN IP4 10.1.0.9", "t=0 0",
		"m=audio 16000 RTP/AVP " + fmts}, attrs...)
	return crlf(lines...)
}

// callerSDP is an SDP from the caller at 198.51.100.7:40000.
func callerSDP(fmts string, attrs ...string) []byte {
	lines := append([]string{"v=0", "o=carrier 9 9 IN IP4 198.51.100.7", "s=-", "c=IN IP4 198.51.100.7", "t=0 0",
		"m=audio 40000 RTP/AVP " + fmts}, attrs...)
	return crlf(lines...)
}

// negotiate runs a caller-offered call through both legs and checks what
// every step sends with strict pion/sdp and our own parser.
func negotiate(t *testing.T, offer, answer []byte, opts AgentOptions) (o1, o2, a2, a1 *Media, err error) {
	t.Helper()
	o1 = mustParse(t, offer)
	o2, err = OfferToAgent(o1, agentRelay, opts)
	if err != nil {
		t.Fatalf("OfferToAgent: %v", err)
	}
	var agentOrigin, callerOrigin Origin
	b, err := agentOrigin.Marshal(o2)
	if err != nil {
		t.Fatalf("marshal offer to agent: %v", err)
	}
	strictParse(t, b)
	if back := mustParse(t, b); back.Addr != agentRelay || !slices.Equal(back.Formats, o2.Formats) || !sameEvent(back.Event, o2.Event) {
		t.Fatalf("offer to agent parses back as %+v", back)
	}
	a2, err = Parse(answer)
	if err != nil {
		return o1, o2, nil, nil, err
	}
	a1, err = AnswerToCaller(o1, o2, a2, callerRelay)
	if err != nil {
		return o1, o2, a2, nil, err
	}
	b, err = callerOrigin.Marshal(a1)
	if err != nil {
		t.Fatalf("marshal answer to caller: %v", err)
	}
	strictParseOurs(t, b)
	mustParse(t, b)
	return o1, o2, a2, a1, nil
}

func TestOfferToAgent(t *testing.T) {
	tests := []struct {
		name    string
		offer   []byte
		opts    AgentOptions
		formats []Format
		event   *Format
		ptime   int
		dir     Direction
	}{
		{name: "no telephone-event toward the agent by default", offer: carrierOffer, formats: []Format{pcmu, pcma}, ptime: 20},
		{name: "events on request, own type", offer: carrierOffer, opts: AgentOptions{EventPT: 96}, formats: []Format{pcmu, pcma}, event: ev(96, "0-15"), ptime: 20},
		{
			name: "event type taken by the caller's codec: the next free one", opts: AgentOptions{EventPT: 101},
			offer:   callerSDP("101 102 0", "a=rtpmap:101 opus/48000/2", "a=rtpmap:102 iLBC/8000", "a=fmtp:102 mode=30"),
			formats: []Format{{PT: 101, Name: "opus", ClockRate: 48000, Channels: 2}, {PT: 102, Name: "iLBC", ClockRate: 8000, Channels: 1, Fmtp: "mode=30"}, pcmu},
			event:   ev(103, "0-15"),
		},
		{name: "other codecs passed through in order", offer: callerSDP("18 8 0 13", "a=fmtp:18 annexb=no"), formats: []Format{{PT: 18, Name: "G729", ClockRate: 8000, Channels: 1, Fmtp: "annexb=no"}, pcma, pcmu, cn}},
		{name: "hold: sendonly", offer: withAttr(carrierOffer, "a=sendonly"), formats: []Format{pcmu, pcma}, ptime: 20, dir: SendOnly},
		{name: "hold: inactive", offer: withAttr(carrierOffer, "a=inactive"), formats: []Format{pcmu, pcma}, ptime: 20, dir: Inactive},
		{name: "RFC 2543 hold becomes sendonly", offer: callerSDP("0")[:0:0], formats: []Format{pcmu}, dir: SendOnly},
		{name: "RFC 2543 hold of a recvonly offer becomes inactive", offer: callerSDP("0", "a=recvonly")[:0:0], formats: []Format{pcmu}, dir: Inactive},
	}
	// The two RFC 2543 cases are built here: c=0.0.0.0.
	tests[6].offer = []byte(strings.Replace(string(callerSDP("0")), "c=IN IP4 198.51.100.7", "c=IN IP4 0.0.0.0", 1))
	tests[7].offer = []byte(strings.Replace(string(callerSDP("0", "a=recvonly")), "c=IN IP4 198.51.100.7", "c=IN IP4 0.0.0.0", 1))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o2, err := OfferToAgent(mustParse(t, tc.offer), agentRelay, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if o2.Addr != agentRelay || !slices.Equal(o2.Formats, tc.formats) || !sameEvent(o2.Event, tc.event) || o2.Ptime != tc.ptime || o2.Direction != tc.dir {
				t.Errorf("got %v %v event %v ptime %d %v, want %v %v %v %d %v", o2.Addr, o2.Formats, o2.Event, o2.Ptime, o2.Direction,
					agentRelay, tc.formats, tc.event, tc.ptime, tc.dir)
			}
			var o Origin
			b, err := o.Marshal(o2)
			if err != nil {
				t.Fatal(err)
			}
			if s := string(b); tc.event == nil && strings.Contains(strings.ToLower(s), "telephone-event") {
				t.Errorf("telephone-event offered to the agent:\n%s", s)
			}
			if strings.Contains(string(b), "0.0.0.0") {
				t.Errorf("we sent an RFC 2543 hold:\n%s", b)
			}
		})
	}
	if _, err := OfferToAgent(mustParse(t, carrierOffer), agentRelay, AgentOptions{EventPT: 8}); err == nil {
		t.Error("static event payload type accepted")
	}
	if _, err := OfferToAgent(nil, agentRelay, AgentOptions{}); err == nil {
		t.Error("nil offer accepted")
	}
}

func TestAnswerToCaller(t *testing.T) {
	tests := []struct {
		name    string
		offer   []byte
		answer  []byte
		opts    AgentOptions
		formats []Format // of our answer to the caller
		event   *Format
		ptime   int
		dir     Direction
		agentPT uint8 // the codec's type in the agent's answer
	}{
		{
			name:  "agent picks PCMA, caller gets PCMA and its own event type with the DTMF keys",
			offer: carrierOffer, answer: agentSDP("8", "a=ptime:30"),
			formats: []Format{pcma}, event: ev(101, "0-15"), ptime: 30, agentPT: 8,
		},
		{
			name:  "caller's event type kept whatever the agent does",
			offer: callerSDP("0 96", "a=rtpmap:96 telephone-event/8000", "a=fmtp:96 0-15"), answer: agentSDP("0"),
			formats: []Format{pcmu}, event: ev(96, "0-15"), agentPT: 0,
		},
		{
			name:  "caller without events, agent with: none in either answer",
			offer: callerSDP("0"), answer: agentSDP("0 101", "a=rtpmap:101 telephone-event/8000"),
			formats: []Format{pcmu}, agentPT: 0,
		},
		{
			name:  "caller's events without fmtp: keys 0-15",
			offer: callerSDP("0 101", "a=rtpmap:101 telephone-event/8000"), answer: agentSDP("0"),
			formats: []Format{pcmu}, event: ev(101, "0-15"),
		},
		{
			name:  "caller lists only some keys",
			offer: callerSDP("0 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-9,11"), answer: agentSDP("0"),
			formats: []Format{pcmu}, event: ev(101, "0-9,11"),
		},
		{
			name:  "caller lists only flash: no events",
			offer: callerSDP("0 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 16"), answer: agentSDP("0"),
			formats: []Format{pcmu},
		},
		{
			name:    "agent renumbers a dynamic codec: caller keeps its number, agent's fmtp",
			offer:   callerSDP("111 0 101", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 useinbandfec=1", "a=rtpmap:101 telephone-event/8000"),
			answer:  agentSDP("96", "a=rtpmap:96 OPUS/48000/2", "a=fmtp:96 useinbandfec=0"),
			formats: []Format{{PT: 111, Name: "opus", ClockRate: 48000, Channels: 2, Fmtp: "useinbandfec=0"}}, event: ev(101, "0-15"), agentPT: 96,
		},
		{
			name:    "opus with events at 48 kHz and 8 kHz: the 48 kHz one",
			offer:   callerSDP("111 110 101", "a=rtpmap:111 opus/48000/2", "a=rtpmap:110 telephone-event/48000", "a=rtpmap:101 telephone-event/8000"),
			answer:  agentSDP("111", "a=rtpmap:111 opus/48000/2"),
			formats: []Format{{PT: 111, Name: "opus", ClockRate: 48000, Channels: 2}},
			event:   &Format{PT: 110, Name: "telephone-event", ClockRate: 48000, Channels: 1, Fmtp: "0-15"}, agentPT: 111,
		},
		{
			name:  "agent answers several: its first offered one wins, comfort noise kept when both have it",
			offer: callerSDP("0 8 13 101", "a=rtpmap:101 telephone-event/8000"), answer: agentSDP("13 8 0"),
			formats: []Format{pcma, cn}, event: ev(101, "0-15"), agentPT: 8,
		},
		{
			name:  "comfort noise dropped when the agent has none",
			offer: callerSDP("0 13"), answer: agentSDP("0"),
			formats: []Format{pcmu},
		},
		{
			name:  "hold: caller sendonly, agent recvonly, caller gets recvonly",
			offer: callerSDP("0", "a=sendonly"), answer: agentSDP("0", "a=recvonly"),
			formats: []Format{pcmu}, dir: RecvOnly,
		},
		{
			name:  "hold: agent ignores sendonly, caller still gets recvonly (RFC 3264 §6.1)",
			offer: callerSDP("0", "a=sendonly"), answer: agentSDP("0", "a=sendrecv"),
			formats: []Format{pcmu}, dir: RecvOnly,
		},
		{
			name:  "hold: inactive both ways",
			offer: callerSDP("0", "a=inactive"), answer: agentSDP("0", "a=inactive"),
			formats: []Format{pcmu}, dir: Inactive,
		},
		{
			name:  "agent holds in its answer: caller gets sendonly",
			offer: callerSDP("0"), answer: agentSDP("0", "a=sendonly"),
			formats: []Format{pcmu}, dir: SendOnly,
		},
		{
			name:  "unhold",
			offer: callerSDP("0", "a=sendrecv"), answer: agentSDP("0", "a=sendrecv"),
			formats: []Format{pcmu},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, o2, a2, a1, err := negotiate(t, tc.offer, tc.answer, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if a1.Addr != callerRelay || !slices.Equal(a1.Formats, tc.formats) || !sameEvent(a1.Event, tc.event) || a1.Ptime != tc.ptime || a1.Direction != tc.dir {
				t.Errorf("answer %v %v event %v ptime %d %v, want %v %v %v %d %v", a1.Addr, a1.Formats, a1.Event, a1.Ptime, a1.Direction,
					callerRelay, tc.formats, tc.event, tc.ptime, tc.dir)
			}
			chosen, err := CheckAnswer(o2, a2)
			if err != nil || chosen.PT != tc.agentPT {
				t.Errorf("CheckAnswer = %v %v, want payload type %d", chosen, err, tc.agentPT)
			}
			if a2.Addr != agentAddr {
				t.Errorf("agent address %v, want %v", a2.Addr, agentAddr)
			}
		})
	}
}

func TestAnswerToCallerRejectsOtherStreams(t *testing.T) {
	offer := crlf("v=0", "o=- 1 1 IN IP4 198.51.100.7", "s=-", "c=IN IP4 198.51.100.7", "t=0 0",
		"m=video 50000 RTP/AVP 96", "a=rtpmap:96 H264/90000",
		"m=audio 40000 RTP/AVPF 0 101", "a=rtpmap:101 telephone-event/8000",
		"m=audio 40002 RTP/AVP 8",
		"m=image 40004 udptl t38")
	_, _, _, a1, err := negotiate(t, offer, agentSDP("0"), AgentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var o Origin
	b, err := o.Marshal(a1)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 3264 §6: as many m= lines as offered, in order, all but ours
	// with port 0; ours keeps the offer's transport.
	var mlines []string
	for _, l := range strings.Split(string(b), "\r\n") {
		if strings.HasPrefix(l, "m=") {
			mlines = append(mlines, l)
		}
	}
	want := []string{"m=video 0 RTP/AVP 96", "m=audio 20000 RTP/AVPF 0 101", "m=audio 0 RTP/AVP 8", "m=image 0 udptl t38"}
	if !slices.Equal(mlines, want) {
		t.Errorf("m= lines %q, want %q\n%s", mlines, want, b)
	}
}

func TestAnswerToCallerErrors(t *testing.T) {
	tests := []struct {
		name   string
		offer  []byte
		answer []byte
		code   int
	}{
		{"agent answers a codec never offered", callerSDP("0"), agentSDP("8"), WarnMediaFormat},
		{"agent answers only comfort noise", callerSDP("0 13"), agentSDP("13"), WarnMediaFormat},
		{"agent rejects the stream", callerSDP("0"), crlf("v=0", "o=- 1 1 IN IP4 10.1.0.9", "s=-", "c=IN IP4 10.1.0.9", "t=0 0", "m=audio 0 RTP/AVP 0"), WarnMediaType},
		{"agent answers garbage", callerSDP("0"), []byte("<html>"), WarnParameter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, a1, err := negotiate(t, tc.offer, tc.answer, AgentOptions{})
			var se *Error
			if !errors.As(err, &se) || !errors.Is(err, ErrUnacceptable) {
				t.Fatalf("got %+v, %v; want an *Error", a1, err)
			}
			if se.Code != tc.code {
				t.Errorf("code %d %q, want %d", se.Code, se.Text, tc.code)
			}
			checkWarningText(t, se.Text)
		})
	}
	if _, err := AnswerToCaller(nil, nil, nil, callerRelay); !errors.Is(err, ErrUnacceptable) {
		t.Errorf("nil SDPs: %v", err)
	}
}

// A re-INVITE from the caller goes through the same functions with the
// same Origins: the re-offer to the agent gets the next version, a session
// refresh keeps it, and Compare tells the relay what changed.
func TestCallerReInvite(t *testing.T) {
	var agentOrigin, callerOrigin Origin
	type step struct {
		name    string
		offer   []byte
		answer  []byte
		change  Change
		version uint64 // of our offer to the agent and our answer to the caller
		held    bool
	}
	moved := []byte(strings.ReplaceAll(string(carrierOffer), "198.51.100.7", "198.51.100.99"))
	rfc2543 := []byte(strings.ReplaceAll(string(carrierOffer), "c=IN IP4 198.51.100.7", "c=IN IP4 0.0.0.0"))
	steps := []step{
		{name: "initial", offer: carrierOffer, answer: agentSDP("0"), change: Change{Addr: true, Formats: true}, version: 0},
		{name: "session refresh", offer: carrierOffer, answer: agentSDP("0"), version: 0},
		{name: "hold", offer: withAttr(carrierOffer, "a=sendonly"), answer: agentSDP("0", "a=recvonly"), change: Change{Hold: true, Direction: true}, version: 1, held: true},
		{name: "unhold", offer: carrierOffer, answer: agentSDP("0"), change: Change{Hold: true, Direction: true}, version: 2},
		{name: "new address", offer: moved, answer: agentSDP("0"), change: Change{Addr: true}, version: 2},
		{name: "RFC 2543 hold", offer: rfc2543, answer: agentSDP("0", "a=recvonly"), change: Change{Hold: true}, version: 3, held: true},
		{name: "codec change", offer: callerSDP("8"), answer: agentSDP("8"), change: Change{Addr: true, Hold: true, Formats: true}, version: 4},
	}
	var prev *Media
	for _, s := range steps {
		o1 := mustParse(t, s.offer)
		if ch := Compare(prev, o1); ch != s.change {
			t.Errorf("%s: Compare = %+v, want %+v", s.name, ch, s.change)
		}
		prev = o1
		o2, err := OfferToAgent(o1, agentRelay, AgentOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ob, err := agentOrigin.Marshal(o2)
		if err != nil {
			t.Fatal(err)
		}
		a2 := mustParse(t, s.answer)
		a1, err := AnswerToCaller(o1, o2, a2, callerRelay)
		if err != nil {
			t.Fatal(err)
		}
		ab, err := callerOrigin.Marshal(a1)
		if err != nil {
			t.Fatal(err)
		}
		if v := strictParse(t, ob).Origin.SessionVersion; v != s.version {
			t.Errorf("%s: offer to the agent has version %d, want %d", s.name, v, s.version)
		}
		if v := strictParse(t, ab).Origin.SessionVersion; v != s.version {
			t.Errorf("%s: answer to the caller has version %d, want %d", s.name, v, s.version)
		}
		if o1.Hold != s.held || mustParse(t, ob).Hold != s.held {
			t.Errorf("%s: caller hold %v, offer to agent hold %v, want %v", s.name, o1.Hold, mustParse(t, ob).Hold, s.held)
		}
	}
	if (Compare(nil, nil) != Change{}) || Compare(prev, prev).Any() {
		t.Error("Compare of nothing, or of an SDP with itself, reports a change")
	}
}

// An agent re-INVITE (the agent puts the caller on hold), and the late
// offer where the caller's INVITE had no SDP and the agent offers in its
// 200: we offer the caller, always with telephone-event, and answer the
// agent from the caller's answer.
func TestAgentOffers(t *testing.T) {
	tests := []struct {
		name      string
		agent     []byte // the agent's offer
		eventPT   uint8
		caller    []byte // the caller's answer to our offer
		opts      AgentOptions
		toCaller  []Format
		callerEv  *Format
		callerDir Direction
		toAgent   []Format
		agentEv   *Format
		agentDir  Direction
	}{
		{
			name: "late offer", agent: agentSDP("8 0 101", "a=rtpmap:101 telephone-event/8000"),
			caller:   callerSDP("0 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15"),
			toCaller: []Format{pcma, pcmu}, callerEv: ev(101, "0-15"),
			toAgent: []Format{pcmu},
		},
		{
			name: "agent holds the caller, stable event type", agent: agentSDP("0", "a=sendonly"), eventPT: 96,
			caller:   callerSDP("0 96", "a=rtpmap:96 telephone-event/8000", "a=recvonly"),
			toCaller: []Format{pcmu}, callerEv: ev(96, "0-15"), callerDir: SendOnly,
			toAgent: []Format{pcmu}, agentDir: RecvOnly,
		},
		{
			name: "events toward the agent on request", agent: agentSDP("0 100", "a=rtpmap:100 telephone-event/8000"),
			caller: callerSDP("0"), opts: AgentOptions{EventPT: 100},
			toCaller: []Format{pcmu}, callerEv: ev(101, "0-15"),
			toAgent: []Format{pcmu}, agentEv: ev(100, "0-15"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			oa := mustParse(t, tc.agent)
			oc, err := OfferToCaller(oa, callerRelay, tc.eventPT)
			if err != nil {
				t.Fatal(err)
			}
			if oc.Addr != callerRelay || !slices.Equal(oc.Formats, tc.toCaller) || !sameEvent(oc.Event, tc.callerEv) || oc.Direction != tc.callerDir {
				t.Errorf("offer to caller %v %v %v %v", oc.Addr, oc.Formats, oc.Event, oc.Direction)
			}
			var co, ao Origin
			b, err := co.Marshal(oc)
			if err != nil {
				t.Fatal(err)
			}
			strictParse(t, b)
			ac := mustParse(t, tc.caller)
			aa, err := AnswerToAgent(oa, oc, ac, agentRelay, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if aa.Addr != agentRelay || !slices.Equal(aa.Formats, tc.toAgent) || !sameEvent(aa.Event, tc.agentEv) || aa.Direction != tc.agentDir {
				t.Errorf("answer to agent %v %v %v %v", aa.Addr, aa.Formats, aa.Event, aa.Direction)
			}
			b, err = ao.Marshal(aa)
			if err != nil {
				t.Fatal(err)
			}
			strictParse(t, b)
		})
	}
}

// The late offer at its plainest: we offer G.711 ourselves and read the
// answer that comes in the ACK.
func TestBuildOfferAndCheckAnswer(t *testing.T) {
	offer, err := BuildOffer(callerRelay, G711Formats(), DefaultEventPT)
	if err != nil {
		t.Fatal(err)
	}
	var o Origin
	b, err := o.Marshal(offer)
	if err != nil {
		t.Fatal(err)
	}
	want := "m=audio 20000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
	if !strings.HasSuffix(string(b), want) {
		t.Errorf("offer\n%s\nwant it to end\n%s", b, want)
	}
	tests := []struct {
		name   string
		answer []byte
		want   Format
		ok     bool
	}{
		{"PCMA", callerSDP("8 101", "a=rtpmap:101 telephone-event/8000"), pcma, true},
		{"lower case, no rtpmap for static", callerSDP("97 0", "a=rtpmap:97 pcmu/8000"), Format{PT: 97, Name: "pcmu", ClockRate: 8000, Channels: 1}, true},
		{"G.729 was not offered", callerSDP("18"), Format{}, false},
	}
	for _, tc := range tests {
		got, err := CheckAnswer(offer, mustParse(t, tc.answer))
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("%s: CheckAnswer = %v %v, want %v ok=%v", tc.name, got, err, tc.want, tc.ok)
		}
		if law, ok := got.Law(); tc.ok && (!ok || !law.Valid()) {
			t.Errorf("%s: %v is not G.711", tc.name, got)
		}
	}
	if _, err := BuildOffer(callerRelay, nil, 0); err == nil {
		t.Error("offer without formats built")
	}
	if _, err := BuildOffer(netip.AddrPort{}, G711Formats(), 0); err == nil {
		t.Error("offer without address built")
	}
	full := make([]Format, 32)
	for i := range full {
		full[i] = Format{PT: uint8(96 + i), Name: "X", ClockRate: 8000}
	}
	if _, err := BuildOffer(callerRelay, full, 101); err == nil {
		t.Error("telephone-event placed with no dynamic type free")
	}
	// Following a peer's offer, that is no reason to fail the call.
	if oc, err := OfferToCaller(&Media{Formats: full}, callerRelay, 0); err != nil || oc.Event != nil || len(oc.Formats) != 32 {
		t.Errorf("offer after 32 dynamic codecs: %+v, %v; want no event", oc, err)
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(carrierOffer); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNegotiate is the SDP work of one caller-offered call: two
// parses, two builds, two marshals.
func BenchmarkNegotiate(b *testing.B) {
	answer := agentSDP("0")
	b.ReportAllocs()
	for b.Loop() {
		var agentOrigin, callerOrigin Origin
		o1, _ := Parse(carrierOffer)
		o2, _ := OfferToAgent(o1, agentRelay, AgentOptions{})
		if _, err := agentOrigin.Marshal(o2); err != nil {
			b.Fatal(err)
		}
		a2, _ := Parse(answer)
		a1, err := AnswerToCaller(o1, o2, a2, callerRelay)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := callerOrigin.Marshal(a1); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDTMFEventList(t *testing.T) {
	tests := map[string]string{
		"":              "0-15",
		"0-15":          "0-15",
		"0-16":          "0-15",
		" 0-11 , 12 ":   "0-12",
		"0,1,2,5-7,15":  "0-2,5-7,15",
		"16":            "",
		"32-41,16":      "",
		"9":             "9",
		"x":             "0-15",
		"5-3":           "0-15",
		"0-255":         "0-15",
		"0-256":         "0-15",
		",":             "0-15",
		"0-9,10-11,12-": "0-15",
	}
	for in, want := range tests {
		if got := dtmfEventList(in); got != want {
			t.Errorf("dtmfEventList(%q) = %q, want %q", in, got, want)
		}
	}
}

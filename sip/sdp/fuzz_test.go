package sdp

import (
	"errors"
	"testing"
)

// checkParsed checks the promises of a Media Parse returned.
func checkParsed(t *testing.T, m *Media) {
	t.Helper()
	if !m.Addr.IsValid() || m.Addr.Port() == 0 || m.Addr.Addr().Zone() != "" || m.Addr.Addr().IsMulticast() {
		t.Fatalf("address %v", m.Addr)
	}
	if len(m.Formats) == 0 || len(m.Formats) > maxFormats {
		t.Fatalf("%d formats", len(m.Formats))
	}
	for _, f := range append(m.Formats, m.events...) {
		if f.PT > 127 || f.ClockRate <= 0 || f.Channels < 1 || !isToken(f.Name, false) || len(f.Fmtp) > maxFmtpLen || hasControl(f.Fmtp) {
			t.Fatalf("format %+v", f)
		}
	}
	if m.Event != nil && !m.Event.IsTelephoneEvent() {
		t.Fatalf("event %+v", m.Event)
	}
	if m.Ptime < 0 || m.Ptime > maxPtime || m.Direction > Inactive || m.index >= len(m.lines) {
		t.Fatalf("ptime %d direction %d index %d of %d", m.Ptime, m.Direction, m.index, len(m.lines))
	}
	if m.Hold != (!m.Direction.Receives() || m.Addr.Addr().IsUnspecified()) {
		t.Fatalf("hold %v with %v at %v", m.Hold, m.Direction, m.Addr)
	}
}

// checkRefusal checks that an error is a 488 reason fit for a Warning
// header.
func checkRefusal(t *testing.T, err error) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) || !errors.Is(err, ErrUnacceptable) {
		t.Fatalf("%v (%T) is not an *Error", err, err)
	}
	if se.Code < 300 || se.Code > 399 {
		t.Fatalf("warning code %d", se.Code)
	}
	checkWarningText(t, se.Text)
}

// FuzzParse feeds arbitrary bodies to Parse. It must refuse with a
// Warning-ready *Error or return a description that keeps its promises;
// and what we offer the agent for it must marshal, pass strict pion/sdp
// and parse back to the same formats.
func FuzzParse(f *testing.F) {
	f.Add(carrierOffer)
	f.Add(callerSDP("0 8 13 101", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=ptime:20", "a=sendonly"))
	f.Add([]byte("v=0\no=- 1 1 IN IP6 2001:db8::7\nt=0 0\nc=IN IP6 2001:db8::7\nm=audio 40000 RTP/AVP 18 0\na=fmtp:18 annexb=no\n"))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=video 1 RTP/AVP 96\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp:4005 IN IP4 192.0.2.1\r\nm=image 0 udptl t38\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Parse(body)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		checkParsed(t, m)
		o2, err := OfferToAgent(m, agentRelay, AgentOptions{EventPT: 101})
		if err != nil {
			t.Fatalf("OfferToAgent: %v", err)
		}
		var o Origin
		b, err := o.Marshal(o2)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		strictParse(t, b)
		back, err := Parse(b)
		if err != nil {
			t.Fatalf("our offer does not parse: %v\n%s", err, b)
		}
		if back.Addr != agentRelay || len(back.Formats) != len(m.Formats) || (back.Event == nil) != (o2.Event == nil) || back.Direction != o2.Direction {
			t.Fatalf("our offer parses back as %+v\n%s", back, b)
		}
		for i, f := range back.Formats {
			if !f.sameEncoding(m.Formats[i]) || f.PT != m.Formats[i].PT || f.Fmtp != m.Formats[i].Fmtp {
				t.Fatalf("format %d: %+v, offered %+v", i, f, m.Formats[i])
			}
		}
	})
}

// FuzzNegotiate runs a caller's offer and an agent's answer, both
// arbitrary, through the whole caller-offered exchange: any failure is a
// Warning-ready *Error, and an answer we send the caller marshals,
// parses back, selects a codec the caller offered in the caller's
// numbering, and carries telephone-event only with the caller's type.
func FuzzNegotiate(f *testing.F) {
	f.Add(carrierOffer, agentSDP("8", "a=ptime:30"))
	f.Add(callerSDP("111 0 110 101", "a=rtpmap:111 opus/48000/2", "a=rtpmap:110 telephone-event/48000", "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"),
		agentSDP("96 13", "a=rtpmap:96 opus/48000/2", "a=inactive"))
	f.Add(crlf("v=0", "o=- 1 1 IN IP4 198.51.100.7", "s=-", "c=IN IP4 198.51.100.7", "t=0 0", "m=video 5 RTP/AVP 96", "m=audio 40000 RTP/AVP 0 13", "a=sendonly"),
		agentSDP("0 13", "a=recvonly"))
	f.Fuzz(func(t *testing.T, offer, answer []byte) {
		o1, err := Parse(offer)
		if err != nil {
			return
		}
		o2, err := OfferToAgent(o1, agentRelay, AgentOptions{})
		if err != nil {
			t.Fatalf("OfferToAgent: %v", err)
		}
		a2, err := Parse(answer)
		if err != nil {
			return
		}
		a1, err := AnswerToCaller(o1, o2, a2, callerRelay)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		var o Origin
		b, err := o.Marshal(a1)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		strictParseOurs(t, b)
		back, err := Parse(b)
		if err != nil {
			t.Fatalf("our answer does not parse: %v\n%s", err, b)
		}
		codec, _ := back.Audio()
		if own, ok := o1.Lookup(codec); !ok || own.PT != codec.PT {
			t.Fatalf("answer selects %v, not the caller's %v", codec, own)
		}
		if back.Event != nil {
			found := false
			for _, e := range o1.events {
				found = found || e.PT == back.Event.PT
			}
			if !found {
				t.Fatalf("answer event %v is none of the caller's", back.Event)
			}
		}
		if len(back.lines) != len(o1.lines) || back.index != o1.index {
			t.Fatalf("answer has %d m= lines (audio %d), offer %d (audio %d)", len(back.lines), back.index, len(o1.lines), o1.index)
		}
		if back.Direction.Sends() && !o1.effectiveDirection().Receives() || back.Direction.Receives() && !o1.effectiveDirection().Sends() {
			t.Fatalf("answer %v to an offer %v (RFC 3264 §6.1)", back.Direction, o1.Direction)
		}
	})
}

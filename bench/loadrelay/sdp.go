package main

// The SDP the end-to-end modes exchange: the generator's offers and
// answers, and the relay's address read back from what the relay sent.

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// sdpBody is an SDP offer or answer (RFC 4566) of one audio stream at
// addr: PCMU 20 ms, and telephone-event 0–15 on eventPT when events is
// true (RFC 4733 §2.4.1).
func sdpBody(addr netip.AddrPort, events bool) string {
	fmts, extra := "0", ""
	if events {
		fmts += " " + strconv.Itoa(eventPT)
		extra = fmt.Sprintf("a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-15\r\n", eventPT, eventPT)
	}
	return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=loadrelay\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP %s\r\na=rtpmap:0 PCMU/8000\r\n%sa=ptime:20\r\na=sendrecv\r\n",
		addr.Addr(), addr.Addr(), addr.Port(), fmts, extra)
}

// errNoAudio is returned for SDP without a usable audio stream.
var errNoAudio = errors.New("SDP: no audio stream with an address")

// sdpAudioAddr returns where the first audio stream of an SDP body
// receives RTP: its m= line's port (RFC 4566 §5.14) at the media-level
// c= address, else the session-level one (§5.7). A port of 0 (a refused
// stream) is skipped.
func sdpAudioAddr(body string) (netip.AddrPort, error) {
	var session, media netip.Addr
	port, seenM, inAudio, found := 0, false, false, false
	for line := range strings.Lines(body) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "m="):
			if found {
				return sdpAddr(session, media, port)
			}
			seenM = true
			f := strings.Fields(line[2:])
			inAudio = len(f) >= 3 && f[0] == "audio"
			if inAudio {
				p, err := strconv.Atoi(strings.SplitN(f[1], "/", 2)[0])
				if err != nil || p < 0 || p > 65535 {
					return netip.AddrPort{}, fmt.Errorf("SDP: m= port %q", f[1])
				}
				port, found = p, p != 0
				inAudio = found
			}
		case strings.HasPrefix(line, "c="):
			f := strings.Fields(line[2:])
			if len(f) < 3 || f[0] != "IN" || f[1] != "IP4" && f[1] != "IP6" {
				return netip.AddrPort{}, fmt.Errorf("SDP: connection line %q", line)
			}
			a, err := netip.ParseAddr(strings.SplitN(f[2], "/", 2)[0])
			if err != nil {
				return netip.AddrPort{}, fmt.Errorf("SDP: connection address %q", f[2])
			}
			if !seenM {
				session = a
			} else if inAudio {
				media = a
			}
		}
	}
	if !found {
		return netip.AddrPort{}, errNoAudio
	}
	return sdpAddr(session, media, port)
}

func sdpAddr(session, media netip.Addr, port int) (netip.AddrPort, error) {
	a := media
	if !a.IsValid() {
		a = session
	}
	if !a.IsValid() {
		return netip.AddrPort{}, errNoAudio
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}

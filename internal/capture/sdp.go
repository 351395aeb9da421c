package capture

import (
	"bytes"
	"iter"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// maxRTPMaps bounds the rtpmap entries kept per media description.
const maxRTPMaps = 64

// maxEncodingLen bounds the length of an rtpmap encoding kept.
const maxEncodingLen = 64

// SDPMedia is one m= section of an SDP body seen in the capture: where its
// sender wants to receive (RFC 3264 §5: the address and port in an offer or
// answer are where that side receives) and its dynamic payload types.
type SDPMedia struct {
	Addr netip.AddrPort
	// TelephoneEvents maps payload types to RTP clock rates for every
	// "a=rtpmap:<pt> telephone-event/<rate>" (RFC 4733 §7.1.1).
	TelephoneEvents map[uint8]int
	// Encodings maps payload types to the encoding of every a=rtpmap line,
	// as written after the payload type: "<name>/<rate>[/<channels>]"
	// (RFC 4566 §6), e.g. "PCMU/8000" or "opus/48000/2".
	Encodings map[uint8]string
}

// sdpMediaFromSIP returns the audio media descriptions of the SDP body of
// a SIP message, if it has one. Multipart bodies are searched for "v=0".
func sdpMediaFromSIP(msg []byte) []SDPMedia {
	i := bytes.Index(msg, []byte("\r\n\r\n"))
	sep := 4
	if i < 0 {
		i, sep = bytes.Index(msg, []byte("\n\n")), 2
	}
	if i < 0 {
		return nil
	}
	body := msg[i+sep:]
	v := bytes.Index(body, []byte("v=0"))
	if v < 0 {
		return nil
	}
	body = body[v:]
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err == nil {
		return mediaFromParsed(&sd)
	}
	// pion/sdp is strict about line order (STYLE.md: a session c= after
	// t= is refused); carrier SDP breaks it harmlessly, so read the few
	// lines we need by hand.
	return mediaFromLines(body)
}

func mediaFromParsed(sd *sdp.SessionDescription) []SDPMedia {
	var sessionAddr netip.Addr
	if ci := sd.ConnectionInformation; ci != nil && ci.Address != nil {
		sessionAddr, _ = netip.ParseAddr(ci.Address.Address)
	}
	var out []SDPMedia
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value <= 0 || md.MediaName.Port.Value > 65535 {
			continue
		}
		addr := sessionAddr
		if ci := md.ConnectionInformation; ci != nil && ci.Address != nil {
			if a, err := netip.ParseAddr(ci.Address.Address); err == nil {
				addr = a
			}
		}
		m := SDPMedia{Addr: netip.AddrPortFrom(addr.Unmap(), uint16(md.MediaName.Port.Value))}
		for _, a := range md.Attributes {
			if a.Key == "rtpmap" {
				addRTPMap(&m, a.Value)
			}
		}
		out = append(out, m)
	}
	return out
}

func mediaFromLines(body []byte) []SDPMedia {
	var (
		sessionAddr netip.Addr
		out         []SDPMedia
		cur         *SDPMedia
		curHasAddr  bool
	)
	for line := range strings.Lines(string(body)) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "c="):
			f := strings.Fields(line[2:])
			if len(f) < 3 {
				continue
			}
			a, err := netip.ParseAddr(strings.SplitN(f[2], "/", 2)[0])
			if err != nil {
				continue
			}
			if cur == nil {
				sessionAddr = a
			} else {
				cur.Addr = netip.AddrPortFrom(a.Unmap(), cur.Addr.Port())
				curHasAddr = true
			}
		case strings.HasPrefix(line, "m="):
			if cur != nil {
				out = appendMedia(out, cur, curHasAddr, sessionAddr)
			}
			cur, curHasAddr = nil, false
			f := strings.Fields(line[2:])
			if len(f) < 2 || f[0] != "audio" {
				continue
			}
			port, err := strconv.ParseUint(strings.SplitN(f[1], "/", 2)[0], 10, 16)
			if err != nil || port == 0 {
				continue
			}
			cur = &SDPMedia{Addr: netip.AddrPortFrom(netip.Addr{}, uint16(port))}
		case strings.HasPrefix(line, "a=rtpmap:") && cur != nil:
			addRTPMap(cur, line[len("a=rtpmap:"):])
		}
	}
	if cur != nil {
		out = appendMedia(out, cur, curHasAddr, sessionAddr)
	}
	return out
}

func appendMedia(out []SDPMedia, m *SDPMedia, hasAddr bool, sessionAddr netip.Addr) []SDPMedia {
	if !hasAddr {
		m.Addr = netip.AddrPortFrom(sessionAddr.Unmap(), m.Addr.Port())
	}
	return append(out, *m)
}

// addRTPMap records an rtpmap value "<pt> <name>/<rate>[/<ch>]" (RFC 4566
// §6) in m.Encodings, and in m.TelephoneEvents for telephone-event (RFC
// 4733 §7.1.1).
func addRTPMap(m *SDPMedia, v string) {
	ptStr, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return
	}
	p, err := strconv.ParseUint(ptStr, 10, 7)
	if err != nil {
		return
	}
	pt := uint8(p)
	rest = strings.TrimSpace(rest)
	name, rateStr, ok := strings.Cut(rest, "/")
	if !ok {
		return
	}
	if len(rest) <= maxEncodingLen {
		if m.Encodings == nil {
			m.Encodings = make(map[uint8]string)
		}
		if _, seen := m.Encodings[pt]; seen || len(m.Encodings) < maxRTPMaps {
			m.Encodings[pt] = rest
		}
	}
	if !strings.EqualFold(name, "telephone-event") {
		return
	}
	rateStr, _, _ = strings.Cut(rateStr, "/")
	rate, err := strconv.Atoi(rateStr)
	if err != nil || rate < 1000 || rate > 192000 {
		return
	}
	if m.TelephoneEvents == nil {
		m.TelephoneEvents = make(map[uint8]int)
	}
	if len(m.TelephoneEvents) < maxRTPMaps {
		m.TelephoneEvents[pt] = rate
	}
}

// resolveEventPT sets s.EventPT from the SDP that applies to the stream
// (MediaFor), else by looking at the packets. Among several
// telephone-event types in one m= line, the one with the most packets wins.
func resolveEventPT(s *Stream, media []SDPMedia) {
	count := map[uint8]int{}
	for _, p := range s.Packets {
		count[p.PayloadType]++
	}
	for m := range MediaFor(s.Key, media) {
		best, bestN := -1, 0
		for pt := range m.TelephoneEvents {
			if n := count[pt]; n > bestN || (n == bestN && n > 0 && int(pt) < best) {
				best, bestN = int(pt), n
			}
		}
		if best >= 0 {
			s.EventPT, s.EventRate, s.EventSource = uint8(best), m.TelephoneEvents[uint8(best)], EventPTFromSDP
			return
		}
	}
	if pt, rate, ok := InferEventPT(s.Packets); ok {
		s.EventPT, s.EventRate, s.EventSource = pt, rate, EventPTInferred
	}
}

// MediaFor yields the SDP media descriptions that may describe the stream
// with key, best first: the receiver's (its payload type numbering is the
// one the sender must use, RFC 3264 §5.1), then the sender's (symmetric RTP
// nearly always uses the same numbers), then those with the receiver's or
// the sender's port alone (behind NAT the SDP names a private address);
// within each, the latest first (a re-INVITE's). A description may be
// yielded more than once.
func MediaFor(key StreamKey, media []SDPMedia) iter.Seq[SDPMedia] {
	return func(yield func(SDPMedia) bool) {
		matches := [...]func(a netip.AddrPort) bool{
			func(a netip.AddrPort) bool { return a == key.Dst },
			func(a netip.AddrPort) bool { return a == key.Src },
			func(a netip.AddrPort) bool { return a.Port() == key.Dst.Port() },
			func(a netip.AddrPort) bool { return a.Port() == key.Src.Port() },
		}
		for _, match := range matches {
			for i := len(media) - 1; i >= 0; i-- {
				if match(media[i].Addr) && !yield(media[i]) {
					return
				}
			}
		}
	}
}

// InferEventPT guesses a stream's telephone-event payload type when no SDP
// names it. A candidate is a dynamic payload type (96–127, RFC 3551 §3)
// whose every payload is a whole number of 4-byte events (RFC 4733 §2.3)
// with event code 0–16 (the DTMF keys and hook flash, §3.2), and in which
// some event timestamp repeats, as every event longer than one packet
// interval makes it (§2.5.1.1), or some packet has the E bit. The most
// frequent candidate wins. The clock rate is taken from how fast the
// duration field grows against capture time, rounded to 8, 16 or 48 kHz;
// 8 kHz when it cannot be measured.
func InferEventPT(pkts []Packet) (pt uint8, rate int, ok bool) {
	type cand struct {
		n, bad    int
		repeated  bool
		lastTS    uint32
		seen      bool
		rateVotes [3]int
		firstDur  int
		firstAt   int64
	}
	var cands [32]cand
	for _, p := range pkts {
		if p.PayloadType < 96 || p.PayloadType > 127 {
			continue
		}
		c := &cands[p.PayloadType-96]
		c.n++
		if len(p.Payload) == 0 || len(p.Payload)%4 != 0 || p.Payload[0] > 16 {
			c.bad++
			continue
		}
		dur := int(be16(p.Payload[2:4]))
		at := p.At.UnixNano()
		if p.Payload[1]&0x80 != 0 {
			c.repeated = true
		}
		if c.seen && p.Timestamp == c.lastTS {
			c.repeated = true
			if dt := at - c.firstAt; dt >= int64(15e6) && dur > c.firstDur {
				perSec := float64(dur-c.firstDur) / (float64(dt) / 1e9)
				c.rateVotes[nearestRate(perSec)]++
			}
		} else {
			c.firstDur, c.firstAt = dur, at
		}
		c.lastTS, c.seen = p.Timestamp, true
	}
	best := -1
	for i := range cands {
		c := &cands[i]
		if c.n == 0 || c.bad > 0 || !c.repeated {
			continue
		}
		if best < 0 || c.n > cands[best].n {
			best = i
		}
	}
	if best < 0 {
		return 0, 0, false
	}
	rates := [3]int{8000, 16000, 48000}
	rate, votes := 8000, 0
	for i, v := range cands[best].rateVotes {
		if v > votes {
			rate, votes = rates[i], v
		}
	}
	return uint8(96 + best), rate, true
}

// nearestRate returns the index in {8000, 16000, 48000} nearest (in ratio)
// to a measured clock rate.
func nearestRate(perSec float64) int {
	switch {
	case perSec < 11300: // geometric mean of 8000 and 16000
		return 0
	case perSec < 27700: // of 16000 and 48000
		return 1
	}
	return 2
}

package sdp

import (
	"math"
	"net/netip"
	"strconv"
	"strings"

	pion "github.com/pion/sdp/v3"
)

// Parse reads an SDP offer or answer (RFC 4566) and returns its first
// usable audio stream: an m=audio line over RTP/AVP (or RTP/AVPF) with a
// port other than 0, a unicast IP connection address and at least one
// format it can name (an a=rtpmap, or a static payload type of RFC 3551).
//
// It is tolerant where carriers break the RFC harmlessly: LF line ends,
// trailing blanks, blank lines, a missing s= or t=, a session c= after t=
// (pion/sdp refuses the order), attributes before c= in a media section,
// lines of types it has no use for, codec names in any case, missing
// rtpmaps for static payload types. What it cannot use is an error
// wrapping ErrUnacceptable, an *Error with a Warning code and reason.
func Parse(body []byte) (*Media, error) {
	raw, err := scanSDP(body)
	if err != nil {
		return nil, err
	}
	idx, err := raw.chooseAudio()
	if err != nil {
		return nil, err
	}
	// The lines we use, in RFC 4566 order, go through pion/sdp; what it
	// would refuse for no reason of ours was left out above.
	var sd pion.SessionDescription
	if err := sd.UnmarshalString(raw.canonical(idx)); err != nil {
		return nil, badSDP(WarnParameter, "malformed SDP")
	}
	if len(sd.MediaDescriptions) != 1 {
		return nil, badSDP(WarnParameter, "malformed SDP")
	}
	return describe(&sd, raw, idx)
}

// rawSDP is an SDP body split into the lines Parse cares about.
type rawSDP struct {
	origin   string // canonical o= value
	sessionC string // first session-level c= value
	attrs    []string
	media    []rawMedia
}

type rawMedia struct {
	line  mLine
	fmts  []string
	c     string
	attrs []string
}

// scanSDP splits body into lines and keeps v=, o=, c=, m= and a=,
// checking each line's shape.
func scanSDP(body []byte) (*rawSDP, error) {
	if len(body) == 0 {
		return nil, badSDP(WarnMisc, "empty SDP")
	}
	if len(body) > MaxSize {
		return nil, badSDP(WarnMisc, "SDP larger than %d bytes", MaxSize)
	}
	raw := &rawSDP{}
	var cur *rawMedia
	seenV := false
	n := 0
	for line := range strings.Lines(string(body)) {
		n++
		if n > maxSDPLines {
			return nil, badSDP(WarnMisc, "SDP longer than %d lines", maxSDPLines)
		}
		line = strings.Trim(line, " \t\r\n")
		if line == "" {
			continue
		}
		if len(line) > maxLineLen {
			return nil, badSDP(WarnParameter, "line %d too long", n)
		}
		if len(line) < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z' {
			return nil, badSDP(WarnParameter, "line %d is not type=value", n)
		}
		if hasControl(line) {
			return nil, badSDP(WarnParameter, "line %d has a control character", n)
		}
		typ, val := line[0], strings.TrimSpace(line[2:])
		if !seenV {
			if typ != 'v' || val != "0" {
				return nil, badSDP(WarnParameter, "SDP does not start with v=0")
			}
			seenV = true
			continue
		}
		switch typ {
		case 'v':
			return nil, badSDP(WarnParameter, "line %d: second v= line", n)
		case 'o':
			if cur != nil || raw.origin != "" {
				continue
			}
			o, ok := canonicalOrigin(val)
			if !ok {
				return nil, badSDP(WarnParameter, "line %d: bad o= line", n)
			}
			raw.origin = o
		case 'c':
			if cur == nil && raw.sessionC == "" {
				raw.sessionC = val
			} else if cur != nil && cur.c == "" {
				cur.c = val
			}
		case 'a':
			if cur == nil {
				raw.attrs = append(raw.attrs, val)
			} else {
				cur.attrs = append(cur.attrs, val)
			}
		case 'm':
			if len(raw.media) == maxMedia {
				return nil, badSDP(WarnMisc, "more than %d m= lines", maxMedia)
			}
			m, err := scanMLine(val, n)
			if err != nil {
				return nil, err
			}
			raw.media = append(raw.media, m)
			cur = &raw.media[len(raw.media)-1]
		}
		// s=, t= and the other types carry nothing we use: they are left
		// out, so that their order or syntax cannot fail the parse.
	}
	if !seenV {
		return nil, badSDP(WarnParameter, "SDP does not start with v=0")
	}
	if raw.origin == "" {
		return nil, badSDP(WarnParameter, "no o= line")
	}
	return raw, nil
}

// hasControl reports whether s has a control character other than tab:
// nothing we pass on may break a line.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return true
		}
	}
	return false
}

// canonicalOrigin checks an o= value (RFC 4566 §5.2: username sess-id
// sess-version nettype addrtype unicast-address) and returns it with
// single spaces and upper-case IN/IP4/IP6, as pion/sdp wants them.
func canonicalOrigin(v string) (string, bool) {
	f := strings.Fields(v)
	if len(f) != 6 || len(f[0]) > maxTokenLen || len(f[5]) > maxTokenLen {
		return "", false
	}
	for _, num := range f[1:3] {
		if _, err := strconv.ParseUint(num, 10, 64); err != nil {
			return "", false
		}
	}
	if !strings.EqualFold(f[3], "IN") || !(strings.EqualFold(f[4], "IP4") || strings.EqualFold(f[4], "IP6")) {
		return "", false
	}
	f[3], f[4] = "IN", strings.ToUpper(f[4])
	return strings.Join(f, " "), true
}

// scanMLine checks an m= value (RFC 4566 §5.14: media port[/count] proto
// fmt...).
func scanMLine(v string, n int) (rawMedia, error) {
	f := strings.Fields(v)
	if len(f) < 4 {
		return rawMedia{}, badSDP(WarnParameter, "line %d: bad m= line", n)
	}
	if len(f)-3 > maxFormats {
		return rawMedia{}, badSDP(WarnParameter, "line %d: more than %d formats", n, maxFormats)
	}
	portStr, _, _ := strings.Cut(f[1], "/")
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || !isToken(f[0], false) || !isToken(f[2], true) {
		return rawMedia{}, badSDP(WarnParameter, "line %d: bad m= line", n)
	}
	for _, t := range f[3:] {
		if !isToken(t, false) {
			return rawMedia{}, badSDP(WarnParameter, "line %d: bad m= line", n)
		}
	}
	return rawMedia{
		line: mLine{media: f[0], proto: f[2], fmt: f[3], port: uint16(port)},
		fmts: f[3:],
	}, nil
}

// isToken reports whether s is an RFC 4566 §9 token (and, with slash, a
// proto: tokens joined by "/") of at most maxTokenLen bytes.
func isToken(s string, slash bool) bool {
	if s == "" || len(s) > maxTokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'A' && c <= 'Z', c >= '^' && c <= '~',
			c == '!', c >= '#' && c <= '\'', c == '*', c == '+', c == '-', c == '.':
		case c == '/' && slash && i > 0 && i < len(s)-1 && s[i-1] != '/':
		default:
			return false
		}
	}
	return true
}

// audioProto returns the canonical spelling of an RTP transport we relay:
// RTP/AVP, and RTP/AVPF (RFC 4585, the same packets plus feedback we do
// not use).
func audioProto(p string) (string, bool) {
	switch {
	case strings.EqualFold(p, "RTP/AVP"):
		return "RTP/AVP", true
	case strings.EqualFold(p, "RTP/AVPF"):
		return "RTP/AVPF", true
	}
	return "", false
}

// chooseAudio returns the index of the first m=audio line we can relay, or
// the reason there is none.
func (r *rawSDP) chooseAudio() (int, error) {
	secure, rejected := false, false
	for i, m := range r.media {
		if !strings.EqualFold(m.line.media, "audio") {
			continue
		}
		if _, ok := audioProto(m.line.proto); !ok {
			secure = secure || strings.Contains(strings.ToUpper(m.line.proto), "SAVP")
			continue
		}
		if m.line.port == 0 {
			rejected = true
			continue
		}
		return i, nil
	}
	switch {
	case secure:
		return 0, badSDP(WarnTransport, "secure RTP not supported")
	case rejected:
		return 0, badSDP(WarnMediaType, "audio stream disabled (port 0)")
	}
	return 0, badSDP(WarnMediaType, "no audio stream")
}

// canonical returns the session part and the audio section idx as an SDP
// in RFC 4566 order, with only the lines describe reads, for pion/sdp.
func (r *rawSDP) canonical(idx int) string {
	var b strings.Builder
	b.WriteString("v=0\r\no=" + r.origin + "\r\ns=-\r\n")
	m := r.media[idx]
	if c, ok := canonicalConnection(r.sessionC); ok {
		b.WriteString("c=" + c + "\r\n")
	}
	b.WriteString("t=0 0\r\n")
	for _, a := range r.attrs {
		b.WriteString("a=" + a + "\r\n")
	}
	proto, _ := audioProto(m.line.proto)
	b.WriteString("m=audio " + strconv.Itoa(int(m.line.port)) + " " + proto + " " + strings.Join(m.fmts, " ") + "\r\n")
	if c, ok := canonicalConnection(m.c); ok {
		b.WriteString("c=" + c + "\r\n")
	}
	for _, a := range m.attrs {
		b.WriteString("a=" + a + "\r\n")
	}
	return b.String()
}

// canonicalConnection returns a c= value (RFC 4566 §5.7: nettype addrtype
// address) with single spaces and upper-case IN/IP4/IP6, or false when it
// is not one. The address itself is judged in describe.
func canonicalConnection(v string) (string, bool) {
	f := strings.Fields(v)
	if len(f) != 3 || !strings.EqualFold(f[0], "IN") || !(strings.EqualFold(f[1], "IP4") || strings.EqualFold(f[1], "IP6")) {
		return "", false
	}
	return "IN " + strings.ToUpper(f[1]) + " " + f[2], true
}

// connectionAddr returns the unicast IP address of a c= line.
func connectionAddr(ci *pion.ConnectionInformation) (netip.Addr, error) {
	if ci == nil || ci.Address == nil {
		return netip.Addr{}, badSDP(WarnAddress, "no connection address for audio")
	}
	// "/ttl" and "/count" suffixes belong to multicast (RFC 4566 §5.7).
	host, _, _ := strings.Cut(ci.Address.Address, "/")
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, badSDP(WarnAddress, "connection address is not an IP address")
	}
	a = a.Unmap()
	if a.IsMulticast() {
		return netip.Addr{}, badSDP(WarnAddress, "multicast connection address")
	}
	return a, nil
}

// describe builds the Media of the one audio section pion/sdp parsed.
func describe(sd *pion.SessionDescription, raw *rawSDP, idx int) (*Media, error) {
	md := sd.MediaDescriptions[0]
	m := &Media{lines: make([]mLine, len(raw.media)), index: idx}
	for i := range raw.media {
		m.lines[i] = raw.media[i].line
	}
	m.proto, _ = audioProto(raw.media[idx].line.proto)
	m.Origin = Origin{
		Username:  sd.Origin.Username,
		SessionID: sd.Origin.SessionID,
		Version:   sd.Origin.SessionVersion,
	}
	m.Origin.Addr, _ = netip.ParseAddr(sd.Origin.UnicastAddress)

	ci := md.ConnectionInformation
	if ci == nil {
		if raw.media[idx].c != "" {
			return nil, badSDP(WarnAddress, "bad c= line for audio")
		}
		ci = sd.ConnectionInformation
		if ci == nil && raw.sessionC != "" {
			return nil, badSDP(WarnAddress, "bad c= line")
		}
	}
	addr, err := connectionAddr(ci)
	if err != nil {
		return nil, err
	}
	port := uint16(md.MediaName.Port.Value)
	m.Addr = netip.AddrPortFrom(addr, port)
	if port < math.MaxUint16 {
		m.RTCP = netip.AddrPortFrom(addr, port+1)
	}

	rtpmaps := map[uint8]Format{}
	fmtps := map[uint8]string{}
	badFmtp := map[uint8]bool{}
	sessionDir, mediaDir := -1, -1
	sessionPtime, mediaPtime := 0, 0
	for _, a := range sd.Attributes {
		if d, ok := parseDirection(a.Key); ok && sessionDir < 0 {
			sessionDir = int(d)
		}
		if strings.EqualFold(a.Key, "ptime") && sessionPtime == 0 {
			sessionPtime = parsePtime(a.Value)
		}
	}
	for _, a := range md.Attributes {
		switch {
		case strings.EqualFold(a.Key, "rtpmap"):
			if f, ok := parseRTPMap(a.Value); ok {
				if _, dup := rtpmaps[f.PT]; !dup {
					rtpmaps[f.PT] = f
				}
			}
		case strings.EqualFold(a.Key, "fmtp"):
			ptStr, params, _ := strings.Cut(strings.TrimSpace(a.Value), " ")
			pt, err := strconv.ParseUint(ptStr, 10, 7)
			if err != nil {
				continue
			}
			params = strings.TrimSpace(params)
			if len(params) > maxFmtpLen {
				badFmtp[uint8(pt)] = true
			} else if _, dup := fmtps[uint8(pt)]; !dup && params != "" {
				fmtps[uint8(pt)] = params
			}
		case strings.EqualFold(a.Key, "ptime"):
			if mediaPtime == 0 {
				mediaPtime = parsePtime(a.Value)
			}
		case strings.EqualFold(a.Key, "rtcp"):
			if rtcp, ok := parseRTCP(a.Value, addr); ok {
				m.RTCP = rtcp
			}
		default:
			if d, ok := parseDirection(a.Key); ok && mediaDir < 0 {
				mediaDir = int(d)
			}
		}
	}
	switch {
	case mediaDir >= 0:
		m.Direction = Direction(mediaDir)
	case sessionDir >= 0:
		m.Direction = Direction(sessionDir)
	}
	m.Ptime = mediaPtime
	if m.Ptime == 0 {
		m.Ptime = sessionPtime
	}
	m.Hold = !m.Direction.Receives() || addr.IsUnspecified()

	seen := map[uint8]bool{}
	for _, fs := range md.MediaName.Formats {
		p, err := strconv.ParseUint(fs, 10, 7)
		if err != nil || seen[uint8(p)] || badFmtp[uint8(p)] {
			continue
		}
		pt := uint8(p)
		seen[pt] = true
		f, ok := rtpmaps[pt]
		if !ok {
			if f, ok = staticFormats[pt]; !ok {
				continue // a dynamic type without rtpmap cannot be named
			}
		}
		f.Fmtp = fmtps[pt]
		if f.IsTelephoneEvent() {
			m.events = append(m.events, f)
		} else {
			m.Formats = append(m.Formats, f)
		}
	}
	if len(m.Formats) == 0 {
		return nil, badSDP(WarnMediaFormat, "no audio format we can use")
	}
	if ev, ok := eventFor(m.events, 8000); ok {
		m.Event = &ev
	}
	return m, nil
}

// eventFor returns the telephone-event format at the given clock rate,
// else the first (RFC 4733 §2.1: events use the audio's clock).
func eventFor(events []Format, clock int) (Format, bool) {
	for _, e := range events {
		if e.ClockRate == clock {
			return e, true
		}
	}
	if len(events) > 0 {
		return events[0], true
	}
	return Format{}, false
}

// parseRTPMap reads an a=rtpmap value: "<pt> <name>/<rate>[/<channels>]"
// (RFC 4566 §6), with any blanks between the two parts.
func parseRTPMap(v string) (Format, bool) {
	f := strings.Fields(v)
	if len(f) != 2 {
		return Format{}, false
	}
	pt, err := strconv.ParseUint(f[0], 10, 7)
	if err != nil {
		return Format{}, false
	}
	parts := strings.Split(f[1], "/")
	if len(parts) < 2 || len(parts) > 3 || !isToken(parts[0], false) {
		return Format{}, false
	}
	rate, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil || rate == 0 || rate > 10_000_000 {
		return Format{}, false
	}
	ch := uint64(1)
	if len(parts) == 3 {
		if ch, err = strconv.ParseUint(parts[2], 10, 8); err != nil || ch == 0 {
			return Format{}, false
		}
	}
	return Format{PT: uint8(pt), Name: parts[0], ClockRate: int(rate), Channels: int(ch)}, true
}

// parsePtime reads a=ptime (RFC 4566 §6, milliseconds). Some endpoints
// write a fraction ("20.0"); nonsense reads as 0, not given.
func parsePtime(v string) int {
	p, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || p < 1 || p > maxPtime {
		return 0
	}
	return int(math.Round(p))
}

// parseRTCP reads a=rtcp (RFC 3605 §2.1): "<port> [IN IP4 <addr>]".
func parseRTCP(v string, addr netip.Addr) (netip.AddrPort, bool) {
	f := strings.Fields(v)
	if len(f) == 0 {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(f[0], 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, false
	}
	if len(f) == 4 {
		if a, err := netip.ParseAddr(f[3]); err == nil && a.Zone() == "" && !a.IsMulticast() {
			addr = a.Unmap()
		}
	}
	return netip.AddrPortFrom(addr, uint16(port)), true
}

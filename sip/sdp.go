package sip

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"dtmfgw/dtmf/g711"
)

// ErrBadSDP is wrapped by every error ParseSDP and the negotiation functions
// return for a session description we cannot accept: the SIP layer answers
// 488 Not Acceptable Here (RFC 3261 §21.4.26). errors.As with *SDPError
// gives the Warning code and text for the response (RFC 3261 §20.43).
var ErrBadSDP = errors.New("sip: unacceptable SDP")

// Warning codes of RFC 3261 §20.43 used in SDPError.Code.
const (
	// WarnAddress is 301 Incompatible network address formats.
	WarnAddress = 301
	// WarnTransport is 302 Incompatible transport protocol.
	WarnTransport = 302
	// WarnMediaType is 304 Media type not available.
	WarnMediaType = 304
	// WarnMediaFormat is 305 Incompatible media format.
	WarnMediaFormat = 305
	// WarnParameter is 307 Session description parameter not understood.
	WarnParameter = 307
	// WarnMisc is 399 Miscellaneous warning.
	WarnMisc = 399
)

// SDPError says why a session description was refused. Text is short,
// plain ASCII without quotes or line breaks, and never quotes the SDP
// itself (it names a line by number at most), so it can go into a Warning
// header as it is: Warning: 305 host "no common codec".
type SDPError struct {
	// Code is a Warning code of RFC 3261 §20.43 (3xx).
	Code int
	// Text is the reason, for people.
	Text string
}

// Error returns "sip: unacceptable SDP: " and the reason.
func (e *SDPError) Error() string { return ErrBadSDP.Error() + ": " + e.Text }

// Unwrap returns ErrBadSDP.
func (e *SDPError) Unwrap() error { return ErrBadSDP }

func badSDP(code int, format string, args ...any) error {
	return &SDPError{Code: code, Text: fmt.Sprintf(format, args...)}
}

// Limits on what ParseSDP reads. A SIP body over UDP is far smaller than
// MaxSDPSize; the rest bound the work one hostile body can cause.
const (
	// MaxSDPSize is the largest SDP body ParseSDP accepts, in bytes.
	MaxSDPSize  = 32 << 10
	maxSDPLines = 1024
	maxLineLen  = 4096
	maxMedia    = 32  // m= lines
	maxFormats  = 64  // formats on one m= line
	maxTokenLen = 64  // media, proto, fmt, encoding name, o= username
	maxFmtpLen  = 512 // a=fmtp parameters kept (and passed on)
	maxPtime    = 1000
)

// Direction is the media direction attribute of RFC 4566 §6 and RFC 3264
// §5.1, seen from the side that wrote the SDP. The zero value is SendRecv,
// the default when an SDP names none.
type Direction uint8

// The four directions.
const (
	SendRecv Direction = iota
	SendOnly
	RecvOnly
	Inactive
)

// String returns the attribute name: "sendrecv", "sendonly", "recvonly" or
// "inactive".
func (d Direction) String() string {
	switch d {
	case SendRecv:
		return "sendrecv"
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}

// Sends reports whether the side that wrote the SDP sends media.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly }

// Receives reports whether the side that wrote the SDP wants media.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly }

func directionOf(sends, receives bool) Direction {
	switch {
	case sends && receives:
		return SendRecv
	case sends:
		return SendOnly
	case receives:
		return RecvOnly
	}
	return Inactive
}

func parseDirection(key string) (Direction, bool) {
	for _, d := range [...]Direction{SendRecv, SendOnly, RecvOnly, Inactive} {
		if strings.EqualFold(key, d.String()) {
			return d, true
		}
	}
	return 0, false
}

// Format is one RTP payload format of an m= line (RFC 4566 §6 a=rtpmap and
// a=fmtp, RFC 3551 §6 for the static payload types).
type Format struct {
	// PT is the RTP payload type, 0–127.
	PT uint8
	// Name is the encoding name as written ("PCMU", "opus",
	// "telephone-event"); compare it case-insensitively (RFC 4855 §3).
	Name string
	// ClockRate is the RTP clock rate in Hz.
	ClockRate int
	// Channels is the number of audio channels, 1 when not written.
	Channels int
	// Fmtp holds the format parameters of a=fmtp, "" when none.
	Fmtp string
}

// String returns the format as an rtpmap value, "0 PCMU/8000".
func (f Format) String() string {
	s := strconv.Itoa(int(f.PT)) + " " + f.Name + "/" + strconv.Itoa(f.ClockRate)
	if f.Channels > 1 {
		s += "/" + strconv.Itoa(f.Channels)
	}
	return s
}

// Law reports whether the format is G.711 (PCMU or PCMA at 8000 Hz, one
// channel, RFC 3551 §4.5.14), the audio the masking pipeline can decode,
// and which law it is.
func (f Format) Law() (g711.Law, bool) {
	if f.ClockRate != 8000 || f.Channels > 1 {
		return 0, false
	}
	switch {
	case strings.EqualFold(f.Name, "PCMU"):
		return g711.Ulaw, true
	case strings.EqualFold(f.Name, "PCMA"):
		return g711.Alaw, true
	}
	return 0, false
}

// IsTelephoneEvent reports whether the format is RFC 4733 telephone-event.
func (f Format) IsTelephoneEvent() bool { return strings.EqualFold(f.Name, "telephone-event") }

// isComfortNoise reports whether the format is RFC 3389 comfort noise.
func (f Format) isComfortNoise() bool { return strings.EqualFold(f.Name, "CN") }

// sameEncoding reports whether two formats are the same codec, whatever
// their payload type numbers (RFC 3264 §6.1 lets the two sides number one
// codec differently).
func (f Format) sameEncoding(g Format) bool {
	return strings.EqualFold(f.Name, g.Name) && f.ClockRate == g.ClockRate && max(f.Channels, 1) == max(g.Channels, 1)
}

// staticFormats are the audio payload types of RFC 3551 §6 (Table 4) that
// need no a=rtpmap line.
var staticFormats = map[uint8]Format{
	0:  {PT: 0, Name: "PCMU", ClockRate: 8000, Channels: 1},
	3:  {PT: 3, Name: "GSM", ClockRate: 8000, Channels: 1},
	4:  {PT: 4, Name: "G723", ClockRate: 8000, Channels: 1},
	5:  {PT: 5, Name: "DVI4", ClockRate: 8000, Channels: 1},
	6:  {PT: 6, Name: "DVI4", ClockRate: 16000, Channels: 1},
	7:  {PT: 7, Name: "LPC", ClockRate: 8000, Channels: 1},
	8:  {PT: 8, Name: "PCMA", ClockRate: 8000, Channels: 1},
	9:  {PT: 9, Name: "G722", ClockRate: 8000, Channels: 1},
	10: {PT: 10, Name: "L16", ClockRate: 44100, Channels: 2},
	11: {PT: 11, Name: "L16", ClockRate: 44100, Channels: 1},
	12: {PT: 12, Name: "QCELP", ClockRate: 8000, Channels: 1},
	13: {PT: 13, Name: "CN", ClockRate: 8000, Channels: 1},
	14: {PT: 14, Name: "MPA", ClockRate: 90000, Channels: 1},
	15: {PT: 15, Name: "G728", ClockRate: 8000, Channels: 1},
	16: {PT: 16, Name: "DVI4", ClockRate: 11025, Channels: 1},
	17: {PT: 17, Name: "DVI4", ClockRate: 22050, Channels: 1},
	18: {PT: 18, Name: "G729", ClockRate: 8000, Channels: 1},
}

// G711Formats returns PCMU and PCMA, in that order: what we offer when we
// have no offer to follow (the late-offer case, RFC 3261 §13.2.1).
func G711Formats() []Format {
	return []Format{staticFormats[0], staticFormats[8]}
}

// MediaDescription is the audio stream of one SDP body: what ParseSDP
// finds in a peer's offer or answer, and what the negotiation functions
// build for us to send (Origin.Marshal writes it).
type MediaDescription struct {
	// Origin is the o= line (RFC 4566 §5.2) of a parsed SDP. Marshal
	// ignores it: our o= line comes from the Origin we keep per leg.
	Origin Origin
	// Addr is where the writer receives RTP: the connection address (c=,
	// media level over session level) and the m= port. An unspecified
	// address (0.0.0.0 or ::) is the RFC 2543 hold; nothing is sent there.
	Addr netip.AddrPort
	// RTCP is where the writer receives RTCP: a=rtcp (RFC 3605) or the
	// port above Addr's (RFC 3550 §11); unspecified during an RFC 2543
	// hold, like Addr. Marshal ignores it: our RTCP is on the port above
	// our RTP, the default, so we write no a=rtcp.
	RTCP netip.AddrPort
	// Formats are the audio formats in the writer's order of preference,
	// telephone-event excluded.
	Formats []Format
	// Event is the telephone-event format (RFC 4733 §7), nil when none.
	// Of several in one offer ParseSDP picks the 8000 Hz one.
	Event *Format
	// Ptime is a=ptime in milliseconds, 0 when not given (RFC 4566 §6).
	Ptime int
	// Direction is the media direction (RFC 3264 §5.1).
	Direction Direction
	// Hold reports that the writer asks not to receive media: sendonly,
	// inactive, or an unspecified connection address (RFC 3264 §8.4).
	Hold bool

	events []Format // every telephone-event format offered
	proto  string   // the m= transport, "RTP/AVP" when empty
	lines  []mLine  // every m= line of a parsed SDP, or of the offer an answer answers
	index  int      // which of lines is this audio stream
}

// Audio returns the first format, the codec an answer selects (RFC 3264
// §6.1), and false when there is none.
func (m *MediaDescription) Audio() (Format, bool) {
	if m == nil || len(m.Formats) == 0 {
		return Format{}, false
	}
	return m.Formats[0], true
}

// effectiveDirection is Direction without the receive half when the
// address is unspecified: the RFC 2543 hold asks for no media (RFC 3264
// §8.4).
func (m *MediaDescription) effectiveDirection() Direction {
	d := m.Direction
	if m.Addr.Addr().IsUnspecified() {
		d = directionOf(d.Sends(), false)
	}
	return d
}

// lookup returns the format of m that is the same codec as f.
func (m *MediaDescription) lookup(f Format) (Format, bool) {
	for _, g := range m.Formats {
		if g.sameEncoding(f) {
			return g, true
		}
	}
	return Format{}, false
}

// mLine is one m= line as offered, kept so that an answer can list every
// offered stream, rejecting all but the audio one with port 0 (RFC 3264
// §6). Its tokens were checked against RFC 4566's token syntax.
type mLine struct {
	media, proto, fmt string // fmt: the first format
	port              uint16
}

// ParseSDP reads an SDP offer or answer (RFC 4566) and returns its first
// usable audio stream: an m=audio line over RTP/AVP (or RTP/AVPF) with a
// port other than 0, a unicast IP connection address and at least one
// format it can name (an a=rtpmap, or a static payload type of RFC 3551).
//
// It is tolerant where carriers break the RFC harmlessly: LF line ends,
// trailing blanks, blank lines, a missing s= or t=, a session c= after t=
// (pion/sdp refuses the order), attributes before c= in a media section,
// lines of types it has no use for, codec names in any case, missing
// rtpmaps for static payload types. What it cannot use is an error
// wrapping ErrBadSDP, an *SDPError with a Warning code and reason.
func ParseSDP(body []byte) (*MediaDescription, error) {
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
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw.canonical(idx)); err != nil {
		return nil, badSDP(WarnParameter, "malformed SDP")
	}
	if len(sd.MediaDescriptions) != 1 {
		return nil, badSDP(WarnParameter, "malformed SDP")
	}
	return describe(&sd, raw, idx)
}

// rawSDP is an SDP body split into the lines ParseSDP cares about.
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
	if len(body) > MaxSDPSize {
		return nil, badSDP(WarnMisc, "SDP larger than %d bytes", MaxSDPSize)
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
func connectionAddr(ci *sdp.ConnectionInformation) (netip.Addr, error) {
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

// describe builds the MediaDescription of the one audio section pion/sdp
// parsed.
func describe(sd *sdp.SessionDescription, raw *rawSDP, idx int) (*MediaDescription, error) {
	md := sd.MediaDescriptions[0]
	m := &MediaDescription{lines: make([]mLine, len(raw.media)), index: idx}
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

// Origin is an SDP o= line (RFC 4566 §5.2). In a parsed MediaDescription it
// is the peer's. Kept per leg, it is ours: Marshal writes it into every
// SDP we send on that leg, with a random session id chosen on first use
// and the version incremented whenever the SDP differs from the last one
// sent (RFC 3264 §8). The zero value is ready to use. An Origin is not
// safe for concurrent use.
type Origin struct {
	// Username is the o= username, "-" when empty.
	Username string
	// SessionID is the numeric session id; 0 is replaced by a random one
	// on first use.
	SessionID uint64
	// Version is the session version.
	Version uint64
	// Addr is the o= address; when invalid, the media address is used.
	Addr netip.Addr

	last string // the last SDP marshalled, o= line excluded; "" before
}

// Marshal returns the SDP of md with this origin (RFC 4566, RFC 3264 §5
// for offers, §6 for answers): our o= line, s=-, one c= line with md.Addr,
// t=0 0, and the audio m= line with an a=rtpmap for every format (static
// ones too), a=fmtp where there are parameters, telephone-event, a=ptime
// when set and the direction. An answer built by AnswerToCaller or
// AnswerToAgent also lists every other offered stream, rejected with port
// 0 (RFC 3264 §6). It increments o.Version when the SDP differs from the
// last one marshalled, and leaves it otherwise (RFC 3264 §8: an unchanged
// session description keeps its version).
func (o *Origin) Marshal(md *MediaDescription) ([]byte, error) {
	if err := md.check(); err != nil {
		return nil, err
	}
	if o.SessionID == 0 {
		o.SessionID = randomSessionID()
	}
	sd := md.session(o)
	body, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("sip: marshal SDP: %w", err)
	}
	rest := withoutOrigin(body)
	if o.last != "" && rest != o.last {
		o.Version++
		sd.Origin.SessionVersion = o.Version
		if body, err = sd.Marshal(); err != nil {
			return nil, fmt.Errorf("sip: marshal SDP: %w", err)
		}
	}
	o.last = rest
	return body, nil
}

// withoutOrigin returns body without its o= line (the second line).
func withoutOrigin(body []byte) string {
	s := string(body)
	i := strings.Index(s, "\r\no=")
	if i < 0 {
		return s
	}
	j := strings.Index(s[i+2:], "\r\n")
	if j < 0 {
		return s[:i]
	}
	return s[:i] + s[i+2+j:]
}

// randomSessionID returns a random non-zero session id below 2^62, so that
// it fits peers that read it as a signed 64-bit number.
func randomSessionID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])>>2 | 1
}

// check refuses what would make an invalid SDP: Marshal writes only what
// it checked, so no field can inject a line.
func (m *MediaDescription) check() error {
	if m == nil {
		return errors.New("sip: no media description")
	}
	if !m.Addr.IsValid() || m.Addr.Port() == 0 || m.Addr.Addr().Zone() != "" {
		return errors.New("sip: SDP needs a media address and port")
	}
	if len(m.Formats) == 0 || len(m.Formats) > maxFormats {
		return errors.New("sip: SDP needs 1 to 64 audio formats")
	}
	if m.Ptime < 0 || m.Ptime > maxPtime || m.Direction > Inactive {
		return errors.New("sip: bad ptime or direction")
	}
	used := map[uint8]bool{}
	all := m.Formats
	if m.Event != nil {
		all = append(all[:len(all):len(all)], *m.Event)
	}
	for _, f := range all {
		if f.PT > 127 || used[f.PT] {
			return fmt.Errorf("sip: payload type %d out of range or used twice", f.PT)
		}
		used[f.PT] = true
		if !isToken(f.Name, false) || strings.Contains(f.Name, "/") || f.ClockRate <= 0 || f.Channels < 0 || f.Channels > 255 {
			return fmt.Errorf("sip: bad format for payload type %d", f.PT)
		}
		if len(f.Fmtp) > maxFmtpLen || hasControl(f.Fmtp) || strings.TrimSpace(f.Fmtp) != f.Fmtp {
			return fmt.Errorf("sip: bad fmtp for payload type %d", f.PT)
		}
	}
	if m.lines != nil && (m.index < 0 || m.index >= len(m.lines)) {
		return errors.New("sip: bad media index")
	}
	return nil
}

// session builds the pion/sdp description Marshal writes.
func (m *MediaDescription) session(o *Origin) *sdp.SessionDescription {
	addr := m.Addr.Addr()
	oaddr := o.Addr
	if !oaddr.IsValid() || oaddr.Zone() != "" {
		oaddr = addr
	}
	user := o.Username
	if !isToken(user, false) {
		user = "-"
	}
	sd := &sdp.SessionDescription{
		Origin: sdp.Origin{
			Username:       user,
			SessionID:      o.SessionID,
			SessionVersion: o.Version,
			NetworkType:    "IN",
			AddressType:    addrType(oaddr),
			UnicastAddress: oaddr.String(),
		},
		// RFC 3264 §5: s= carries nothing for a unicast session.
		SessionName: "-",
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN",
			AddressType: addrType(addr),
			Address:     &sdp.Address{Address: addr.String()},
		},
		// RFC 3264 §5: t=0 0, the session is not bounded in time.
		TimeDescriptions: []sdp.TimeDescription{{}},
	}
	if m.lines == nil {
		sd.MediaDescriptions = []*sdp.MediaDescription{m.audioSection()}
		return sd
	}
	for i, l := range m.lines {
		if i == m.index {
			sd.MediaDescriptions = append(sd.MediaDescriptions, m.audioSection())
			continue
		}
		sd.MediaDescriptions = append(sd.MediaDescriptions, &sdp.MediaDescription{
			MediaName: sdp.MediaName{
				Media:   l.media,
				Port:    sdp.RangedPort{Value: 0},
				Protos:  strings.Split(l.proto, "/"),
				Formats: []string{l.fmt},
			},
		})
	}
	return sd
}

func (m *MediaDescription) audioSection() *sdp.MediaDescription {
	proto := m.proto
	if proto == "" {
		proto = "RTP/AVP"
	}
	md := &sdp.MediaDescription{
		MediaName: sdp.MediaName{
			Media:  "audio",
			Port:   sdp.RangedPort{Value: int(m.Addr.Port())},
			Protos: strings.Split(proto, "/"),
		},
	}
	all := m.Formats
	if m.Event != nil {
		all = append(all[:len(all):len(all)], *m.Event)
	}
	for _, f := range all {
		pt := strconv.Itoa(int(f.PT))
		md.MediaName.Formats = append(md.MediaName.Formats, pt)
		md.Attributes = append(md.Attributes, sdp.NewAttribute("rtpmap", f.String()))
		if f.Fmtp != "" {
			md.Attributes = append(md.Attributes, sdp.NewAttribute("fmtp", pt+" "+f.Fmtp))
		}
	}
	if m.Ptime > 0 {
		md.Attributes = append(md.Attributes, sdp.NewAttribute("ptime", strconv.Itoa(m.Ptime)))
	}
	md.Attributes = append(md.Attributes, sdp.NewPropertyAttribute(m.Direction.String()))
	return md
}

func addrType(a netip.Addr) string {
	if a.Is4() {
		return "IP4"
	}
	return "IP6"
}

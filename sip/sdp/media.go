package sdp

import (
	"net/netip"
	"strconv"
	"strings"

	"dtmfgw/dtmf/g711"
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

// Media is the audio stream of one SDP body: what Parse finds in a peer's
// offer or answer, and what the negotiation functions build for us to send
// (Origin.Marshal writes it).
type Media struct {
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
	// Of several in one offer Parse picks the 8000 Hz one.
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
func (m *Media) Audio() (Format, bool) {
	if m == nil || len(m.Formats) == 0 {
		return Format{}, false
	}
	return m.Formats[0], true
}

// effectiveDirection is Direction without the receive half when the
// address is unspecified: the RFC 2543 hold asks for no media (RFC 3264
// §8.4).
func (m *Media) effectiveDirection() Direction {
	d := m.Direction
	if m.Addr.Addr().IsUnspecified() {
		d = directionOf(d.Sends(), false)
	}
	return d
}

// Lookup returns the format of m that is the same codec as f (the same
// encoding name, clock rate and channels, whatever its payload type), and
// false when m has none.
func (m *Media) Lookup(f Format) (Format, bool) {
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

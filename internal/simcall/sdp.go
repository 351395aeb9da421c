package simcall

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Payload types both ends use: PCMU is static (RFC 3551 §6); the caller
// offers telephone-event on 101, the usual dynamic choice.
const (
	pcmuPT    uint8 = 0
	offeredPT uint8 = 101
)

// errSDP wraps every reason a far end's SDP is not usable here.
var errSDP = errors.New("simcall: unusable SDP")

// sdpBody is an offer or answer of PCMU at addr, with telephone-event
// 0–15 on eventPT when events is true (RFC 4733 §2.4.1), 20 ms packets.
func sdpBody(addr netip.AddrPort, events bool, eventPT uint8) []byte {
	fmts := "0"
	extra := ""
	if events {
		fmts += " " + strconv.Itoa(int(eventPT))
		extra = fmt.Sprintf("a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-15\r\n", eventPT, eventPT)
	}
	return fmt.Appendf(nil, "v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP %s\r\na=rtpmap:0 PCMU/8000\r\n%sa=ptime:20\r\na=sendrecv\r\n",
		addr.Addr(), addr.Addr(), addr.Port(), fmts, extra)
}

// remoteMedia is what an end needs from the other's SDP: where to send
// RTP (RFC 4566 §5.7, §5.14) and the telephone-event payload type, if any.
type remoteMedia struct {
	addr    netip.AddrPort
	eventPT uint8
	events  bool
}

// parseSDP reads the first audio stream of body.
func parseSDP(body []byte) (remoteMedia, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return remoteMedia{}, fmt.Errorf("%w: %v", errSDP, err)
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		ci := md.ConnectionInformation
		if ci == nil {
			ci = sd.ConnectionInformation
		}
		if ci == nil || ci.Address == nil {
			return remoteMedia{}, fmt.Errorf("%w: no connection address", errSDP)
		}
		ip, err := netip.ParseAddr(ci.Address.Address)
		if err != nil {
			return remoteMedia{}, fmt.Errorf("%w: connection address: %v", errSDP, err)
		}
		port := md.MediaName.Port.Value
		if port < 1 || port > 65535 {
			return remoteMedia{}, fmt.Errorf("%w: port %d", errSDP, port)
		}
		rm := remoteMedia{addr: netip.AddrPortFrom(ip, uint16(port))}
		for _, a := range md.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			pt, codec, ok := strings.Cut(a.Value, " ")
			if !ok || !strings.EqualFold(codec, "telephone-event/8000") {
				continue
			}
			n, err := strconv.ParseUint(pt, 10, 7)
			if err != nil {
				return remoteMedia{}, fmt.Errorf("%w: telephone-event payload type %q", errSDP, pt)
			}
			rm.eventPT, rm.events = uint8(n), true
		}
		return rm, nil
	}
	return remoteMedia{}, fmt.Errorf("%w: no audio stream", errSDP)
}

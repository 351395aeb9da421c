package capture

import (
	"bytes"
	"net/netip"
	"strconv"
	"time"
)

// Limits on the SIP INFO requests kept.
const (
	// MaxSIPInfos bounds the SIP INFO requests remembered.
	MaxSIPInfos = 100_000
	// maxInfoBody bounds the body kept of one INFO; DTMF bodies are tiny
	// and the parser refuses anything longer anyway.
	maxInfoBody = 2048
)

// SIPInfo is a SIP INFO request seen in the capture (RFC 6086), which may
// carry a key press as application/dtmf-relay or application/dtmf. The
// body is kept as found; the caller decides what it means. UDP
// retransmissions (RFC 3261 §17.1.2) are kept once.
type SIPInfo struct {
	At          time.Time
	Src, Dst    netip.AddrPort
	CallID      string
	CSeq        string
	ContentType string
	Body        []byte
}

// infoKey identifies one INFO transaction on one hop, for removing
// retransmissions (RFC 3261 §17.2.3 matches on more, but Call-ID and CSeq
// between the same two addresses suffice for a capture).
type infoKey struct {
	src, dst     netip.AddrPort
	callID, cseq string
}

// sipInfoOf returns the INFO request in msg, if msg is one with a body.
func sipInfoOf(msg []byte) (SIPInfo, bool) {
	if !bytes.HasPrefix(msg, []byte("INFO ")) {
		return SIPInfo{}, false
	}
	headEnd, sep := bytes.Index(msg, []byte("\r\n\r\n")), 4
	if headEnd < 0 {
		headEnd, sep = bytes.Index(msg, []byte("\n\n")), 2
	}
	if headEnd < 0 {
		return SIPInfo{}, false
	}
	var info SIPInfo
	length := -1
	head := msg[:headEnd]
	// Skip the request line; each further line is one header (RFC 3261
	// §7.3). Folded continuation lines are rare in INFO and are ignored.
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[i+1:]
	} else {
		head = nil
	}
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name, value = bytes.TrimSpace(name), bytes.TrimSpace(value)
		// Compact forms (RFC 3261 §7.3.3): i = Call-ID, c = Content-Type,
		// l = Content-Length.
		switch {
		case bytes.EqualFold(name, []byte("call-id")), bytes.EqualFold(name, []byte("i")):
			info.CallID = string(value)
		case bytes.EqualFold(name, []byte("cseq")):
			info.CSeq = string(value)
		case bytes.EqualFold(name, []byte("content-type")), bytes.EqualFold(name, []byte("c")):
			info.ContentType = string(value)
		case bytes.EqualFold(name, []byte("content-length")), bytes.EqualFold(name, []byte("l")):
			if n, err := strconv.Atoi(string(value)); err == nil && n >= 0 {
				length = n
			}
		}
	}
	body := msg[headEnd+sep:]
	if length >= 0 && length < len(body) {
		body = body[:length]
	}
	if len(body) == 0 || info.ContentType == "" {
		return SIPInfo{}, false
	}
	info.Body = bytes.Clone(body[:min(len(body), maxInfoBody)])
	return info, true
}

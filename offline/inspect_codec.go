package offline

import (
	"cmp"
	"slices"
	"strconv"
	"strings"

	"dtmfgw/internal/capture"
	"dtmfgw/media"
)

// staticPayloadType is a payload type assigned by RFC 3551 §6 (table 4).
type staticPayloadType struct {
	name      string
	clockRate uint32
}

// staticPayloadTypes are the audio payload types of RFC 3551 §6, table 4,
// and CN (RFC 3389 §5). G722's clock is 8000 although it samples at 16 kHz
// (RFC 3551 §4.5.2).
var staticPayloadTypes = map[uint8]staticPayloadType{
	0:  {"PCMU", 8000},
	3:  {"GSM", 8000},
	4:  {"G723", 8000},
	5:  {"DVI4", 8000},
	6:  {"DVI4", 16000},
	7:  {"LPC", 8000},
	8:  {"PCMA", 8000},
	9:  {"G722", 8000},
	10: {"L16", 44100},
	11: {"L16", 44100},
	12: {"QCELP", 8000},
	13: {"CN", 8000},
	14: {"MPA", 90000},
	15: {"G728", 8000},
	16: {"DVI4", 11025},
	17: {"DVI4", 22050},
	18: {"G729", 8000},
}

// codecInfo is what inspect says about a stream's audio.
type codecInfo struct {
	// name lists the audio payload types, most packets first, joined by
	// ",": "PCMU", "PCMU,CN", "opus", "PT 97"; "telephone-event" when
	// the stream carries events only.
	name string
	// clockRate is the RTP clock of the main audio payload type, for
	// jitter in milliseconds.
	clockRate uint32
	// otherAudio is true when some audio is neither G.711 nor comfort
	// noise: in-band tones could not be searched for in it.
	otherAudio bool
}

// streamCodec names the audio payload types of s. Each payload type's
// encoding is taken from the SDP that applies to the stream, best first
// (capture.MediaFor: the receiver's, the sender's, then by port alone;
// the latest first), as capture resolves telephone-event.
func streamCodec(s *capture.Stream, sdp []capture.SDPMedia) codecInfo {
	type ptCount struct {
		pt uint8
		n  int
	}
	var counts []ptCount
	for _, p := range s.Packets {
		if s.EventSource != capture.EventPTNone && p.PayloadType == s.EventPT {
			continue
		}
		i := slices.IndexFunc(counts, func(c ptCount) bool { return c.pt == p.PayloadType })
		if i < 0 {
			counts = append(counts, ptCount{pt: p.PayloadType}) // at most 128 entries (7-bit PT)
			i = len(counts) - 1
		}
		counts[i].n++
	}
	if len(counts) == 0 {
		return codecInfo{name: "telephone-event", clockRate: media.DefaultClockRate}
	}
	slices.SortFunc(counts, func(a, b ptCount) int {
		return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.pt, b.pt))
	})
	info := codecInfo{}
	names := make([]string, 0, len(counts))
	for i, c := range counts {
		name, rate := encodingOf(c.pt, s.Key, sdp)
		if i == 0 {
			info.clockRate = rate
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
		if c.pt != ptPCMU && c.pt != ptPCMA && !strings.EqualFold(name, "CN") {
			// The in-band search decodes G.711 by its static payload
			// types only (analyzeStream); comfort noise has no tones.
			info.otherAudio = true
		}
	}
	info.name = strings.Join(names, ",")
	if info.clockRate == 0 {
		info.clockRate = media.DefaultClockRate
	}
	return info
}

// encodingOf returns the name and clock rate of payload type pt in a
// stream: from the SDP that applies, else RFC 3551's static assignment,
// else "PT n" at the default clock rate.
func encodingOf(pt uint8, key capture.StreamKey, sdp []capture.SDPMedia) (string, uint32) {
	for m := range capture.MediaFor(key, sdp) {
		enc, ok := m.Encodings[pt]
		if !ok {
			continue
		}
		// "<name>/<rate>[/<channels>]" (RFC 4566 §6).
		name, rest, _ := strings.Cut(enc, "/")
		rateStr, _, _ := strings.Cut(rest, "/")
		rate, err := strconv.ParseUint(rateStr, 10, 32)
		if name == "" || err != nil || rate == 0 {
			continue
		}
		return name, uint32(rate)
	}
	if st, ok := staticPayloadTypes[pt]; ok {
		return st.name, st.clockRate
	}
	return "PT " + strconv.Itoa(int(pt)), media.DefaultClockRate
}

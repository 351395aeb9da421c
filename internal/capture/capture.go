// Package capture reads packet capture files (pcap and pcapng, as written
// by tcpdump, Wireshark, sngrep or any SBC) and splits the RTP they carry
// into streams, so that DTMF can be found in recorded calls: events in
// telephone-event packets (RFC 4733) and tones in G.711 audio.
//
// The file formats are read by gopacket's pure-Go pcapgo, the link, IP and
// UDP layers by gopacket/layers, RTP headers by pion/rtp and SDP by
// pion/sdp. What is RTP, and which payload type carries telephone-event,
// is decided here: from the SDP of SIP packets in the same capture when
// there is any, else by looking at the packets.
//
// Everything is bounded: the number of packets, the bytes of payload kept,
// the number of streams and of SDP media descriptions.
package capture

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/ip4defrag"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/pion/rtp"
)

// Limits on what one capture may make this package hold.
const (
	// MaxPackets is the largest number of packet records read.
	MaxPackets = 4_000_000
	// MaxPayloadBytes bounds the RTP payload bytes kept in memory.
	MaxPayloadBytes = 512 << 20
	// MaxStreams bounds the number of RTP streams; packets of further
	// streams are counted in Stats.DroppedStreams and otherwise ignored.
	MaxStreams = 4096
	// MaxSDPMedia bounds the SDP media descriptions remembered.
	MaxSDPMedia = 4096
	// fragmentTimeout is how long (in capture time) an incomplete IPv4
	// datagram is kept: Linux's default ipfrag_time.
	fragmentTimeout = 30 * time.Second
)

var (
	// ErrNotCapture is returned for input that is neither pcap nor pcapng.
	ErrNotCapture = errors.New("capture: not a pcap or pcapng file")
	// ErrMalformed is returned for a capture file that breaks its format.
	ErrMalformed = errors.New("capture: malformed capture file")
	// ErrTooLarge is returned when a capture exceeds MaxPackets or
	// MaxPayloadBytes.
	ErrTooLarge = errors.New("capture: capture too large")
	// ErrLinkType is returned for a link-layer type this package cannot
	// take apart.
	ErrLinkType = errors.New("capture: unsupported link type")
)

// StreamKey identifies an RTP stream: its UDP addresses and its SSRC
// (RFC 3550 §3: the SSRC identifies the source within an RTP session).
type StreamKey struct {
	Src, Dst netip.AddrPort
	SSRC     uint32
}

// String formats the key as "10.0.0.1:4000>10.0.0.2:5000 ssrc=0x1234".
func (k StreamKey) String() string {
	return fmt.Sprintf("%s>%s ssrc=0x%x", k.Src, k.Dst, k.SSRC)
}

// Packet is one RTP packet of a stream.
type Packet struct {
	// At is the capture timestamp.
	At          time.Time
	PayloadType uint8
	Marker      bool
	Sequence    uint16
	Timestamp   uint32
	// Payload is the RTP payload, without padding (RFC 3550 §5.1). It is
	// owned by the Packet.
	Payload []byte
}

// EventPTSource says how a stream's telephone-event payload type was found.
type EventPTSource uint8

const (
	// EventPTNone means the stream has no telephone-event packets known.
	EventPTNone EventPTSource = iota
	// EventPTFromSDP means an SDP a=rtpmap line in the capture named it.
	EventPTFromSDP
	// EventPTInferred means the packets themselves looked like RFC 4733
	// events (see InferEventPT).
	EventPTInferred
)

// String returns "sdp", "inferred" or "none", as `dtmfgw detect -v` prints.
func (s EventPTSource) String() string {
	switch s {
	case EventPTFromSDP:
		return "sdp"
	case EventPTInferred:
		return "inferred"
	}
	return "none"
}

// Stream is the RTP packets of one StreamKey, in capture order.
type Stream struct {
	Key     StreamKey
	Packets []Packet
	// EventPT and EventRate are the telephone-event payload type and its
	// RTP clock rate when EventSource is not EventPTNone.
	EventPT     uint8
	EventRate   int
	EventSource EventPTSource
}

// Stats counts what a capture held.
type Stats struct {
	Records        int // packet records in the file
	UDP            int // of which UDP datagrams (reassembled from fragments or whole)
	RTP            int // of which kept as RTP
	SIP            int // of which looked like SIP with a body
	Undecodable    int // records whose link/IP/UDP layers did not decode
	Reassembled    int // datagrams reassembled from IPv4 fragments
	DroppedStreams int // RTP packets of streams beyond MaxStreams
	NotRTPStreams  int // candidate streams dropped as not RTP after all
}

// Capture is what Read found in a capture file.
type Capture struct {
	// First is the timestamp of the first packet record of the file, the
	// origin of every offset the command line prints.
	First time.Time
	// Streams are the RTP streams, ordered by their first packet.
	Streams []*Stream
	// Media are the SDP media descriptions found in SIP packets.
	Media []SDPMedia
	// Infos are the SIP INFO requests with a body, in capture order,
	// retransmissions removed.
	Infos []SIPInfo
	// Stopped is non-nil when reading ended early at a damaged or
	// truncated record; everything before it is in the Capture.
	Stopped error
	Stats   Stats
}

// Magic numbers of the two file formats: pcap (classic, microsecond and
// nanosecond, either byte order) and the pcapng Section Header Block type
// (draft-ietf-opsawg-pcapng §4.1), which reads the same in both orders.
var (
	pcapMagics = [][]byte{
		{0xd4, 0xc3, 0xb2, 0xa1}, {0xa1, 0xb2, 0xc3, 0xd4},
		{0x4d, 0x3c, 0xb2, 0xa1}, {0xa1, 0xb2, 0x3c, 0x4d},
	}
	pcapngMagic = []byte{0x0a, 0x0d, 0x0d, 0x0a}
)

// Kind reports "pcap" or "pcapng" for a file starting with head, or "".
func Kind(head []byte) string {
	if len(head) < 4 {
		return ""
	}
	for _, m := range pcapMagics {
		if bytes.Equal(head[:4], m) {
			return "pcap"
		}
	}
	if bytes.Equal(head[:4], pcapngMagic) {
		return "pcapng"
	}
	return ""
}

// packetSource is what pcapgo's two readers have in common.
type packetSource interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// Read reads a pcap or pcapng capture from r and returns its RTP streams.
// A capture damaged or truncated in a record (tcpdump killed mid-write) is
// read up to that record, and Capture.Stopped says why it ended there.
func Read(r io.Reader) (*Capture, error) {
	return ReadContext(context.Background(), r)
}

// ReadContext is Read that gives up with ctx's error when ctx is done.
func ReadContext(ctx context.Context, r io.Reader) (*Capture, error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(4)
	var (
		src      packetSource
		linkType layers.LinkType
		mixed    bool
	)
	switch Kind(head) {
	case "pcap":
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: pcap header: %v", ErrMalformed, err)
		}
		src, linkType = pr, pr.LinkType()
	case "pcapng":
		nr, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, fmt.Errorf("%w: pcapng section header: %v", ErrMalformed, err)
		}
		src, linkType, mixed = nr, nr.LinkType(), true
	default:
		return nil, fmt.Errorf("%w (starts with % x)", ErrNotCapture, head)
	}
	if !mixed && firstDecoder(linkType) == nil {
		return nil, fmt.Errorf("%w %d (%s); want Ethernet, Linux cooked, loopback or raw IP", ErrLinkType, int(linkType), linkType)
	}
	b := newBuilder()
	var stopped error
	for {
		if b.stats.Records%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		data, ci, err := src.ZeroCopyReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			if b.stats.Records == 0 && err != io.ErrUnexpectedEOF {
				return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
			}
			// A damaged or cut-short record (tcpdump killed mid-write, a
			// copy that ran out of disk) ends the capture; what came
			// before is still worth reading.
			stopped = fmt.Errorf("%w: stopped after %d records: %v", ErrMalformed, b.stats.Records, err)
			break
		}
		lt := linkType
		if mixed && len(ci.AncillaryData) > 0 {
			if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
				lt = l
			}
		}
		if err := b.add(data, ci.Timestamp, lt); err != nil {
			return nil, err
		}
	}
	c := b.finish()
	c.Stopped = stopped
	return c, nil
}

// builder accumulates streams while a capture is read.
type builder struct {
	first    time.Time
	streams  map[StreamKey]*Stream
	order    []*Stream
	media    []SDPMedia
	stats    Stats
	retained int
	rtp      rtp.Header

	defrag       *ip4defrag.IPv4Defragmenter
	fragments    int
	heldFragment bool // the last record was a fragment kept for reassembly

	infos    []SIPInfo
	infoSeen map[infoKey]bool
}

func newBuilder() *builder {
	return &builder{streams: make(map[StreamKey]*Stream)}
}

// add takes one packet record apart.
func (b *builder) add(data []byte, at time.Time, lt layers.LinkType) error {
	b.stats.Records++
	if b.stats.Records > MaxPackets {
		return fmt.Errorf("%w: more than %d packets", ErrTooLarge, MaxPackets)
	}
	if b.stats.Records == 1 {
		b.first = at
	}
	dg, ok := b.transport(data, at, lt)
	if !ok {
		if !b.heldFragment {
			b.stats.Undecodable++
		}
		return nil
	}
	src, dst, payload := dg.src, dg.dst, dg.payload
	if !dg.tcp {
		b.stats.UDP++
	}
	if looksLikeSIP(payload) {
		if info, ok := sipInfoOf(payload); ok {
			b.addInfo(info, at, src, dst)
			return nil
		}
		if media := sdpMediaFromSIP(payload); len(media) > 0 {
			b.stats.SIP++
			for _, m := range media {
				if len(b.media) < MaxSDPMedia {
					b.media = append(b.media, m)
				}
			}
		}
		return nil
	}
	if dg.tcp || !looksLikeRTP(payload) {
		return nil
	}
	n, err := b.rtp.Unmarshal(payload)
	if err != nil || b.rtp.Version != 2 {
		// pion does not check the version (STYLE.md); we do.
		return nil
	}
	body, ok := rtpPayload(payload[n:], b.rtp.Padding)
	if !ok {
		return nil
	}
	key := StreamKey{Src: src, Dst: dst, SSRC: b.rtp.SSRC}
	s := b.streams[key]
	if s == nil {
		if len(b.streams) >= MaxStreams {
			b.stats.DroppedStreams++
			return nil
		}
		s = &Stream{Key: key}
		b.streams[key] = s
		b.order = append(b.order, s)
	}
	b.retained += len(body)
	if b.retained > MaxPayloadBytes {
		return fmt.Errorf("%w: more than %d bytes of RTP payload", ErrTooLarge, MaxPayloadBytes)
	}
	b.stats.RTP++
	s.Packets = append(s.Packets, Packet{
		At:          at,
		PayloadType: b.rtp.PayloadType,
		Marker:      b.rtp.Marker,
		Sequence:    b.rtp.SequenceNumber,
		Timestamp:   b.rtp.Timestamp,
		Payload:     bytes.Clone(body),
	})
	return nil
}

// addInfo keeps a SIP INFO request unless it retransmits one already kept.
func (b *builder) addInfo(info SIPInfo, at time.Time, src, dst netip.AddrPort) {
	if len(b.infos) >= MaxSIPInfos {
		return
	}
	if info.CallID != "" && info.CSeq != "" {
		k := infoKey{src, dst, info.CallID, info.CSeq}
		if b.infoSeen == nil {
			b.infoSeen = make(map[infoKey]bool)
		}
		if b.infoSeen[k] {
			return
		}
		b.infoSeen[k] = true
	}
	info.At, info.Src, info.Dst = at, src, dst
	b.infos = append(b.infos, info)
}

// rtpPayload returns the bytes after the RTP header without the padding
// the P bit announces (RFC 3550 §5.1: the last octet counts the padding).
func rtpPayload(body []byte, padding bool) ([]byte, bool) {
	if padding {
		if len(body) == 0 {
			return nil, false
		}
		pad := int(body[len(body)-1])
		if pad == 0 || pad > len(body) {
			return nil, false
		}
		body = body[:len(body)-pad]
	}
	return body, true
}

// finish keeps the streams that behave like RTP and resolves each one's
// telephone-event payload type.
func (b *builder) finish() *Capture {
	c := &Capture{First: b.first, Media: b.media, Infos: b.infos, Stats: b.stats}
	for _, s := range b.order {
		if !plausibleRTPStream(s) {
			c.Stats.NotRTPStreams++
			c.Stats.RTP -= len(s.Packets)
			continue
		}
		c.Streams = append(c.Streams, s)
	}
	for _, s := range c.Streams {
		resolveEventPT(s, c.Media)
	}
	sort.SliceStable(c.Streams, func(i, j int) bool {
		return c.Streams[i].Packets[0].At.Before(c.Streams[j].Packets[0].At)
	})
	return c
}

// datagram is the transport payload of one record.
type datagram struct {
	src, dst netip.AddrPort
	payload  []byte
	tcp      bool // a TCP segment: searched for SIP only, never RTP
}

// transport decodes the link, IP and UDP (or TCP) layers of one record.
// IPv4 fragments are reassembled (RFC 791 §3.2), since SIP messages with
// SDP often exceed the MTU; the datagram is returned with its last
// fragment. IPv6 fragments are not reassembled.
func (b *builder) transport(data []byte, at time.Time, lt layers.LinkType) (datagram, bool) {
	b.heldFragment = false
	first := firstDecoder(lt)
	if first == nil {
		return datagram{}, false
	}
	p := gopacket.NewPacket(data, first, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
	var sa, da netip.Addr
	switch ip := p.NetworkLayer().(type) {
	case *layers.IPv4:
		if ip.FragOffset != 0 || ip.Flags&layers.IPv4MoreFragments != 0 {
			return b.reassemble(data, first, at)
		}
		sa, _ = netip.AddrFromSlice(ip.SrcIP.To4())
		da, _ = netip.AddrFromSlice(ip.DstIP.To4())
	case *layers.IPv6:
		sa, _ = netip.AddrFromSlice(ip.SrcIP.To16())
		da, _ = netip.AddrFromSlice(ip.DstIP.To16())
	default:
		return datagram{}, false
	}
	return fromTransport(p, sa, da)
}

// fromTransport picks the UDP or TCP layer out of a decoded packet.
func fromTransport(p gopacket.Packet, sa, da netip.Addr) (datagram, bool) {
	sa, da = sa.Unmap(), da.Unmap()
	if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
		return datagram{src: netip.AddrPortFrom(sa, uint16(u.SrcPort)), dst: netip.AddrPortFrom(da, uint16(u.DstPort)), payload: u.Payload}, true
	}
	if t, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && len(t.Payload) > 0 {
		return datagram{src: netip.AddrPortFrom(sa, uint16(t.SrcPort)), dst: netip.AddrPortFrom(da, uint16(t.DstPort)), payload: t.Payload, tcp: true}, true
	}
	return datagram{}, false
}

// reassemble hands an IPv4 fragment to the defragmenter. The record is
// copied first: the reader reuses its buffer and the defragmenter keeps
// fragments until the datagram is complete.
func (b *builder) reassemble(data []byte, first gopacket.Decoder, at time.Time) (datagram, bool) {
	if b.defrag == nil {
		b.defrag = ip4defrag.NewIPv4Defragmenter()
	}
	b.fragments++
	if b.fragments%1024 == 0 {
		// Incomplete datagrams are forgotten after a while so that a
		// capture of lost fragments cannot grow the defragmenter.
		b.defrag.DiscardOlderThan(at.Add(-fragmentTimeout))
	}
	p := gopacket.NewPacket(bytes.Clone(data), first, gopacket.DecodeOptions{Lazy: true})
	ip, ok := p.NetworkLayer().(*layers.IPv4)
	if !ok {
		return datagram{}, false
	}
	whole, err := b.defrag.DefragIPv4WithTimestamp(ip, at)
	if err != nil || whole == nil {
		b.heldFragment = err == nil
		return datagram{}, false
	}
	b.stats.Reassembled++
	sa, _ := netip.AddrFromSlice(whole.SrcIP.To4())
	da, _ := netip.AddrFromSlice(whole.DstIP.To4())
	return fromTransport(gopacket.NewPacket(whole.Payload, whole.NextLayerType(), gopacket.DecodeOptions{Lazy: true, NoCopy: true}), sa, da)
}

// firstDecoder returns the gopacket decoder for a link type this package
// takes apart, or nil. These are the link types telephony captures come in:
// Ethernet (with VLAN tags), Linux cooked v1 and v2 ("any" interface),
// BSD loopback, and raw IP.
func firstDecoder(lt layers.LinkType) gopacket.Decoder {
	switch lt {
	case layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2,
		layers.LinkTypeNull, layers.LinkTypeLoop, layers.LinkTypeRaw, 12, 14:
		return lt
	case layers.LinkTypeIPv4:
		return layers.LayerTypeIPv4
	case layers.LinkTypeIPv6:
		return layers.LayerTypeIPv6
	}
	return nil
}

// looksLikeRTP is the cheap first test (RFC 3550 §5.1, RFC 5761 §4): at
// least a fixed header, version 2, and a payload type outside 64–95. An
// RTCP packet (types 192–223: SR and RR at 200/201 up to the feedback and
// XR types at 205–207) reads as marker set with PT 64–95, which is why
// RFC 5761 §4 keeps RTP out of that range when RTP and RTCP share a port.
func looksLikeRTP(p []byte) bool {
	if len(p) < 12 || p[0]>>6 != 2 {
		return false
	}
	pt := p[1] & 0x7F
	return pt < 64 || pt > 95
}

// plausibleRTPStream drops candidate streams that passed looksLikeRTP by
// chance (DNS, QUIC, games): a real stream has more than one packet and
// sequence numbers that mostly advance by small steps.
func plausibleRTPStream(s *Stream) bool {
	if len(s.Packets) < 2 {
		return false
	}
	good := 0
	for i := 1; i < len(s.Packets); i++ {
		// Duplicates (0) and reordering (small negative) happen on real
		// networks; a random field jumps anywhere.
		d := int16(s.Packets[i].Sequence - s.Packets[i-1].Sequence)
		if d >= -16 && d <= 100 {
			good++
		}
	}
	return good*4 >= (len(s.Packets)-1)*3
}

// looksLikeSIP reports whether a UDP payload starts like a SIP request or
// response (RFC 3261 §7.1, §7.2): "SIP/2.0 " or a method token followed by
// a space and a URI.
func looksLikeSIP(p []byte) bool {
	if bytes.HasPrefix(p, []byte("SIP/2.0 ")) {
		return true
	}
	line := p
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	return bytes.HasSuffix(bytes.TrimRight(line, "\r"), []byte(" SIP/2.0"))
}

// be16 reads a big-endian uint16; used by the inference on event payloads.
func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }

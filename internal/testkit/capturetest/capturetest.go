// Package capturetest writes small pcap and pcapng files of UDP packets
// (RTP, SIP) for tests of the capture reader and of the commands built on
// it. It frames packets for several link types so that each decoding path
// can be exercised; the files are written with gopacket's pcapgo writers.
package capturetest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/pion/rtp"
)

// Link is how Builder frames each packet.
type Link int

// The framings Builder writes.
const (
	Ethernet     Link = iota // Ethernet II
	EthernetVLAN             // Ethernet with one 802.1Q tag
	LinuxSLL                 // Linux cooked capture v1
	LinuxSLL2                // Linux cooked capture v2
	RawIP                    // LINKTYPE_RAW
	Loopback                 // BSD loopback (LINKTYPE_NULL)
)

func (l Link) linkType() layers.LinkType {
	switch l {
	case LinuxSLL:
		return layers.LinkTypeLinuxSLL
	case LinuxSLL2:
		return layers.LinkTypeLinuxSLL2
	case RawIP:
		return layers.LinkTypeRaw
	case Loopback:
		return layers.LinkTypeNull
	}
	return layers.LinkTypeEthernet
}

type record struct {
	at   time.Time
	data []byte
}

// Builder collects framed packets in order.
type Builder struct {
	link    Link
	records []record
}

// New returns a Builder framing packets for link.
func New(link Link) *Builder { return &Builder{link: link} }

// UDP adds a UDP datagram from src to dst captured at at. IPv4 and IPv6
// addresses are both accepted (not mixed in one datagram).
func (b *Builder) UDP(at time.Time, src, dst netip.AddrPort, payload []byte) {
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	var ipLayer gopacket.SerializableLayer
	var ethType layers.EthernetType
	if src.Addr().Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		_ = udp.SetNetworkLayerForChecksum(ip)
		ipLayer, ethType = ip, layers.EthernetTypeIPv4
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		_ = udp.SetNetworkLayerForChecksum(ip)
		ipLayer, ethType = ip, layers.EthernetTypeIPv6
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ipLayer, udp, gopacket.Payload(payload)); err != nil {
		panic(fmt.Sprintf("capturetest: serialize: %v", err))
	}
	b.frame(at, buf.Bytes(), ethType)
}

// frame wraps an IP packet in the Builder's link layer and records it.
func (b *Builder) frame(at time.Time, ipBytes []byte, ethType layers.EthernetType) {
	ipBytes = bytes.Clone(ipBytes)
	var frame []byte
	mac := []byte{0x02, 0, 0, 0, 0, 1}
	switch b.link {
	case Ethernet, EthernetVLAN:
		eth := make([]byte, 0, 18+len(ipBytes))
		eth = append(eth, 0x02, 0, 0, 0, 0, 2)
		eth = append(eth, mac...)
		if b.link == EthernetVLAN {
			eth = binary.BigEndian.AppendUint16(eth, uint16(layers.EthernetTypeDot1Q))
			eth = binary.BigEndian.AppendUint16(eth, 42) // VLAN id
		}
		eth = binary.BigEndian.AppendUint16(eth, uint16(ethType))
		frame = append(eth, ipBytes...)
	case LinuxSLL:
		h := []byte{0, 0, 0, 1, 0, 6}
		h = append(h, mac...)
		h = append(h, 0, 0)
		h = binary.BigEndian.AppendUint16(h, uint16(ethType))
		frame = append(h, ipBytes...)
	case LinuxSLL2:
		h := binary.BigEndian.AppendUint16(nil, uint16(ethType))
		h = append(h, 0, 0, 0, 0, 0, 3, 0, 1, 0, 6)
		h = append(h, mac...)
		h = append(h, 0, 0)
		frame = append(h, ipBytes...)
	case RawIP:
		frame = ipBytes
	case Loopback:
		family := uint32(layers.ProtocolFamilyIPv4)
		if ethType == layers.EthernetTypeIPv6 {
			family = uint32(layers.ProtocolFamilyIPv6Linux)
		}
		frame = append(binary.LittleEndian.AppendUint32(nil, family), ipBytes...)
	}
	b.records = append(b.records, record{at: at, data: frame})
}

// UDPFragmented adds an IPv4 UDP datagram split into fragments of at most
// fragSize bytes of IP payload each (rounded down to a multiple of 8,
// RFC 791 §3.2), all captured at at.
func (b *Builder) UDPFragmented(at time.Time, src, dst netip.AddrPort, payload []byte, fragSize int) {
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	whole := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	_ = udp.SetNetworkLayerForChecksum(whole)
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, udp, gopacket.Payload(payload)); err != nil {
		panic(err)
	}
	body := buf.Bytes()
	fragSize &^= 7
	for off := 0; off < len(body); off += fragSize {
		end := min(off+fragSize, len(body))
		ip := &layers.IPv4{Version: 4, TTL: 64, Id: 0x4242, Protocol: layers.IPProtocolUDP, SrcIP: whole.SrcIP, DstIP: whole.DstIP, FragOffset: uint16(off / 8)}
		if end < len(body) {
			ip.Flags = layers.IPv4MoreFragments
		}
		fb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(fb, opts, ip, gopacket.Payload(body[off:end])); err != nil {
			panic(err)
		}
		b.frame(at, fb.Bytes(), layers.EthernetTypeIPv4)
	}
}

// TCP adds one TCP segment carrying payload (no handshake: enough for a
// reader that looks at segments one by one).
func (b *Builder) TCP(at time.Time, src, dst netip.AddrPort, payload []byte) {
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: 1, ACK: true, PSH: true, Window: 65535}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ip, tcp, gopacket.Payload(payload)); err != nil {
		panic(err)
	}
	b.frame(at, buf.Bytes(), layers.EthernetTypeIPv4)
}

// Len returns the number of records added so far.
func (b *Builder) Len() int { return len(b.records) }

// ReverseLast reverses the order of the last n records, keeping their
// timestamps: packets that arrived out of order.
func (b *Builder) ReverseLast(n int) {
	r := b.records[len(b.records)-n:]
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i].data, r[j].data = r[j].data, r[i].data
	}
}

// RTP adds an RTP packet (version 2) with the given header fields.
func (b *Builder) RTP(at time.Time, src, dst netip.AddrPort, h rtp.Header, payload []byte) {
	h.Version = 2
	pkt := rtp.Packet{Header: h, Payload: payload}
	raw, err := pkt.Marshal()
	if err != nil {
		panic(fmt.Sprintf("capturetest: rtp marshal: %v", err))
	}
	b.UDP(at, src, dst, raw)
}

// Pcap returns the packets as a classic pcap file with nanosecond stamps.
func (b *Builder) Pcap() []byte {
	var out bytes.Buffer
	w := pcapgo.NewWriterNanos(&out)
	if err := w.WriteFileHeader(65535, b.link.linkType()); err != nil {
		panic(err)
	}
	for _, r := range b.records {
		ci := gopacket.CaptureInfo{Timestamp: r.at, CaptureLength: len(r.data), Length: len(r.data)}
		if err := w.WritePacket(ci, r.data); err != nil {
			panic(err)
		}
	}
	return out.Bytes()
}

// PcapNG returns the packets as a pcapng file with one interface.
func (b *Builder) PcapNG() []byte {
	var out bytes.Buffer
	w, err := pcapgo.NewNgWriter(&out, b.link.linkType())
	if err != nil {
		panic(err)
	}
	for _, r := range b.records {
		ci := gopacket.CaptureInfo{Timestamp: r.at, CaptureLength: len(r.data), Length: len(r.data)}
		if err := w.WritePacket(ci, r.data); err != nil {
			panic(err)
		}
	}
	if err := w.Flush(); err != nil {
		panic(err)
	}
	return out.Bytes()
}

// EventPayload is an RFC 4733 §2.3 payload: event code, E bit, volume and
// duration in clock units.
func EventPayload(code uint8, end bool, volume uint8, duration uint16) []byte {
	b1 := volume & 0x3F
	if end {
		b1 |= 0x80
	}
	return []byte{code, b1, byte(duration >> 8), byte(duration)}
}

// SIPWithSDP returns a minimal SIP INVITE carrying an SDP offer that
// receives audio at media and maps eventPT to telephone-event/rate.
func SIPWithSDP(media netip.AddrPort, eventPT uint8, rate int) []byte {
	ipVer := "IP4"
	if media.Addr().Is6() {
		ipVer = "IP6"
	}
	body := fmt.Sprintf("v=0\r\no=- 1 1 IN %[1]s %[2]s\r\ns=-\r\nc=IN %[1]s %[2]s\r\nt=0 0\r\n"+
		"m=audio %[3]d RTP/AVP 0 8 %[4]d\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"+
		"a=rtpmap:%[4]d telephone-event/%[5]d\r\na=fmtp:%[4]d 0-16\r\na=sendrecv\r\n",
		ipVer, media.Addr(), media.Port(), eventPT, rate)
	return []byte("INVITE sip:pay@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n" +
		"Call-ID: 1@example.com\r\nCSeq: 1 INVITE\r\n" +
		"Content-Type: application/sdp\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body)
}

// SIPInfo returns a SIP INFO request of one dialog with the given CSeq
// number, Content-Type and body (RFC 6086).
func SIPInfo(cseq int, contentType string, body []byte) []byte {
	return []byte(fmt.Sprintf("INFO sip:agent@example.com SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK%d\r\n"+
		"Call-ID: 1@example.com\r\nCSeq: %d INFO\r\n"+
		"Content-Type: %s\r\nContent-Length: %d\r\n\r\n", cseq, cseq, contentType, len(body)) + string(body))
}

package capture

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"

	"dtmfgw/internal/testkit/capturetest"
)

var (
	t0    = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	addrA = netip.MustParseAddrPort("10.0.0.1:4000")
	addrB = netip.MustParseAddrPort("10.0.0.2:5000")
	addr6 = netip.MustParseAddrPort("[2001:db8::1]:4000")
	addr7 = netip.MustParseAddrPort("[2001:db8::2]:5000")
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// twoStreams writes a call: a→b SSRC 0x1111 with 5 PCMU packets, b→a SSRC
// 0x2222 with 4 PCMA packets, plus a DNS-like datagram and an RTCP packet
// that must not become streams.
func twoStreams(link capturetest.Link, a, b netip.AddrPort) *capturetest.Builder {
	w := capturetest.New(link)
	w.UDP(t0, netip.AddrPortFrom(a.Addr(), 53000), netip.AddrPortFrom(b.Addr(), 53), []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w'})
	for i := range 5 {
		w.RTP(t0.Add(ms(20*i+1)), a, b, rtp.Header{PayloadType: 0, SequenceNumber: uint16(100 + i), Timestamp: uint32(1000 + 160*i), SSRC: 0x1111, Marker: i == 0}, bytes.Repeat([]byte{0xFF, byte(i)}, 80))
		if i < 4 {
			w.RTP(t0.Add(ms(20*i+2)), b, a, rtp.Header{PayloadType: 8, SequenceNumber: uint16(65534 + i), Timestamp: uint32(0xFFFFFF00 + 160*i), SSRC: 0x2222}, bytes.Repeat([]byte{0xD5}, 160))
		}
	}
	// RTCP sender report (PT 200) on the next port up.
	rtcp := []byte{0x80, 200, 0, 6, 0, 0, 0x11, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	w.UDP(t0.Add(ms(90)), netip.AddrPortFrom(a.Addr(), a.Port()+1), netip.AddrPortFrom(b.Addr(), b.Port()+1), rtcp)
	// Multiplexed RTCP (RFC 5761) on the RTP port: extended reports
	// (207) and transport feedback (205) must not become a stream.
	xr := []byte{0x80, 207, 0, 4, 0, 0, 0x11, 0x11, 4, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0}
	fb := []byte{0x81, 205, 0, 3, 0, 0, 0x11, 0x11, 0, 0, 0x22, 0x22, 0, 1, 0, 0}
	w.UDP(t0.Add(ms(91)), a, b, xr)
	w.UDP(t0.Add(ms(92)), a, b, xr)
	w.UDP(t0.Add(ms(93)), a, b, fb)
	w.UDP(t0.Add(ms(94)), a, b, fb)
	return w
}

func TestReadSplitsRTPIntoStreamsForEveryLinkAndFileType(t *testing.T) {
	links := map[string]capturetest.Link{
		"ethernet": capturetest.Ethernet, "vlan": capturetest.EthernetVLAN, "sll": capturetest.LinuxSLL,
		"sll2": capturetest.LinuxSLL2, "raw": capturetest.RawIP, "loopback": capturetest.Loopback,
	}
	for name, link := range links {
		for _, ip := range [][2]netip.AddrPort{{addrA, addrB}, {addr6, addr7}} {
			w := twoStreams(link, ip[0], ip[1])
			for _, file := range []struct {
				kind string
				data []byte
			}{{"pcap", w.Pcap()}, {"pcapng", w.PcapNG()}} {
				t.Run(name+"/"+ip[0].Addr().String()+"/"+file.kind, func(t *testing.T) {
					if k := Kind(file.data); k != file.kind {
						t.Errorf("Kind = %q, want %q", k, file.kind)
					}
					c, err := Read(bytes.NewReader(file.data))
					if err != nil {
						t.Fatal(err)
					}
					if !c.First.Equal(t0) {
						t.Errorf("First = %v, want %v", c.First, t0)
					}
					if len(c.Streams) != 2 {
						t.Fatalf("%d streams, want 2: %+v", len(c.Streams), c.Stats)
					}
					s1, s2 := c.Streams[0], c.Streams[1]
					if want := (StreamKey{Src: ip[0], Dst: ip[1], SSRC: 0x1111}); s1.Key != want {
						t.Errorf("first stream %v, want %v", s1.Key, want)
					}
					if want := (StreamKey{Src: ip[1], Dst: ip[0], SSRC: 0x2222}); s2.Key != want {
						t.Errorf("second stream %v, want %v", s2.Key, want)
					}
					if len(s1.Packets) != 5 || len(s2.Packets) != 4 {
						t.Fatalf("packets %d and %d, want 5 and 4", len(s1.Packets), len(s2.Packets))
					}
					p := s1.Packets[3]
					if p.PayloadType != 0 || p.Sequence != 103 || p.Timestamp != 1000+480 || p.Marker || !p.At.Equal(t0.Add(ms(61))) || len(p.Payload) != 160 || p.Payload[1] != 3 {
						t.Errorf("packet 3 of first stream: %+v", p)
					}
					if !s1.Packets[0].Marker {
						t.Error("marker of first packet lost")
					}
					if q := s2.Packets[2]; q.Sequence != 0 || q.Timestamp != 0x40 || q.PayloadType != 8 {
						t.Errorf("wrapped packet: %+v", q)
					}
					if c.Stats.RTP != 9 || c.Stats.Records != 15 {
						t.Errorf("stats %+v, want 9 RTP of 15 records", c.Stats)
					}
					if s1.EventSource != EventPTNone {
						t.Errorf("audio-only stream got event PT %d from %v", s1.EventPT, s1.EventSource)
					}
				})
			}
		}
	}
}

func TestStreamKeyString(t *testing.T) {
	k := StreamKey{Src: addrA, Dst: addrB, SSRC: 0x1234}
	if got, want := k.String(), "10.0.0.1:4000>10.0.0.2:5000 ssrc=0x1234"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
	k6 := StreamKey{Src: addr6, Dst: addr7, SSRC: 0xdeadbeef}
	if got, want := k6.String(), "[2001:db8::1]:4000>[2001:db8::2]:5000 ssrc=0xdeadbeef"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
}

// eventPackets adds one key press as RFC 4733 packets: every 20 ms a
// packet with the same timestamp and growing duration, then three end
// packets.
func eventPackets(w *capturetest.Builder, at time.Time, src, dst netip.AddrPort, pt uint8, seq *uint16, ts uint32, code uint8, rate int) {
	step := uint16(rate / 50) // 20 ms in clock units
	for i := range 5 {
		end := i >= 2
		dur := step * uint16(min(i, 2)+1)
		w.RTP(at.Add(ms(20*i)), src, dst, rtp.Header{PayloadType: pt, SequenceNumber: *seq, Timestamp: ts, SSRC: 0x1111, Marker: i == 0}, capturetest.EventPayload(code, end, 10, dur))
		*seq++
	}
}

func TestReadTakesTheEventPayloadTypeFromSDP(t *testing.T) {
	tests := []struct {
		name    string
		sdpAt   netip.AddrPort // where the SDP says it receives
		sdpPT   uint8
		rate    int
		wantPT  uint8
		wantSrc EventPTSource
	}{
		{"receiver's sdp", addrB, 100, 8000, 100, EventPTFromSDP},
		{"sender's sdp", addrA, 100, 8000, 100, EventPTFromSDP},
		{"16 kHz clock", addrB, 100, 16000, 100, EventPTFromSDP},
		{"sdp of another call falls back to inference", netip.MustParseAddrPort("10.9.9.9:7000"), 100, 8000, 100, EventPTInferred},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := capturetest.New(capturetest.Ethernet)
			w.UDP(t0, netip.MustParseAddrPort("192.0.2.1:5060"), netip.MustParseAddrPort("192.0.2.2:5060"), capturetest.SIPWithSDP(tc.sdpAt, tc.sdpPT, tc.rate))
			seq := uint16(1)
			for i := range 3 {
				w.RTP(t0.Add(ms(20*i)), addrA, addrB, rtp.Header{PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(160 * i), SSRC: 0x1111}, make([]byte, 160))
				seq++
			}
			eventPackets(w, t0.Add(ms(60)), addrA, addrB, 100, &seq, 480, 5, tc.rate)
			c, err := Read(bytes.NewReader(w.Pcap()))
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Streams) != 1 || c.Stats.SIP != 1 || len(c.Media) != 1 {
				t.Fatalf("streams %d, stats %+v, media %+v", len(c.Streams), c.Stats, c.Media)
			}
			s := c.Streams[0]
			if s.EventPT != tc.wantPT || s.EventSource != tc.wantSrc || s.EventRate != tc.rate {
				t.Errorf("event PT %d rate %d from %v; want %d %d from %v", s.EventPT, s.EventRate, s.EventSource, tc.wantPT, tc.rate, tc.wantSrc)
			}
		})
	}
}

// SDP travels in ways other than one UDP datagram: in IPv4 fragments when
// the INVITE exceeds the MTU, over TCP, and behind NAT with a private
// address in c= but the port that the stream uses.
func TestReadFindsSDPInFragmentsTCPAndBehindNAT(t *testing.T) {
	sip1 := netip.MustParseAddrPort("192.0.2.1:5060")
	sip2 := netip.MustParseAddrPort("192.0.2.2:5060")
	tests := []struct {
		name string
		add  func(w *capturetest.Builder)
	}{
		{"fragmented udp", func(w *capturetest.Builder) {
			w.UDPFragmented(t0, sip1, sip2, capturetest.SIPWithSDP(addrB, 100, 8000), 128)
		}},
		{"tcp", func(w *capturetest.Builder) {
			w.TCP(t0, sip1, sip2, capturetest.SIPWithSDP(addrB, 100, 8000))
		}},
		{"nat: private address, same port", func(w *capturetest.Builder) {
			w.UDP(t0, sip1, sip2, capturetest.SIPWithSDP(netip.MustParseAddrPort("172.16.0.9:5000"), 100, 8000))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := capturetest.New(capturetest.Ethernet)
			tc.add(w)
			seq := uint16(1)
			// Single-packet events (no repeated timestamp, no end bit) so
			// that inference cannot find the type: only SDP can.
			for i := range 3 {
				w.RTP(t0.Add(ms(20*i)), addrA, addrB, rtp.Header{PayloadType: 100, SequenceNumber: seq, Timestamp: uint32(1000 * i), SSRC: 0x1111}, capturetest.EventPayload(5, false, 10, 160))
				seq++
			}
			c, err := Read(bytes.NewReader(w.Pcap()))
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Streams) != 1 {
				t.Fatalf("%d streams, stats %+v", len(c.Streams), c.Stats)
			}
			if s := c.Streams[0]; s.EventSource != EventPTFromSDP || s.EventPT != 100 {
				t.Errorf("event PT %d from %v, want 100 from sdp; media %+v", s.EventPT, s.EventSource, c.Media)
			}
		})
	}
}

func TestReadReassemblesFragmentsInAnyOrder(t *testing.T) {
	sip := capturetest.SIPWithSDP(addrB, 100, 8000)
	f := capturetest.New(capturetest.RawIP)
	f.UDPFragmented(t0, addrA, addrB, sip, 96)
	data := f.Pcap()
	c, err := Read(bytes.NewReader(data))
	if err != nil || len(c.Media) != 1 || c.Media[0].TelephoneEvents[100] != 8000 {
		t.Fatalf("in order: %v, media %+v", err, c.Media)
	}
	if c.Stats.Reassembled != 1 || c.Stats.Undecodable != 0 {
		t.Errorf("stats %+v, want 1 reassembled and none undecodable", c.Stats)
	}
	if f.Len() < 4 {
		t.Fatalf("only %d fragments", f.Len())
	}
	f.ReverseLast(f.Len())
	c, err = Read(bytes.NewReader(f.Pcap()))
	if err != nil || len(c.Media) != 1 || c.Media[0].TelephoneEvents[100] != 8000 {
		t.Fatalf("reversed: %v, media %+v", err, c.Media)
	}
	// A datagram missing a fragment yields nothing, and no error.
	c, err = Read(bytes.NewReader(truncateRecords(t, data, 1)))
	if err != nil || len(c.Media) != 0 {
		t.Errorf("incomplete: %v, media %+v", err, c.Media)
	}
	// Nor does one missing a middle fragment.
	g := capturetest.New(capturetest.RawIP)
	g.UDPFragmented(t0, addrA, addrB, sip, 96)
	n := g.Len()
	g.ReverseLast(2) // the last fragment now sits where the one before it was
	c, err = Read(bytes.NewReader(truncateRecords(t, g.Pcap(), 1)))
	if n < 4 {
		t.Fatalf("only %d fragments", n)
	}
	if err != nil || len(c.Media) != 0 {
		t.Errorf("incomplete: %v, media %+v", err, c.Media)
	}
}

// truncateRecords drops the last n records of a pcap written by capturetest
// (24-byte file header, 16-byte record headers).
func truncateRecords(t *testing.T, pcap []byte, n int) []byte {
	t.Helper()
	var offs []int
	for off := 24; off+16 <= len(pcap); {
		offs = append(offs, off)
		off += 16 + int(uint32(pcap[off+8])|uint32(pcap[off+9])<<8|uint32(pcap[off+10])<<16|uint32(pcap[off+11])<<24)
	}
	if len(offs) <= n {
		t.Fatalf("%d records, cannot drop %d", len(offs), n)
	}
	return pcap[:offs[len(offs)-n]]
}

func TestReadKeepsSIPInfoRequestsOnce(t *testing.T) {
	sip1 := netip.MustParseAddrPort("192.0.2.1:5060")
	sip2 := netip.MustParseAddrPort("192.0.2.2:5060")
	w := capturetest.New(capturetest.Ethernet)
	relay := capturetest.SIPInfo(2, "application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	w.UDP(t0, sip1, sip2, relay)
	w.UDP(t0.Add(ms(500)), sip1, sip2, relay) // retransmission
	w.TCP(t0.Add(ms(900)), sip1, sip2, capturetest.SIPInfo(3, "application/dtmf", []byte("#")))
	w.UDP(t0.Add(ms(950)), sip2, sip1, []byte("SIP/2.0 200 OK\r\nCSeq: 3 INFO\r\nContent-Length: 0\r\n\r\n"))
	// Compact headers, Content-Length shorter than what follows, no Call-ID.
	w.UDP(t0.Add(ms(990)), sip1, sip2, []byte("INFO sip:x SIP/2.0\r\nc: application/dtmf\r\nl: 1\r\n\r\n7 trailing"))
	w.UDP(t0.Add(ms(999)), sip1, sip2, []byte("INFO sip:x SIP/2.0\r\nc: application/dtmf\r\nl: 1\r\n\r\n7 trailing"))
	// An INFO without a body carries nothing.
	w.UDP(t0.Add(ms(1000)), sip1, sip2, capturetest.SIPInfo(4, "application/dtmf", nil))
	c, err := Read(bytes.NewReader(w.Pcap()))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Infos) != 4 {
		t.Fatalf("%d INFOs, want 4: %+v", len(c.Infos), c.Infos)
	}
	tests := []struct {
		at         time.Duration
		ct, body   string
		callID, cs string
	}{
		{0, "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", "1@example.com", "2 INFO"},
		{ms(900), "application/dtmf", "#", "1@example.com", "3 INFO"},
		{ms(990), "application/dtmf", "7", "", ""},
		{ms(999), "application/dtmf", "7", "", ""},
	}
	for i, want := range tests {
		got := c.Infos[i]
		if !got.At.Equal(t0.Add(want.at)) || got.ContentType != want.ct || string(got.Body) != want.body || got.CallID != want.callID || got.CSeq != want.cs || got.Src != sip1 || got.Dst != sip2 {
			t.Errorf("INFO %d: %+v, want %+v", i, got, want)
		}
	}
}

func TestSDPMediaFromSIPToleratesWhatPionRefuses(t *testing.T) {
	// A session-level c= after t= breaks RFC 4566 order; carriers send it.
	msg := "SIP/2.0 200 OK\r\nContent-Type: application/sdp\r\n\r\n" +
		"v=0\r\no=- 1 1 IN IP4 10.0.0.2\r\ns=-\r\nt=0 0\r\nc=IN IP4 10.0.0.2\r\n" +
		"m=audio 5000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n" +
		"m=audio 5002 RTP/AVP 0 96\r\nc=IN IP4 10.0.0.3\r\na=rtpmap:96 TELEPHONE-EVENT/48000/1\r\n" +
		"m=video 6000 RTP/AVP 97\r\na=rtpmap:97 telephone-event/8000\r\n"
	got := sdpMediaFromSIP([]byte(msg))
	if len(got) != 2 {
		t.Fatalf("got %+v, want two audio media", got)
	}
	if got[0].Addr != netip.MustParseAddrPort("10.0.0.2:5000") || got[0].TelephoneEvents[101] != 8000 {
		t.Errorf("first media %+v", got[0])
	}
	if got[1].Addr != netip.MustParseAddrPort("10.0.0.3:5002") || got[1].TelephoneEvents[96] != 48000 {
		t.Errorf("second media %+v", got[1])
	}
	if len(sdpMediaFromSIP([]byte("OPTIONS sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\n"))) != 0 {
		t.Error("media found in a SIP message without body")
	}
}

func TestInferEventPT(t *testing.T) {
	ev := func(pt uint8, at time.Duration, ts uint32, payload []byte) Packet {
		return Packet{At: t0.Add(at), PayloadType: pt, Timestamp: ts, Payload: payload}
	}
	press := func(pt uint8, rate int, code uint8) []Packet {
		step := uint16(rate / 50)
		var out []Packet
		for i := range 4 {
			out = append(out, ev(pt, ms(20*i), 9000, capturetest.EventPayload(code, i == 3, 10, step*uint16(i+1))))
		}
		return out
	}
	audio := func(pt uint8, n int) []Packet {
		var out []Packet
		for i := range n {
			out = append(out, ev(pt, ms(20*i), uint32(160*i), make([]byte, 160)))
		}
		return out
	}
	tests := []struct {
		name     string
		pkts     []Packet
		ok       bool
		pt       uint8
		rate     int
		describe string
	}{
		{"events at 8 kHz", append(audio(0, 10), press(101, 8000, 5)...), true, 101, 8000, ""},
		{"events at 16 kHz", press(110, 16000, 11), true, 110, 16000, ""},
		{"events at 48 kHz", press(96, 48000, 0), true, 96, 48000, ""},
		{"hook flash counts", press(101, 8000, 16), true, 101, 8000, ""},
		{"a lone end packet", []Packet{ev(101, 0, 5, capturetest.EventPayload(3, true, 10, 800))}, true, 101, 8000, ""},
		{"dynamic audio is not events", audio(96, 10), false, 0, 0, ""},
		{"static PT is never inferred", press(13, 8000, 5), false, 0, 0, ""},
		{"other event codes are not DTMF", press(101, 8000, 40), false, 0, 0, ""},
		{"no repeated timestamp and no end bit", []Packet{ev(101, 0, 1, capturetest.EventPayload(1, false, 10, 160)), ev(101, ms(20), 2, capturetest.EventPayload(1, false, 10, 160))}, false, 0, 0, ""},
		{"one odd payload spoils the type", append(press(101, 8000, 5), ev(101, ms(200), 1, []byte{1, 2, 3})), false, 0, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, rate, ok := InferEventPT(tc.pkts)
			if ok != tc.ok || pt != tc.pt || rate != tc.rate {
				t.Errorf("got %d %d %v, want %d %d %v", pt, rate, ok, tc.pt, tc.rate, tc.ok)
			}
		})
	}
}

func TestReadStripsRTPPadding(t *testing.T) {
	w := capturetest.New(capturetest.RawIP)
	for i := range 3 {
		h := rtp.Header{PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(160 * i), SSRC: 7, Padding: true, PaddingSize: 4}
		w.RTP(t0.Add(ms(20*i)), addrA, addrB, h, []byte{1, 2, 3, 4, 5})
	}
	c, err := Read(bytes.NewReader(w.Pcap()))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Streams) != 1 {
		t.Fatalf("%d streams", len(c.Streams))
	}
	if p := c.Streams[0].Packets[1].Payload; !bytes.Equal(p, []byte{1, 2, 3, 4, 5}) {
		t.Errorf("payload %v, want [1 2 3 4 5]", p)
	}
}

func TestReadDropsCandidatesThatAreNotRTP(t *testing.T) {
	w := capturetest.New(capturetest.Ethernet)
	// Version-2-looking datagrams whose "sequence numbers" jump at random.
	for i, seq := range []uint16{5, 40000, 9, 23000, 61000} {
		w.UDP(t0.Add(ms(i)), addrA, addrB, []byte{0x80, 0, byte(seq >> 8), byte(seq), 0, 0, 0, 0, 0, 0, 0, 1, 9})
	}
	// A single packet is not a stream either.
	w.RTP(t0, addrB, addrA, rtp.Header{SSRC: 3}, []byte{1})
	c, err := Read(bytes.NewReader(w.Pcap()))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Streams) != 0 || c.Stats.NotRTPStreams != 2 || c.Stats.RTP != 0 {
		t.Errorf("streams %d stats %+v, want none", len(c.Streams), c.Stats)
	}
}

func TestReadKeepsRecordsBeforeADamagedOrTruncatedOne(t *testing.T) {
	w := twoStreams(capturetest.Ethernet, addrA, addrB)
	pcap := w.Pcap()
	// The record header of the last record claims a capture length
	// beyond any snap length.
	last := len(truncateRecords(t, pcap, 1))
	damaged := bytes.Clone(pcap)
	copy(damaged[last+8:], []byte{0xff, 0xff, 0xff, 0x7f})
	for name, data := range map[string][]byte{
		"pcap cut short":   pcap[:len(pcap)-30],
		"pcapng cut short": w.PcapNG()[:len(w.PcapNG())-30],
		"pcap damaged":     damaged,
	} {
		c, err := Read(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(c.Streams) != 2 {
			t.Errorf("%s: %d streams, want 2", name, len(c.Streams))
		}
		if !errors.Is(c.Stopped, ErrMalformed) || !strings.Contains(c.Stopped.Error(), "stopped after 14 records") {
			t.Errorf("%s: Stopped = %v", name, c.Stopped)
		}
	}
	if c, err := Read(bytes.NewReader(pcap)); err != nil || c.Stopped != nil {
		t.Errorf("whole file: %v, stopped %v", err, c.Stopped)
	}
}

func TestReadContextStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ReadContext(ctx, bytes.NewReader(twoStreams(capturetest.Ethernet, addrA, addrB).Pcap())); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}

func TestReadRefusesWithAClearError(t *testing.T) {
	good := twoStreams(capturetest.Ethernet, addrA, addrB).Pcap()
	wifi := append([]byte(nil), good[:24]...)
	wifi[20] = 105 // LINKTYPE_IEEE802_11
	tests := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrNotCapture, "not a pcap"},
		{"wav file", []byte("RIFF\x00\x00\x00\x00WAVE"), ErrNotCapture, "52 49 46 46"},
		{"pcap header cut short", good[:10], ErrMalformed, "pcap header"},
		{"pcapng header cut short", twoStreams(capturetest.Ethernet, addrA, addrB).PcapNG()[:12], ErrMalformed, "pcapng"},
		{"802.11 capture", wifi, ErrLinkType, "unsupported link type 105"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tc.data))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want %v mentioning %q", err, tc.want, tc.msg)
			}
		})
	}
}

func BenchmarkRead(b *testing.B) {
	w := capturetest.New(capturetest.Ethernet)
	for i := range 3000 {
		w.RTP(t0.Add(ms(20*i)), addrA, addrB, rtp.Header{PayloadType: 0, SequenceNumber: uint16(i), Timestamp: uint32(160 * i), SSRC: 1}, make([]byte, 160))
	}
	data := w.Pcap()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Read(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzReadCapture checks that no file crashes the reader, and that what it
// returns is consistent: streams are non-empty, ordered, and their packets
// carry their stream's SSRC only implicitly through the key.
func FuzzReadCapture(f *testing.F) {
	f.Add(twoStreams(capturetest.Ethernet, addrA, addrB).Pcap())
	f.Add(twoStreams(capturetest.LinuxSLL2, addr6, addr7).PcapNG())
	w := capturetest.New(capturetest.RawIP)
	w.UDP(t0, netip.MustParseAddrPort("192.0.2.1:5060"), netip.MustParseAddrPort("192.0.2.2:5060"), capturetest.SIPWithSDP(addrB, 101, 8000))
	seq := uint16(1)
	eventPackets(w, t0, addrA, addrB, 101, &seq, 0, 7, 8000)
	f.Add(w.Pcap())
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		for i, s := range c.Streams {
			if len(s.Packets) < 2 {
				t.Fatalf("stream %v with %d packets", s.Key, len(s.Packets))
			}
			if i > 0 && s.Packets[0].At.Before(c.Streams[i-1].Packets[0].At) {
				t.Fatal("streams out of order")
			}
			if s.EventSource != EventPTNone && (s.EventPT > 127 || s.EventRate < 1000) {
				t.Fatalf("event PT %d rate %d", s.EventPT, s.EventRate)
			}
		}
	})
}

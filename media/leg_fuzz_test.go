package media

import (
	"net/netip"
	"testing"
	"time"
)

// Addresses of the fuzz script: the signalled remote, two other ports on
// its IP, and another IP.
var (
	fuzzSignalled = netip.MustParseAddrPort("192.0.2.10:4000")
	fuzzSources   = [4]netip.AddrPort{
		fuzzSignalled,
		netip.MustParseAddrPort("192.0.2.10:4001"),
		netip.MustParseAddrPort("192.0.2.10:4002"),
		netip.MustParseAddrPort("198.51.100.7:4000"),
	}
)

// FuzzLegReceive feeds a script of datagrams through a leg's receive path
// without sockets. The script is a sequence of records: a control byte
// (low two bits pick the source among fuzzSources; bit 7 re-signals the
// remote first, as a re-INVITE would), a two-byte big-endian length, and
// that many bytes of datagram (cut short at the end of the script). nat
// turns on NAT latching.
//
// It checks that nothing panics, that the handler only ever sees RTP
// version 2 packets from the current remote on the signalled IP (exactly
// the signalled address without NAT), that a leg latches at most once per
// signalling to a port other than the signalled one, and only after that
// source sent at least LatchPackets datagrams, that once the signalled
// address has been handed on nothing else is, and that every datagram is
// either handed on or counted as dropped.
func FuzzLegReceive(f *testing.F) {
	f.Add([]byte{0x00, 0x00, 0x0C, 0x80, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1}, false)
	f.Add([]byte{0x01, 0x00, 0x0C, 0x80, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, 0x02, 0x00, 0x0C, 0x80, 0x00, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 1}, true)
	f.Add([]byte{0x03, 0x00, 0x0C, 0x80, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1}, true)
	// A candidate on another port proves itself (LatchPackets packets of
	// one SSRC, 20 ms apart), then the signalled address takes it back.
	var proof []byte
	for i := range LatchPackets + 1 {
		src := byte(0x01)
		if i == LatchPackets {
			src = 0x00
		}
		proof = append(proof, src, 0x00, 0x0C, 0x80, 0x00, 0x00, byte(i+1), 0, 0, 0, 0, 0, 0, 0, 1)
	}
	f.Add(proof, true)
	f.Fuzz(func(t *testing.T, script []byte, nat bool) {
		var r receiver
		r.init(nat, 0, time.Second)
		r.setRemote(fuzzSignalled)

		var (
			handled, acceptedN, droppedN int
			// latchedTo is the one source other than the signalled
			// address handed on since the last signalling; sawSignalled
			// whether the signalled address has been.
			latchedTo    netip.AddrPort
			sawSignalled bool
			// sent counts the datagrams from each source since the last
			// signalling.
			sent = map[netip.AddrPort]int{}
		)
		r.handler = PacketHandlerFunc(func(p *Packet) {
			handled++
			if p.Header.Version != 2 {
				t.Fatalf("handler got RTP version %d", p.Header.Version)
			}
			if cur := r.remote.Load().addr; p.From != cur {
				t.Fatalf("handler got a packet from %v while the remote is %v", p.From, cur)
			}
			if p.From.Addr() != fuzzSignalled.Addr() {
				t.Fatalf("handler got a packet from another IP: %v", p.From)
			}
			if !nat && p.From != fuzzSignalled {
				t.Fatalf("without NAT, handler got a packet from %v", p.From)
			}
			switch {
			case p.From == fuzzSignalled:
				sawSignalled = true
			case sawSignalled:
				t.Fatalf("%v handed on after the signalled address, without new signalling", p.From)
			case latchedTo.IsValid() && p.From != latchedTo:
				t.Fatalf("source moved from %v to %v without new signalling", latchedTo, p.From)
			case !latchedTo.IsValid() && sent[p.From] < LatchPackets:
				t.Fatalf("latched to %v after %d datagrams from it, want at least %d", p.From, sent[p.From], LatchPackets)
			default:
				latchedTo = p.From
			}
			if len(p.Raw) > MaxDatagram || len(p.Raw) < 12 || len(p.Payload) > len(p.Raw)-12 {
				t.Fatalf("raw %d bytes, payload %d bytes", len(p.Raw), len(p.Payload))
			}
		})

		at := t0
		for rest := script; len(rest) >= 3; {
			ctl := rest[0]
			n := int(rest[1])<<8 | int(rest[2])
			rest = rest[3:]
			n = min(n, len(rest))
			datagram := rest[:n]
			rest = rest[n:]
			if ctl&0x80 != 0 {
				r.setRemote(fuzzSignalled)
				latchedTo, sawSignalled = netip.AddrPort{}, false
				clear(sent)
			}
			sent[fuzzSources[ctl&3]]++
			at = at.Add(20 * time.Millisecond)
			before := handled
			if v := r.receive(datagram, fuzzSources[ctl&3], at); v == accepted {
				acceptedN++
				if handled != before+1 {
					t.Fatal("accepted datagram not handed on")
				}
			} else {
				droppedN++
				if handled != before {
					t.Fatalf("dropped datagram (verdict %d) handed on", v)
				}
			}
		}
		s := r.stats.Snapshot()
		if s.Packets != uint64(acceptedN) {
			t.Fatalf("Packets = %d, accepted %d", s.Packets, acceptedN)
		}
		if d := s.DroppedWrongSource + s.DroppedMalformed + s.DroppedOversize; d != uint64(droppedN) {
			t.Fatalf("drop counters sum to %d, dropped %d", d, droppedN)
		}
		if s.Received > s.Packets || s.Duplicates+s.Received > s.Packets {
			t.Fatalf("received %d + duplicates %d > packets %d", s.Received, s.Duplicates, s.Packets)
		}
	})
}

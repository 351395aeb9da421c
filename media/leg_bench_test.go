package media

import (
	"dtmfgw/internal/testkit"
	"net"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkLegReceive measures a leg's whole receive path over loopback:
// read, strict source check, RTP parse, stats, handler call.
func BenchmarkLegReceive(b *testing.B) { benchLegReceive(b, 0) }

// BenchmarkLegReceiveBatch is BenchmarkLegReceive with the recvmmsg
// reader (16 per call). With testkit.BenchWindow datagrams in flight the socket is
// always busy, the case batching is for; a leg carrying one 50 packet/s
// stream mostly finds one datagram per wake-up.
func BenchmarkLegReceiveBatch(b *testing.B) {
	if !batchSupported {
		b.Skip("no batched reader on this platform")
	}
	benchLegReceive(b, 16)
}

func benchLegReceive(b *testing.B, batch int) {
	l, sender := benchLeg(b, batch)
	credits := make(chan struct{}, testkit.BenchWindow)
	if err := l.Start(PacketHandlerFunc(func(*Packet) { <-credits })); err != nil {
		b.Fatal(err)
	}
	testkit.SendLoopback(b, sender, l.LocalAddr(), rtpBytes(b, 1, make([]byte, 160)), credits)
	if s := l.Stats().Received; s.Packets != uint64(b.N) {
		b.Fatalf("leg accepted %d of %d packets", s.Packets, b.N)
	}
}

// BenchmarkPlainUDPRead is the reference for BenchmarkLegReceive: the same
// traffic read by the simplest loop (ReadFromUDPAddrPort, no checks, no
// parsing), as the reference forwarder of the relay load test reads it.
func BenchmarkPlainUDPRead(b *testing.B) {
	recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	sender, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close()
	credits := make(chan struct{}, testkit.BenchWindow)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, MaxDatagram+1)
		for {
			if _, _, err := recv.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
			<-credits
		}
	}()
	testkit.SendLoopback(b, sender, recv.LocalAddr().(*net.UDPAddr).AddrPort(), rtpBytes(b, 1, make([]byte, 160)), credits)
	recv.Close()
	<-done
}

// BenchmarkReceiverReceive measures the per-datagram work of a leg without
// the socket: source check, parse, stats, handler call.
func BenchmarkReceiverReceive(b *testing.B) {
	from := netip.MustParseAddrPort("127.0.0.1:4000")
	var r receiver
	r.init(false, 0, time.Minute)
	r.setRemote(from)
	r.handler = PacketHandlerFunc(func(*Packet) {})
	pkt := rtpBytes(b, 1, make([]byte, 160))
	at := t0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		at = at.Add(20 * time.Millisecond)
		if r.receive(pkt, from, at) != accepted {
			b.Fatal("dropped")
		}
	}
}

// BenchmarkReceiverDropWrongSource measures the cost of a datagram from a
// stranger (an RTP bleed probe or flood).
func BenchmarkReceiverDropWrongSource(b *testing.B) {
	var r receiver
	r.init(false, 0, time.Minute)
	r.setRemote(netip.MustParseAddrPort("127.0.0.1:4000"))
	stranger := netip.MustParseAddrPort("127.0.0.1:4001")
	pkt := rtpBytes(b, 1, make([]byte, 160))
	b.ReportAllocs()
	for b.Loop() {
		if r.receive(pkt, stranger, t0) != droppedWrongSource {
			b.Fatal("accepted a stranger")
		}
	}
}

// drainRound is how many datagrams BenchmarkLegDrain queues per round; it
// fits the default 208 KiB socket receive buffer with room to spare.
const drainRound = 128

// BenchmarkLegDrain measures the receive side alone on a busy socket:
// each round queues drainRound datagrams while the handler holds the
// reader, then times (and takes the process CPU time of) the reader
// draining them. Sending is outside the timer.
func BenchmarkLegDrain(b *testing.B) { benchLegDrain(b, 0) }

// BenchmarkLegDrainBatch is BenchmarkLegDrain with the recvmmsg reader.
func BenchmarkLegDrainBatch(b *testing.B) {
	if !batchSupported {
		b.Skip("no batched reader on this platform")
	}
	benchLegDrain(b, 16)
}

func benchLegDrain(b *testing.B, batch int) {
	l, sender := benchLeg(b, batch)
	var (
		gate    = make(chan struct{})
		drained = make(chan struct{})
		count   int // touched only by the handler
	)
	if err := l.Start(PacketHandlerFunc(func(*Packet) {
		count++
		if count%drainRound == 1 {
			<-gate // hold the reader until the round is queued
		}
		if count%drainRound == 0 {
			drained <- struct{}{}
		}
	})); err != nil {
		b.Fatal(err)
	}
	pkt := rtpBytes(b, 1, make([]byte, 160))
	to := l.LocalAddr()
	abort := time.NewTimer(2 * time.Minute)
	defer abort.Stop()
	var cpu time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	seq := 0
	for done := 0; done < b.N; done += drainRound {
		for range drainRound {
			seq++
			pkt[2], pkt[3] = byte(seq>>8), byte(seq)
			if _, err := sender.WriteToUDPAddrPort(pkt, to); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		c0 := testkit.CPUTime(b)
		gate <- struct{}{}
		select {
		case <-drained:
		case <-abort.C:
			b.Fatal("reader stalled: a datagram was lost on loopback")
		}
		cpu += testkit.CPUTime(b) - c0
		b.StopTimer()
	}
	rounds := (b.N + drainRound - 1) / drainRound
	b.ReportMetric(float64(cpu)/float64(rounds*drainRound), "cpu-ns/pkt")
}

// benchLeg returns a leg on loopback with the given BatchRead and a socket
// at its signalled remote address to send from; both close with b.
func benchLeg(b *testing.B, batch int) (*Leg, *net.UDPConn) {
	pool, _ := testPool(b, 1, -1, nil)
	sender, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sender.Close() })
	l, err := NewLeg(LegConfig{Pool: pool, Remote: sender.LocalAddr().(*net.UDPAddr).AddrPort(), MediaTimeout: time.Minute, BatchRead: batch})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l, sender
}

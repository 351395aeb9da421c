package testkit

import (
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// ListenUDP returns a UDP socket on 127.0.0.1 on a port the kernel picks,
// closed at the end of t: a test's peer (a caller, an agent).
func ListenUDP(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// AddrOf returns a UDP socket's local address.
func AddrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// ReadWithin reads one datagram from c, failing the test when none comes
// within d (a deadline on the socket, not a sleep).
func ReadWithin(t testing.TB, c *net.UDPConn, d time.Duration) ([]byte, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 65536)
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no datagram within %v: %v", d, err)
	}
	return buf[:n], from
}

// SendUDP writes b from the socket from to the address to.
func SendUDP(t testing.TB, from *net.UDPConn, to netip.AddrPort, b []byte) {
	t.Helper()
	if _, err := from.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

// BenchWindow is how many datagrams SendLoopback keeps in flight: enough
// to keep the reader busy, few enough that the socket buffer never
// overflows (a lost datagram would stall the credit count).
const BenchWindow = 32

// CPUTime returns the process's user+system CPU time.
func CPUTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// SendLoopback sends b.N copies of pkt (an RTP packet: its sequence number
// is rewritten each time) from sender to to, keeping at most BenchWindow
// unconsumed credits, and waits until the receiving side took every
// credit (credits needs room for BenchWindow). It reports the process CPU
// time per packet (sender and receiver together) as cpu-ns/op.
func SendLoopback(b *testing.B, sender *net.UDPConn, to netip.AddrPort, pkt []byte, credits chan struct{}) {
	abort := make(chan struct{})
	watchdog := time.AfterFunc(2*time.Minute, func() { close(abort) })
	defer watchdog.Stop()
	take := func() {
		select {
		case credits <- struct{}{}:
		case <-abort:
			b.Fatal("receiver stalled: a datagram was lost on loopback")
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := CPUTime(b)
	for i := range b.N {
		take()
		pkt[2], pkt[3] = byte(i>>8), byte(i)
		if _, err := sender.WriteToUDPAddrPort(pkt, to); err != nil {
			b.Fatal(err)
		}
	}
	for range BenchWindow {
		take()
	}
	b.StopTimer()
	b.ReportMetric(float64(CPUTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

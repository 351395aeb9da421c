package mask

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
	"dtmfgw/media"
)

// The loopback tests run the masking pipeline inside a real relay on
// 127.0.0.1: media's exported API, as the call domain assembles it.

var loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// testPool returns a pool of pairs port pairs on 127.0.0.1 and its first
// port.
func testPool(t testing.TB, pairs int) (*media.PortPool, int) {
	t.Helper()
	first := testkit.FreeRange(t, testkit.ZoneMask, pairs)
	p, err := media.NewPortPool(media.PortPoolConfig{
		BindAddr: loopback, Min: first, Max: first + 2*pairs - 1, Drain: -1,
		StartIndex: func(int) int { return 0 },
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, first
}

// testReactor returns a Reactor closed at the end of t.
func testReactor(t testing.TB, cfg media.ReactorConfig) *media.Reactor {
	t.Helper()
	r, err := media.NewReactor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

// listenLoopback is a peer's socket on 127.0.0.1, closed at the end of t.
func listenLoopback(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func udpAddr(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// readWithin reads one datagram from c, failing the test when none comes
// within d.
func readWithin(t testing.TB, c *net.UDPConn, d time.Duration) ([]byte, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, media.MaxDatagram+1)
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no datagram within %v: %v", d, err)
	}
	return buf[:n], from
}

func send(t testing.TB, from *net.UDPConn, to netip.AddrPort, b []byte) {
	t.Helper()
	if _, err := from.WriteToUDPAddrPort(b, to); err != nil {
		t.Fatal(err)
	}
}

package testkit

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
)

// Zones keep the packages whose tests run at the same time (go test runs
// packages in parallel) in ranges of their own, below the kernel's
// ephemeral range (32768 and up by default) so that other tests' ":0"
// sockets do not land in them.
const (
	ZoneAPI   = 4000  // api's tests
	ZoneMedia = 10000 // media's tests
	ZoneCall  = 18000 // call's tests
	ZoneSIP   = 24000 // sip's tests
	// ZoneE2E is the end-to-end tests' (package e2e: the gateways' RTP
	// ports). Its top reaches into the ephemeral range: the gateway's
	// port pool skips a pair another socket holds, so a ":0" socket that
	// lands there costs a pair, not a failure.
	ZoneE2E     = 30000
	ZoneMetrics = 4000 // metrics' tests
	ZoneMask    = 4000 // media/mask's loopback tests (a few pairs; the pool skips a held one)
	zoneSpan    = 6000
	// ZoneSIPp is sipptest's, for SIPp's media ports: ZoneSIPpSpan ports
	// between the media and call zones.
	ZoneSIPp     = 16000
	ZoneSIPpSpan = 2000
)

// FreeRange returns the first port of pairs consecutive even/odd port
// pairs on 127.0.0.1, inside the zone starting at zone, that are all free
// right now. It tries random starts a bounded number of times, then fails
// the test.
func FreeRange(t testing.TB, zone, pairs int) int {
	t.Helper()
	if 2*pairs > zoneSpan {
		t.Fatalf("testkit: %d pairs do not fit a zone", pairs)
	}
	for range 50 {
		first := zone + 2*rand.IntN((zoneSpan-2*pairs)/2)
		if free(first, 2*pairs) {
			return first
		}
	}
	t.Fatalf("testkit: no free range of %d port pairs from %d", pairs, zone)
	return 0
}

// free reports whether ports [first, first+n) can all be bound on
// 127.0.0.1.
func free(first, n int) bool {
	conns := make([]*net.UDPConn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for p := first; p < first+n; p++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
		if err != nil {
			return false
		}
		conns = append(conns, c)
	}
	return true
}

// FreePort returns a loopback port that is free right now for both UDP
// and TCP (SIP listens on both), from the kernel's ephemeral range. It
// tries a bounded number of times, then fails the test.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 20 {
		u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("testkit: no loopback port free for both UDP and TCP")
	return 0
}

// FreePortOn returns a port on ip that was free for network ("udp" or
// "tcp") a moment ago: it binds port 0 and closes the socket. It is for
// the code that has no test to fail, and returns an error instead: the
// harnesses (sipptest) and a server started once per test binary (store's
// PostgreSQL). Another process can take the port before it is used, which
// on a quiet loopback is rare enough for tests.
func FreePortOn(network string, ip netip.Addr) (uint16, error) {
	switch network {
	case "udp":
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
		if err != nil {
			return 0, fmt.Errorf("testkit: free udp port on %s: %w", ip, err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).AddrPort().Port(), nil
	case "tcp":
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
		if err != nil {
			return 0, fmt.Errorf("testkit: free tcp port on %s: %w", ip, err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).AddrPort().Port(), nil
	}
	return 0, fmt.Errorf("testkit: network %q is neither udp nor tcp", network)
}

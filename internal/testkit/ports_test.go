package testkit

import (
	"net"
	"net/netip"
	"testing"
)

func TestFreeRangeIsFreeAndInItsZone(t *testing.T) {
	first := FreeRange(t, ZoneSIP, 8)
	if first < ZoneSIP || first+16 > ZoneSIP+zoneSpan || first%2 != 0 {
		t.Fatalf("range starts at %d, want an even port in [%d, %d)", first, ZoneSIP, ZoneSIP+zoneSpan-16)
	}
	if !free(first, 16) {
		t.Fatal("the range returned is not free")
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: first})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if free(first, 16) {
		t.Fatal("free ignores a bound port")
	}
}

func TestFreePortOnBindsWhereItSays(t *testing.T) {
	ip := netip.MustParseAddr("127.0.0.1")
	for _, network := range []string{"udp", "tcp"} {
		p, err := FreePortOn(network, ip)
		if err != nil || p == 0 {
			t.Fatalf("%s: port %d, %v", network, p, err)
		}
		if network == "udp" {
			c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, p)))
			if err != nil {
				t.Fatalf("udp port %d: %v", p, err)
			}
			c.Close()
			continue
		}
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, p)))
		if err != nil {
			t.Fatalf("tcp port %d: %v", p, err)
		}
		l.Close()
	}
	if _, err := FreePortOn("sctp", ip); err == nil {
		t.Error("FreePortOn accepted sctp")
	}
}

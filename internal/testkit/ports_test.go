package testkit

import (
	"net"
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

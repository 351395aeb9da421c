package metrics

import (
	"net/netip"
	"runtime"
	"testing"
)

func netipAddr(t *testing.T, s string) netip.AddrPort {
	t.Helper()
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func goVersion() string { return runtime.Version() }

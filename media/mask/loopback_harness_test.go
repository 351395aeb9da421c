package mask

import (
	"net/netip"
	"testing"

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

package media

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// freeRange finds pairs consecutive even/odd port pairs on 127.0.0.1
// that are free right now and returns its first port.
func freeRange(t testing.TB, pairs int) int {
	t.Helper()
	return testkit.FreeRange(t, testkit.ZoneMedia, pairs)
}

// testPool returns a pool of pairs pairs on 127.0.0.1 starting at pair 0.
func testPool(t testing.TB, pairs int, drain time.Duration, clock *testkit.Clock) (*PortPool, int) {
	t.Helper()
	first := freeRange(t, pairs)
	cfg := PortPoolConfig{
		BindAddr:   loopback,
		Min:        first,
		Max:        first + 2*pairs - 1,
		Drain:      drain,
		StartIndex: func(int) int { return 0 },
	}
	if clock != nil {
		cfg.Now = clock.Now
	}
	p, err := NewPortPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.Size() != pairs {
		t.Fatalf("Size = %d, want %d", p.Size(), pairs)
	}
	return p, first
}

func localPort(c *net.UDPConn) int { return c.LocalAddr().(*net.UDPAddr).Port }

func TestPortPoolAllocatesEvenPairsUntilExhausted(t *testing.T) {
	p, first := testPool(t, 3, -1, nil)
	var got []*PortPair
	for i := range 3 {
		pp, err := p.Allocate()
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		got = append(got, pp)
		want := first + 2*i
		if pp.Port() != want || localPort(pp.RTP) != want || localPort(pp.RTCP) != want+1 {
			t.Errorf("allocation %d: port %d, RTP %d, RTCP %d; want %d, %d, %d",
				i, pp.Port(), localPort(pp.RTP), localPort(pp.RTCP), want, want, want+1)
		}
		if pp.Port()%2 != 0 {
			t.Errorf("RTP port %d is odd", pp.Port())
		}
		if a := pp.RTP.LocalAddr().(*net.UDPAddr).AddrPort().Addr(); a != loopback {
			t.Errorf("bound to %v, want %v", a, loopback)
		}
	}
	if p.InUse() != 3 {
		t.Errorf("InUse = %d, want 3", p.InUse())
	}
	if _, err := p.Allocate(); !errors.Is(err, ErrPortsExhausted) {
		t.Fatalf("fourth allocation: %v, want ErrPortsExhausted", err)
	}
	for _, pp := range got {
		if err := pp.Release(); err != nil {
			t.Fatal(err)
		}
	}
	if p.InUse() != 0 {
		t.Errorf("InUse after release = %d, want 0", p.InUse())
	}
}

func TestPortPoolStartIndex(t *testing.T) {
	first := freeRange(t, 4)
	tests := []struct {
		name  string
		start int
		want  int
	}{
		{"start at pair 2", 2, first + 4},
		{"out of range falls back to pair 0", 9, first},
		{"negative falls back to pair 0", -1, first},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPortPool(PortPoolConfig{BindAddr: loopback, Min: first, Max: first + 7, Drain: -1,
				StartIndex: func(pairs int) int {
					if pairs != 4 {
						t.Errorf("StartIndex got %d pairs, want 4", pairs)
					}
					return tc.start
				}})
			if err != nil {
				t.Fatal(err)
			}
			pp, err := p.Allocate()
			if err != nil {
				t.Fatal(err)
			}
			defer pp.Release()
			if pp.Port() != tc.want {
				t.Fatalf("first port %d, want %d", pp.Port(), tc.want)
			}
		})
	}
}

func TestPortPoolRandomStartStaysInRange(t *testing.T) {
	first := freeRange(t, 4)
	for range 10 {
		p, err := NewPortPool(PortPoolConfig{BindAddr: loopback, Min: first, Max: first + 7, Drain: -1})
		if err != nil {
			t.Fatal(err)
		}
		pp, err := p.Allocate()
		if err != nil {
			t.Fatal(err)
		}
		port := pp.Port()
		pp.Release()
		if port < first || port > first+6 || port%2 != 0 {
			t.Fatalf("port %d outside %d–%d or odd", port, first, first+7)
		}
	}
}

func TestPortPoolSkipsPortsHeldElsewhere(t *testing.T) {
	p, first := testPool(t, 3, -1, nil)
	// Another process holds the RTP port of pair 0 and the RTCP port of
	// pair 1: both pairs must be skipped, and the half bound for pair 1
	// must not leak.
	hold := func(port int) *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	h0, h1 := hold(first), hold(first+3)
	pp, err := p.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	if pp.Port() != first+4 {
		t.Fatalf("port %d, want %d (pairs 0 and 1 are held)", pp.Port(), first+4)
	}
	if _, err := p.Allocate(); !errors.Is(err, ErrPortsExhausted) {
		t.Fatalf("second allocation: %v, want ErrPortsExhausted", err)
	}
	h0.Close()
	h1.Close()
	a, err := p.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	if a.Port() != first || b.Port() != first+2 {
		t.Fatalf("after the holders left: ports %d, %d; want %d, %d", a.Port(), b.Port(), first, first+2)
	}
	for _, x := range []*PortPair{pp, a, b} {
		x.Release()
	}
}

func TestPortPoolDrain(t *testing.T) {
	clock := testkit.NewClock(t0)
	p, first := testPool(t, 1, 2*time.Second, clock)
	pp, err := p.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	if err := pp.Release(); err != nil {
		t.Fatal(err)
	}
	if p.InUse() != 0 {
		t.Fatalf("InUse = %d after release, want 0", p.InUse())
	}
	if _, err := p.Allocate(); !errors.Is(err, ErrPortsExhausted) {
		t.Fatalf("right after release: %v, want ErrPortsExhausted", err)
	}
	clock.Advance(2*time.Second - time.Nanosecond)
	if _, err := p.Allocate(); !errors.Is(err, ErrPortsExhausted) {
		t.Fatalf("1 ns before the drain ends: %v, want ErrPortsExhausted", err)
	}
	clock.Advance(time.Nanosecond)
	again, err := p.Allocate()
	if err != nil {
		t.Fatalf("after the drain: %v", err)
	}
	defer again.Release()
	if again.Port() != first {
		t.Fatalf("port %d, want %d", again.Port(), first)
	}
}

func TestPortPoolDefaultDrainApplies(t *testing.T) {
	clock := testkit.NewClock(t0)
	p, _ := testPool(t, 1, 0, clock)
	pp, err := p.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	pp.Release()
	clock.Advance(DefaultDrain - time.Millisecond)
	if _, err := p.Allocate(); !errors.Is(err, ErrPortsExhausted) {
		t.Fatalf("within the default drain: %v, want ErrPortsExhausted", err)
	}
	clock.Advance(time.Millisecond)
	pp, err = p.Allocate()
	if err != nil {
		t.Fatalf("after the default drain: %v", err)
	}
	pp.Release()
}

func TestPortPoolPrefersPairsNotUsedLast(t *testing.T) {
	// Even without a drain, the search resumes after the last pair handed
	// out, so a just-released pair is the last choice.
	p, first := testPool(t, 2, -1, nil)
	a, err := p.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	a.Release()
	b, err := p.Allocate()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if b.Port() != first+2 {
		t.Fatalf("port %d, want %d", b.Port(), first+2)
	}
}

func TestPortPairReleaseTwice(t *testing.T) {
	p, _ := testPool(t, 2, -1, nil)
	a, _ := p.Allocate()
	b, _ := p.Allocate()
	defer b.Release()
	if err := a.Release(); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	if p.InUse() != 1 {
		t.Fatalf("InUse = %d, want 1", p.InUse())
	}
}

func TestPortPoolBindErrorIsNotExhaustion(t *testing.T) {
	// 192.0.2.1 (RFC 5737 TEST-NET-1) is on no interface here: binding
	// fails with EADDRNOTAVAIL, which trying other ports cannot fix.
	p, err := NewPortPool(PortPoolConfig{BindAddr: netip.MustParseAddr("192.0.2.1"), Min: 20000, Max: 20003})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Allocate()
	if err == nil || errors.Is(err, ErrPortsExhausted) {
		t.Fatalf("Allocate on a foreign address: %v, want the bind error", err)
	}
	if p.InUse() != 0 {
		t.Fatalf("InUse = %d, want 0", p.InUse())
	}
}

func TestNewPortPoolConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     PortPoolConfig
		size    int
		wantErr bool
	}{
		{"defaults: 20000–29999", PortPoolConfig{}, 5000, false},
		{"odd minimum starts at the next even port", PortPoolConfig{Min: 20001, Max: 20005}, 2, false},
		{"odd maximum has no RTCP partner for the last even port", PortPoolConfig{Min: 20000, Max: 20004}, 2, false},
		{"min above max", PortPoolConfig{Min: 30000, Max: 20000}, 0, true},
		{"max beyond 65535", PortPoolConfig{Min: 60000, Max: 70000}, 0, true},
		{"no pair in range", PortPoolConfig{Min: 20001, Max: 20002}, 0, true},
		{"negative minimum", PortPoolConfig{Min: -4, Max: 20}, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPortPool(tc.cfg)
			if tc.wantErr {
				if !errors.Is(err, ErrPoolConfig) {
					t.Fatalf("err = %v, want ErrPoolConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Size() != tc.size {
				t.Fatalf("Size = %d, want %d", p.Size(), tc.size)
			}
		})
	}
}

func TestPortPoolConcurrentUse(t *testing.T) {
	// Run with -race: goroutines allocate and release at once; a pair is
	// never handed to two holders, and InUse returns to 0.
	p, _ := testPool(t, 4, -1, nil)
	var (
		mu   sync.Mutex
		held = map[int]bool{}
		wg   sync.WaitGroup
	)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 40 {
				pp, err := p.Allocate()
				if errors.Is(err, ErrPortsExhausted) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if held[pp.Port()] {
					t.Errorf("port %d handed out twice", pp.Port())
				}
				held[pp.Port()] = true
				mu.Unlock()
				_ = p.InUse()
				mu.Lock()
				delete(held, pp.Port())
				mu.Unlock()
				pp.Release()
			}
		}()
	}
	wg.Wait()
	if p.InUse() != 0 {
		t.Fatalf("InUse = %d at the end, want 0", p.InUse())
	}
}

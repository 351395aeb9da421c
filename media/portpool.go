package media

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// ErrPortsExhausted is returned by PortPool.Allocate when no RTP/RTCP port
// pair in the range is free: every pair is in use, draining, or bound by
// another process. The SIP layer answers the call with 503.
var ErrPortsExhausted = errors.New("media: RTP port range exhausted")

// ErrPoolConfig is wrapped by NewPortPool for an unusable configuration.
var ErrPoolConfig = errors.New("media: bad port pool configuration")

// Defaults of PortPoolConfig.
const (
	DefaultPortMin = 20000
	DefaultPortMax = 29999
	// DefaultDrain is long enough for a peer's in-flight and retransmitted
	// media of the previous call to arrive at a closed socket, not at the
	// next call.
	DefaultDrain = 2 * time.Second
)

// PortPoolConfig configures a PortPool. The zero value means: bind
// 0.0.0.0, ports 20000–29999, a 2 s drain, the wall clock.
type PortPoolConfig struct {
	// BindAddr is the local address both sockets are bound to. Zero means
	// the IPv4 unspecified address.
	BindAddr netip.Addr
	// Min and Max bound the ports handed out, inclusive. RTP ports are the
	// even ports p with Min ≤ p and p+1 ≤ Max; RTCP is on p+1 (RFC 3550
	// §11). Zero means the default.
	Min, Max int
	// Drain is how long a released pair rests before it is handed out
	// again. Zero means DefaultDrain; negative means no drain.
	Drain time.Duration
	// Now is the clock the drain is measured by. Nil means time.Now.
	Now func() time.Time
	// StartIndex picks the pair the first allocation starts at, given the
	// number of pairs; nil means uniformly at random, so that restarts and
	// neighbouring nodes do not all begin at the bottom of the range.
	StartIndex func(pairs int) int
}

// PortPool hands out RTP/RTCP UDP socket pairs from a port range. It binds
// to allocate, so ports taken by other processes are skipped, and keeps a
// released pair out of use for a drain period so that call N+1 never
// receives call N's packets. Safe for concurrent use.
type PortPool struct {
	bind  netip.Addr
	net   string
	min   int // first RTP port (even)
	drain time.Duration
	now   func() time.Time

	mu     sync.Mutex
	next   int         // index of the pair the next search starts at
	used   []bool      // per pair: handed out and not yet released
	freeAt []time.Time // per pair: when its drain ends
	inUse  int
}

// NewPortPool returns a pool for cfg.
func NewPortPool(cfg PortPoolConfig) (*PortPool, error) {
	if cfg.Min == 0 {
		cfg.Min = DefaultPortMin
	}
	if cfg.Max == 0 {
		cfg.Max = DefaultPortMax
	}
	if cfg.Drain == 0 {
		cfg.Drain = DefaultDrain
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if !cfg.BindAddr.IsValid() {
		cfg.BindAddr = netip.IPv4Unspecified()
	}
	if cfg.Min < 1 || cfg.Max > 65535 || cfg.Min > cfg.Max {
		return nil, fmt.Errorf("%w: range %d–%d", ErrPoolConfig, cfg.Min, cfg.Max)
	}
	first := cfg.Min + cfg.Min%2
	pairs := 0
	if cfg.Max >= first+1 {
		pairs = (cfg.Max-first-1)/2 + 1
	}
	if pairs == 0 {
		return nil, fmt.Errorf("%w: range %d–%d holds no even/odd port pair", ErrPoolConfig, cfg.Min, cfg.Max)
	}
	start := 0
	if cfg.StartIndex != nil {
		start = cfg.StartIndex(pairs)
	} else {
		start = rand.IntN(pairs)
	}
	if start < 0 || start >= pairs {
		start = 0
	}
	network := "udp4"
	if cfg.BindAddr.Is6() && !cfg.BindAddr.Is4In6() {
		network = "udp6"
	}
	return &PortPool{
		bind:   cfg.BindAddr.Unmap(),
		net:    network,
		min:    first,
		drain:  cfg.Drain,
		now:    cfg.Now,
		next:   start,
		used:   make([]bool, pairs),
		freeAt: make([]time.Time, pairs),
	}, nil
}

// Size returns the number of port pairs in the range.
func (p *PortPool) Size() int { return len(p.used) }

// InUse returns the number of pairs handed out and not yet released.
// Draining pairs are not counted.
func (p *PortPool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse
}

// Allocate binds the next free pair: an even RTP port and RTCP on the port
// above it. It visits each pair of the range at most once, starting after
// the pair it handed out last, skipping pairs in use or draining and pairs
// another process holds (EADDRINUSE). It returns ErrPortsExhausted when it
// went round the whole range without success, and any other bind error as
// it is (a wrong bind address will not get better by trying more ports).
func (p *PortPool) Allocate() (*PortPair, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	n := len(p.used)
	for range n {
		i := p.next
		p.next = (p.next + 1) % n
		if p.used[i] || now.Before(p.freeAt[i]) {
			continue
		}
		port := p.min + 2*i
		rtpConn, rtcpConn, err := p.bindPair(port)
		if errors.Is(err, syscall.EADDRINUSE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		p.used[i] = true
		p.inUse++
		return &PortPair{RTP: rtpConn, RTCP: rtcpConn, pool: p, index: i, port: port, rawRTP: -1}, nil
	}
	return nil, ErrPortsExhausted
}

// bindPair binds port and port+1, or neither.
func (p *PortPool) bindPair(port int) (rtpConn, rtcpConn *net.UDPConn, err error) {
	rtpConn, err = net.ListenUDP(p.net, net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.bind, uint16(port))))
	if err != nil {
		return nil, nil, err
	}
	rtcpConn, err = net.ListenUDP(p.net, net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.bind, uint16(port+1))))
	if err != nil {
		rtpConn.Close()
		return nil, nil, err
	}
	return rtpConn, rtcpConn, nil
}

// release returns pair i to the pool, usable again after the drain.
func (p *PortPool) release(i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.used[i] {
		return
	}
	p.used[i] = false
	p.inUse--
	if p.drain > 0 {
		p.freeAt[i] = p.now().Add(p.drain)
	} else {
		p.freeAt[i] = time.Time{}
	}
}

// PortPair is one allocated RTP/RTCP socket pair. The holder owns both
// sockets until Release.
type PortPair struct {
	// RTP is bound to the even port, RTCP to the port above it.
	RTP, RTCP *net.UDPConn

	pool  *PortPool
	index int
	port  int
	once  sync.Once
	// rawRTP, when non-negative, is the RTP socket's descriptor after
	// unpollRTP took it out of the Go runtime's poller; RTP is then
	// closed and Release closes rawRTP instead.
	rawRTP int
}

// Port returns the RTP port; RTCP is Port()+1.
func (pp *PortPair) Port() int { return pp.port }

// Release closes both sockets and returns the pair to its pool, where it
// drains before it is handed out again. Only the first call has an effect.
func (pp *PortPair) Release() error {
	var err error
	pp.once.Do(func() {
		var rtpErr error
		if pp.rawRTP >= 0 {
			rtpErr = closeRaw(pp.rawRTP)
		} else {
			rtpErr = pp.RTP.Close()
		}
		err = errors.Join(rtpErr, pp.RTCP.Close())
		pp.pool.release(pp.index)
	})
	return err
}

package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"dtmfgw/call"
	"dtmfgw/internal/histo"
)

// userAgent is our User-Agent and Server header value, and the user part
// of our Contact.
const userAgent = "dtmfgw"

// B2BUA bridges each INVITE from a trusted peer (the caller's leg, usually
// transferred to us by the contact centre's platform) to an agent target,
// as two dialogs joined by one call.Call that anchors the media on our
// relay (RFC 3261 §6 "back-to-back user agent"). It answers OPTIONS for
// dispatcher health checks, captures SIP INFO digits from the caller
// without forwarding them, and follows re-INVITEs from either side.
//
// Create it with NewB2BUA, run it with Serve, stop it with Shutdown.
type B2BUA struct {
	// live is what Reload may change: read it once per INVITE, so that a
	// call is routed, admitted and correlated by one configuration.
	live  atomic.Pointer[liveConfig]
	calls *call.Manager
	log   *slog.Logger
	now   func() time.Time

	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	cli     *sipgo.Client
	dialogs *sipgo.DialogUA
	// udpAddr is the UDP listener's address: the local address of every
	// request we send over UDP (see fromListener). Set by Serve before
	// any handler runs.
	udpAddr sipmsg.Addr
	// udpConn is the UDP listener (counting what it sends): cancelFilter
	// answers the CANCELs it refuses on it. Set by Serve before serving.
	udpConn net.PacketConn

	mu       sync.Mutex
	inbound  map[string]*bridge // by the caller dialog's Call-ID
	outbound map[string]*bridge // by the agent dialog's Call-ID
	closing  bool

	draining      atomic.Bool
	stop          chan struct{}   // closed by Shutdown after the drain: ends every call
	stopCtx       context.Context // done when stop is closed
	stopCtxCancel context.CancelFunc
	stopOnce      sync.Once
	active        sync.WaitGroup

	stats Stats
	msgs  messageCounters
}

// Stats are the B2BUA's counters, for logs and metrics. They hold no
// header value, number or digit.
type Stats struct {
	// Forbidden counts INVITEs refused with 403: not from the ACL.
	Forbidden atomic.Uint64
	// BadSDP counts INVITEs refused with 488.
	BadSDP atomic.Uint64
	// NoRoute counts INVITEs refused with 404: no target.
	NoRoute atomic.Uint64
	// Unavailable counts INVITEs refused with 503: draining, or no ports.
	Unavailable atomic.Uint64
	// Bridged counts calls the agent answered.
	Bridged atomic.Uint64
	// InfoDigits counts SIP INFO key presses captured.
	InfoDigits atomic.Uint64
}

// NewB2BUA checks cfg (Validate) and returns a B2BUA that sends its
// calls' media through calls. log may be nil. sipgo's own package-level
// log records go to the newest B2BUA's log, redacted (one B2BUA per
// process is the rule outside tests).
func NewB2BUA(cfg Config, calls *call.Manager, log *slog.Logger) (*B2BUA, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if calls == nil {
		return nil, errors.New("sip: NewB2BUA needs a call.Manager")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	routeLibraryLogs(log)
	live, err := newLiveConfig(cfg)
	if err != nil {
		return nil, err
	}
	b := &B2BUA{
		calls:    calls,
		log:      log,
		now:      calls.Now,
		inbound:  make(map[string]*bridge),
		outbound: make(map[string]*bridge),
		stop:     make(chan struct{}),
	}
	b.live.Store(live)
	b.msgs.setup = histo.Must(SetupBuckets...)
	b.stopCtx, b.stopCtxCancel = context.WithCancel(context.Background())
	return b, nil
}

// liveConfig is a configuration with its router and ACL built: what one
// INVITE is handled by. Immutable once stored.
type liveConfig struct {
	cfg    Config
	router *Router
	acl    *ACL
}

func newLiveConfig(cfg Config) (*liveConfig, error) {
	router, err := NewRouter(cfg)
	if err != nil {
		return nil, err
	}
	acl, err := ParseACL(cfg.ACL)
	if err != nil {
		return nil, fmt.Errorf("sip.acl: %w", err)
	}
	return &liveConfig{cfg: cfg, router: router, acl: acl}, nil
}

// Reload replaces the routing (routes, default target, override header
// and its ACL), the ACL, the correlation headers and the ring and drain
// timeouts with cfg's, for INVITEs from now on; calls in progress keep the
// configuration they started with. The listeners (listen, tls) cannot
// change while serving: cfg's are ignored, and the running ones kept. A
// cfg that fails Validate is refused whole and nothing changes. Safe to
// call at any time, from any goroutine.
func (b *B2BUA) Reload(cfg Config) error {
	old := b.live.Load()
	cfg.Listen, cfg.TLS = old.cfg.Listen, old.cfg.TLS
	if err := cfg.Validate(); err != nil {
		return err
	}
	live, err := newLiveConfig(cfg)
	if err != nil {
		return err
	}
	b.live.Store(live)
	return nil
}

// Config returns the configuration INVITEs are handled by now.
func (b *B2BUA) Config() Config { return b.live.Load().cfg }

// Stats returns the B2BUA's counters.
func (b *B2BUA) Stats() *Stats { return &b.stats }

// Serve serves SIP on ls until ctx ends or Shutdown. It returns after
// the listeners are closed.
func (b *B2BUA) Serve(ctx context.Context, ls *Listeners) error {
	addr := ls.Addr()
	host := addr.Addr().String()
	if addr.Addr().IsUnspecified() {
		// A Contact and Via need an address peers can reach; with a
		// wildcard listener that is the loopback unless configured.
		host = "127.0.0.1"
	}
	// sipgo logs whole messages when it cannot parse one; a SIP INFO body
	// may hold a key press, so its log lines lose every multi-line or
	// long value (see redactingHandler).
	sipLog := slog.New(redactingHandler{b.log.Handler()}).With("component", "sipgo")
	// The transport and transaction layers take their loggers from the UA's
	// options, else from sipgo's package default (slog.Default): the
	// transport layer logs a datagram that does not parse whole, body and
	// all ("failed to parse", data=…), so both must be ours.
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(userAgent), sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgentTransportLayerOptions(sipmsg.WithTransportLayerLogger(sipLog),
			sipmsg.WithTransportLayerReadFilter(b.cancelFilter)),
		sipgo.WithUserAgentTransactionLayerOptions(sipmsg.WithTransactionLayerLogger(sipLog)))
	if err != nil {
		return err
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		ua.Close()
		return err
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientLogger(sipLog), sipgo.WithClientHostname(host), sipgo.WithClientPort(int(addr.Port())))
	if err != nil {
		ua.Close()
		return err
	}
	b.ua, b.srv, b.cli = ua, srv, cli
	b.udpAddr = sipmsg.Addr{IP: net.IP(addr.Addr().Unmap().AsSlice()), Port: int(addr.Port())}
	b.dialogs = &sipgo.DialogUA{
		Client: cli,
		ContactHDR: sipmsg.ContactHeader{
			Address: sipmsg.Uri{Scheme: "sip", User: userAgent, Host: host, Port: int(addr.Port())},
		},
	}
	ua.TransportLayer().OnMessage(b.msgs.incoming)
	srv.OnInvite(b.onInvite)
	srv.OnAck(b.onAck)
	srv.OnBye(b.onBye)
	srv.OnCancel(b.onCancel)
	srv.OnOptions(b.onOptions)
	srv.OnInfo(b.onInfo)
	srv.OnUpdate(b.onUpdate)
	srv.OnNoRoute(b.onOther)

	errs := make(chan error, 3)
	// What we write is counted on our sockets: sipgo has no hook for
	// sent messages. TLS and connections sipgo dials itself are not.
	b.udpConn = countingPacketConn{ls.UDP, &b.msgs}
	go func() { errs <- srv.ServeUDP(b.udpConn) }()
	go func() { errs <- srv.ServeTCP(screenedListener(countingListener(ls.TCP, &b.msgs), b)) }()
	n := 2
	if ls.TLS != nil {
		n++
		go func() { errs <- srv.ServeTLS(screenedListener(ls.TLS, b)) }()
	}
	b.log.Info("SIP listening", "udp", addr.String(), "tcp", addr.String(), "tls", ls.TLS != nil)
	var err2 error
	select {
	case <-ctx.Done():
	case <-b.stop:
	case err2 = <-errs:
		n--
	}
	ls.Close()
	for range n {
		<-errs // the serve loops return once their listeners are closed
	}
	ua.Close()
	if errors.Is(err2, net.ErrClosed) {
		err2 = nil
	}
	return err2
}

// Shutdown drains: new INVITEs get 503 at once, OPTIONS 503 (so that a
// dispatcher sends no more), and the calls in progress may go on until
// they end or ctx ends (the configured drain timeout is the caller's to
// put in ctx); then every remaining call is hung up with a BYE on both
// legs. It returns when no call is left.
func (b *B2BUA) Shutdown(ctx context.Context) error {
	b.draining.Store(true)
	// Under mu, so that no call is added to active once Wait may run.
	b.mu.Lock()
	b.closing = true
	b.mu.Unlock()
	done := make(chan struct{})
	go func() {
		b.active.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	b.stopOnce.Do(func() {
		close(b.stop)
		b.stopCtxCancel()
	})
	<-done
	return err
}

// Draining reports whether Shutdown has begun.
func (b *B2BUA) Draining() bool { return b.draining.Load() }

// Calls returns the number of calls in progress.
func (b *B2BUA) Calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.inbound)
}

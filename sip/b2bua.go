package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"dtmfgw/internal/certfile"
	"dtmfgw/internal/histo"
	"dtmfgw/media"
	"dtmfgw/session"
	"dtmfgw/sip/sdp"
)

// userAgent is our User-Agent and Server header value, and the user part
// of our Contact.
const userAgent = "dtmfgw"

// B2BUA bridges each INVITE from a trusted peer (the caller's leg, usually
// transferred to us by the contact centre's platform) to an agent target,
// as two dialogs joined by one session.Call that anchors the media on our
// relay (RFC 3261 §6 "back-to-back user agent"). It answers OPTIONS for
// dispatcher health checks, captures SIP INFO digits from the caller
// without forwarding them, and follows re-INVITEs from either side.
//
// Create it with NewB2BUA, run it with Serve, stop it with Shutdown.
type B2BUA struct {
	// live is what Reload may change: read it once per INVITE, so that a
	// call is routed, admitted and correlated by one configuration.
	live  atomic.Pointer[liveConfig]
	calls *session.Manager
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
func NewB2BUA(cfg Config, calls *session.Manager, log *slog.Logger) (*B2BUA, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if calls == nil {
		return nil, errors.New("sip: NewB2BUA needs a session.Manager")
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

// Listeners are the sockets a B2BUA serves: UDP and TCP on the same
// address, and TLS when configured. ListenConfig opens them.
type Listeners struct {
	UDP net.PacketConn
	TCP net.Listener
	TLS net.Listener
	// Cert is the TLS listener's certificate (nil without TLS): its
	// Reload renews it for the next handshakes.
	Cert *certfile.Pair
}

// Listen opens the configured listeners: UDP and TCP on cfg.Listen (the
// TCP port is the one UDP got, so a port 0 in tests gives one port for
// both) and TLS on cfg.TLS.Listen when a certificate is configured.
func Listen(cfg Config) (*Listeners, error) {
	udp, tcp, err := listenPair(cfg.Listen)
	if err != nil {
		return nil, err
	}
	l := &Listeners{UDP: udp, TCP: tcp}
	if cfg.TLS.Enabled() {
		cert, err := certfile.Load(cfg.TLS.Cert, cfg.TLS.Key, "sip.tls.cert", "sip.tls.key")
		if err != nil {
			l.Close()
			return nil, err
		}
		tl, err := tls.Listen("tcp", cfg.TLS.Listen, cert.Config(tls.VersionTLS12))
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("sip.tls.listen: %w", err)
		}
		l.TLS, l.Cert = tl, cert
	}
	return l, nil
}

// listenPacket is net.ListenPacket; a test makes it hand out a port whose
// TCP twin is taken.
var listenPacket = net.ListenPacket

// pairAttempts bounds listenPair's tries for port 0.
const pairAttempts = 16

// listenPair opens UDP and TCP on one address. With port 0 the system
// picks the UDP port, and that port's TCP twin may be taken (by an
// outgoing connection's ephemeral port, say): then it tries another
// port, a bounded number of times. A port given in the configuration is
// tried once.
func listenPair(addr string) (net.PacketConn, net.Listener, error) {
	_, port, _ := net.SplitHostPort(addr)
	for attempt := 1; ; attempt++ {
		udp, err := listenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("sip.listen: %w", err)
		}
		tcpAddr := udp.LocalAddr().(*net.UDPAddr).AddrPort()
		tcp, err := net.Listen("tcp", tcpAddr.String())
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if port != "0" || attempt == pairAttempts {
			return nil, nil, fmt.Errorf("sip.listen (tcp): %w", err)
		}
	}
}

// Addr returns the UDP (and TCP) address.
func (l *Listeners) Addr() netip.AddrPort { return l.UDP.LocalAddr().(*net.UDPAddr).AddrPort() }

// Close closes every listener.
func (l *Listeners) Close() error {
	err := l.UDP.Close()
	err = errors.Join(err, l.TCP.Close())
	if l.TLS != nil {
		err = errors.Join(err, l.TLS.Close())
	}
	return err
}

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
	go func() { errs <- srv.ServeTCP(screenedListener{countingListener{ls.TCP, &b.msgs}, b}) }()
	n := 2
	if ls.TLS != nil {
		n++
		go func() { errs <- srv.ServeTLS(screenedListener{ls.TLS, b}) }()
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

// fromListener makes a request that travels over UDP leave through our
// listening socket. For the first request to a peer it has not yet heard
// from (the agent's INVITE), sipgo would otherwise open a new socket on
// the wildcard address and an ephemeral port, and never close it: the
// peer would see a source port that is neither our Via nor our Contact
// port, which symmetric signalling (RFC 3581 §4) and source-port ACLs of
// SBCs and dispatchers refuse. sipgo copies the address into the CANCEL
// and ACK of an INVITE; later requests find the listener by the peer's
// address, from which it has answered. Over TCP and TLS a connection from
// an ephemeral port is the norm (RFC 3261 §18.1.1) and sipgo looks
// connections up by local address there, which would pick another peer's
// connection: those are left alone.
func (b *B2BUA) fromListener(req *sipmsg.Request) {
	if strings.EqualFold(req.Transport(), "UDP") && b.udpAddr.IP != nil {
		b.udpAddr.Copy(&req.Laddr)
	}
}

// respond answers req on tx with a status and no body; headers are
// appended. A failure to send is logged: there is no one else to tell.
func (b *B2BUA) respond(req *sipmsg.Request, tx sipmsg.ServerTransaction, code int, reason string, headers ...sipmsg.Header) {
	if err := tx.Respond(response(req, code, reason, headers...)); err != nil {
		b.log.Debug("SIP response not sent", "method", string(req.Method), "status", code, "err", err)
	}
}

// response builds the answer to req with a status, no body and headers
// appended.
func response(req *sipmsg.Request, code int, reason string, headers ...sipmsg.Header) *sipmsg.Response {
	res := sipmsg.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	return res
}

// warning is a Warning header (RFC 3261 §20.43) with our agent name; text
// must already be safe (sdp.Error texts are).
func warning(code int, text string) sipmsg.Header {
	return sipmsg.NewHeader("Warning", strconv.Itoa(code)+" "+userAgent+" \""+text+"\"")
}

// lookup finds the bridge a request's Call-ID belongs to, and which of its
// dialogs: the caller's (inbound) or the agent's. It trusts nothing else
// of the request: admit does.
func (b *B2BUA) lookup(req *sipmsg.Request) (br *bridge, fromCaller bool) {
	cid := req.CallID()
	if cid == nil {
		return nil, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if br := b.inbound[cid.Value()]; br != nil {
		return br, true
	}
	return b.outbound[cid.Value()], false
}

// admit decides whether an in-dialog request may act on the call it
// names, before its handler does anything: the Call-ID finds the call and
// the side (the caller's dialog or the agent's), and the request must then
// come from that side's peer and carry that dialog's tags. Knowing a
// Call-ID is not enough: the agent's form, a recording or a log may show
// one. A refused request is answered (an ACK never is, RFC 3261 §17.2.1),
// counted and logged without its body, and admit returns ok false.
func (b *B2BUA) admit(req *sipmsg.Request, tx sipmsg.ServerTransaction) (br *bridge, fromCaller, ok bool) {
	src, _ := SourceAddr(req)
	br, fromCaller = b.lookup(req)
	if why, refused := b.check(req, src, br, fromCaller); refused {
		b.refuse(req, tx, src, why)
		return nil, false, false
	}
	return br, fromCaller, true
}

// check is admit's decision. The agent's leg is checked against its own
// peer first, as an agent need not be inside sip.acl (which lists who may
// send us calls); anything else must come from inside the ACL, name a
// call, and be that call's caller leg or agent leg, from its peer, with
// its tags.
func (b *B2BUA) check(req *sipmsg.Request, src netip.Addr, br *bridge, fromCaller bool) (Refusal, bool) {
	if br != nil && !fromCaller && br.agentPeer.from(src) {
		if !br.agentPeer.tagsMatch(req) {
			return RefusedWrongTag, true
		}
		return 0, false
	}
	// A call keeps the ACL it started with, as it keeps the rest of its
	// configuration (Reload): closing the ACL refuses new calls, not the
	// BYE of a call in progress.
	acl := b.live.Load().acl
	if br != nil {
		acl = br.acl
	}
	if !acl.Allows(src) {
		return RefusedACL, true
	}
	if br == nil {
		return RefusedNoDialog, true
	}
	// agentPeer is read only for a bridge found by the agent's Call-ID:
	// it is set before that is registered, while the caller's may come
	// first.
	peer := br.callerPeer
	if !fromCaller {
		peer = br.agentPeer
	}
	if !peer.from(src) {
		return RefusedWrongSource, true
	}
	if !peer.tagsMatch(req) {
		return RefusedWrongTag, true
	}
	return 0, false
}

// refuse answers a refused request (not an ACK), counts it and logs it:
// the method, the reason and the source, never a header value or body.
func (b *B2BUA) refuse(req *sipmsg.Request, tx sipmsg.ServerTransaction, src netip.Addr, why Refusal) {
	b.msgs.refuse([]byte(req.Method), why)
	code, text := why.status()
	b.log.Info("SIP request refused", "method", methodName(req.Method), "reason", why.String(), "source", src.String(), "status", code)
	if req.Method == sipmsg.ACK || tx == nil {
		return
	}
	b.respond(req, tx, code, text)
}

// fromACL answers req with 403 and counts it when its source is outside
// sip.acl: for requests that name no call (OPTIONS, a new INVITE, a method
// we do not handle). It reports whether the request may go on.
func (b *B2BUA) fromACL(req *sipmsg.Request, tx sipmsg.ServerTransaction) bool {
	src, _ := SourceAddr(req)
	if b.live.Load().acl.Allows(src) {
		return true
	}
	b.refuse(req, tx, src, RefusedACL)
	return false
}

func (b *B2BUA) register(br *bridge) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.inbound[br.inCallID]; dup {
		return false
	}
	b.inbound[br.inCallID] = br
	return true
}

func (b *B2BUA) registerOutbound(br *bridge, callID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.outbound[callID] = br
}

func (b *B2BUA) unregister(br *bridge) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.inbound[br.inCallID] == br {
		delete(b.inbound, br.inCallID)
	}
	if br.outCallID != "" && b.outbound[br.outCallID] == br {
		delete(b.outbound, br.outCallID)
	}
}

// onInvite takes a new INVITE, or passes a re-INVITE (a To tag: RFC 3261
// §12.2.2) to its bridge. sipgo tears the transaction down when a handler
// returns, so a new call's handler runs the whole call.
func (b *B2BUA) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	invited := time.Now() // call setup time runs from here (wall clock: a metric)
	if to := req.To(); to != nil {
		if tag, _ := to.Params.Get("tag"); tag != "" {
			if br, fromCaller, ok := b.admit(req, tx); ok {
				br.reinvite(req, tx, fromCaller)
			}
			return
		}
	}
	live := b.live.Load()
	src, err := SourceAddr(req)
	if err != nil || !live.acl.Allows(src) {
		b.stats.Forbidden.Add(1)
		b.refuse(req, tx, src, RefusedACL)
		return
	}
	if b.draining.Load() {
		b.stats.Unavailable.Add(1)
		b.respond(req, tx, 503, "Service Unavailable", sipmsg.NewHeader("Retry-After", "30"))
		return
	}
	// Everything the agent INVITE copies from this one is checked first.
	if err := checkCopied(req); err != nil {
		b.respond(req, tx, 400, "Bad Request")
		b.log.Warn("INVITE refused: bad header", "err", err, "status", 400)
		return
	}
	// An INVITE without a body is a late offer (RFC 3261 §13.2.1): the
	// agent then offers in its 200, and the caller answers in its ACK.
	var offer *sdp.Media
	if body := req.Body(); len(body) > 0 {
		if offer, err = sdp.Parse(body); err != nil {
			offer = nil
		}
	}
	if len(req.Body()) > 0 && offer == nil {
		b.stats.BadSDP.Add(1)
		code, text := sdp.WarnMisc, "unusable SDP"
		var se *sdp.Error
		if errors.As(err, &se) {
			code, text = se.Code, se.Text
		}
		b.log.Info("INVITE refused: SDP", "reason", text, "status", 488)
		b.respond(req, tx, 488, "Not Acceptable Here", warning(code, text))
		return
	}
	route, err := live.router.Route(req, src)
	if err != nil {
		b.stats.NoRoute.Add(1)
		b.log.Info("INVITE refused: no route", "status", 404)
		b.respond(req, tx, 404, "Not Found")
		return
	}
	corr := Correlate(req, live.cfg.Headers)
	call, err := b.calls.NewCall(sessionCorrelation(corr))
	if err != nil {
		if errors.Is(err, media.ErrPortsExhausted) {
			b.stats.Unavailable.Add(1)
			b.log.Warn("INVITE refused: no RTP ports left", "status", 503)
			b.respond(req, tx, 503, "Service Unavailable", sipmsg.NewHeader("Retry-After", "5"))
			return
		}
		b.log.Error("INVITE refused: media", "err", err, "status", 500)
		b.respond(req, tx, 500, "Server Internal Error")
		return
	}
	in, err := b.dialogs.ReadInvite(req, tx)
	if err != nil {
		call.End(session.EndError)
		b.respond(req, tx, 400, "Bad Request")
		return
	}
	br := &bridge{
		b:           b,
		invited:     invited,
		callerPeer:  newCallerPeer(in.InviteRequest, src),
		conf:        &live.cfg,
		acl:         live.acl,
		call:        call,
		in:          in,
		inCallID:    req.CallID().Value(),
		callerOffer: offer,
		route:       route,
		corr:        corr,
		hangup:      make(chan struct{}),
		log:         b.log.With(callLogAttrs(call.ID(), corr)...),
	}
	b.mu.Lock()
	if b.closing {
		b.mu.Unlock()
		call.End(session.EndShutdown)
		b.respond(req, tx, 503, "Service Unavailable")
		return
	}
	b.active.Add(1)
	b.mu.Unlock()
	defer b.active.Done()
	if !b.register(br) {
		// A second INVITE with a live Call-ID and no To tag is a loop or a
		// retransmission the transaction layer did not match.
		call.End(session.EndError)
		b.respond(req, tx, 482, "Loop Detected")
		return
	}
	defer b.unregister(br)
	br.run(req)
}

// callLogAttrs are the correlation fields every log line of a call
// carries, so one grep finds the call from the platform's side too: our
// call id, the inbound Call-ID, and the agent id and primary call id when
// the INVITE had them (Correlate has checked them; the process logger's
// redaction layer still masks a long digit run in any of them).
func callLogAttrs(callID string, corr Correlation) []any {
	attrs := []any{"call", callID, "inbound_call_id", corr.CallID}
	if corr.AgentID != "" {
		attrs = append(attrs, "agent_id", corr.AgentID)
	}
	if corr.PrimaryCallID != "" {
		attrs = append(attrs, "primary_call_id", corr.PrimaryCallID)
	}
	return attrs
}

// checkCopied validates the values the agent INVITE is built from that no
// other check covers: the caller's From (its user and display name go to
// the agent). The correlation headers are checked by Correlate and
// CopyHeader, which drop a bad value rather than refuse the call.
func checkCopied(req *sipmsg.Request) error {
	f := req.From()
	if f == nil {
		return &HeaderError{Header: "From", Reason: "missing"}
	}
	if err := ValidateHeaderValue("From", f.Value()); err != nil {
		return err
	}
	return nil
}

// sessionCorrelation turns what Correlate found into session's record.
func sessionCorrelation(c Correlation) session.Correlation {
	d := session.Inbound
	if c.Direction == CallOutbound {
		d = session.Outbound
	}
	return session.Correlation{
		InboundCallID:   c.CallID,
		CallerNumber:    c.Caller,
		CalledNumber:    c.Called,
		Direction:       d,
		AgentID:         c.AgentID,
		PrimaryCallID:   c.PrimaryCallID,
		SecondaryCallID: c.SecondaryCallID,
	}
}

// onAck passes an ACK for a 2xx to the caller dialog (RFC 3261 §13.3.1.4);
// ACKs for non-2xx are the transaction layer's, and the agent's ACKs to
// our 2xx for its re-INVITEs need nothing.
func (b *B2BUA) onAck(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	br, fromCaller, ok := b.admit(req, nil)
	if !ok || !fromCaller {
		return
	}
	if len(req.Body()) > 0 {
		// The caller's answer to our offer, when it sent no offer itself.
		body := req.Body()
		br.ackBody.Store(&body)
	}
	if err := br.in.ReadAck(req, tx); err != nil {
		br.log.Debug("ACK not for the current INVITE", "err", err)
	}
}

// onBye answers a BYE from either side; the bridge then hangs up the
// other one.
func (b *B2BUA) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if br, fromCaller, ok := b.admit(req, tx); ok {
		br.bye(req, tx, fromCaller)
	}
}

// onCancel gets only CANCELs that match no INVITE transaction (sipgo
// answers the others with 200 and the INVITE with 487, once the UDP read
// filter, cancelFilter, has let them through).
func (b *B2BUA) onCancel(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if b.fromACL(req, tx) {
		src, _ := SourceAddr(req)
		b.refuse(req, tx, src, RefusedNoDialog)
	}
}

// onOptions answers health checks (a Kamailio dispatcher pings with
// OPTIONS): 200 while we take calls, 503 while draining so that the
// dispatcher moves new calls elsewhere.
func (b *B2BUA) onOptions(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !b.fromACL(req, tx) {
		return
	}
	if b.draining.Load() {
		b.respond(req, tx, 503, "Service Unavailable")
		return
	}
	b.respond(req, tx, 200, "OK",
		sipmsg.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE"),
		sipmsg.NewHeader("Accept", "application/sdp, application/dtmf-relay, application/dtmf"))
}

// onInfo captures a caller's SIP INFO key press and never forwards it:
// the agent must not learn the digit from signalling either.
func (b *B2BUA) onInfo(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if br, fromCaller, ok := b.admit(req, tx); ok {
		br.info(req, tx, fromCaller)
	}
}

// onUpdate answers UPDATE (RFC 3311), which carriers send as a session
// refresh (RFC 4028): without a body it is answered 200; an offer in an
// UPDATE is refused with 488, and the peer falls back to re-INVITE.
func (b *B2BUA) onUpdate(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if _, _, ok := b.admit(req, tx); !ok {
		return
	}
	if len(req.Body()) > 0 {
		b.respond(req, tx, 488, "Not Acceptable Here", warning(sdp.WarnMisc, "offer in UPDATE not supported, use re-INVITE"))
		return
	}
	b.respond(req, tx, 200, "OK")
}

// onOther answers methods we do not handle.
func (b *B2BUA) onOther(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if !b.fromACL(req, tx) {
		return
	}
	b.respond(req, tx, 405, "Method Not Allowed", sipmsg.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE"))
}

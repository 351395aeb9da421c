package simcall

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// ErrClosed is returned by the methods of an end that has been closed,
// or whose context has ended.
var ErrClosed = errors.New("simcall: closed")

// ErrNoCall is returned when an end has no call in progress.
var ErrNoCall = errors.New("simcall: no call in progress")

// byeTimeout bounds the BYE an end sends when it is closed during a call.
const byeTimeout = 2 * time.Second

// endpoint is what a Caller and an Agent share: a sipgo user agent on a
// loopback UDP socket, and one RTP socket.
type endpoint struct {
	name    string
	log     *slog.Logger
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	cli     *sipgo.Client
	sipConn net.PacketConn
	sipAddr netip.AddrPort
	rtp     *net.UDPConn
	contact sip.ContactHeader

	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup              // every goroutine of the end but the context watch
	hangUp    func(context.Context) error // ends a call in progress, before the sockets close
}

// newEndpoint opens the sockets on 127.0.0.1 and the user agent; the
// caller registers its handlers and then calls serve.
func newEndpoint(name string, log *slog.Logger) (*endpoint, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := &endpoint{name: name, log: log, closed: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			e.closeSockets()
		}
	}()
	var err error
	if e.sipConn, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	e.sipAddr = e.sipConn.LocalAddr().(*net.UDPAddr).AddrPort()
	if e.rtp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		return nil, err
	}
	if e.ua, err = sipgo.NewUA(sipgo.WithUserAgent("dtmfgw-simcall-"+name), sipgo.WithUserAgentHostname("127.0.0.1")); err != nil {
		return nil, err
	}
	if e.srv, err = sipgo.NewServer(e.ua, sipgo.WithServerLogger(log)); err != nil {
		return nil, err
	}
	// The client sends from the listening socket, so that responses and
	// in-dialog requests come back to it (RFC 3261 §18.1.1).
	if e.cli, err = sipgo.NewClient(e.ua, sipgo.WithClientLogger(log), sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(int(e.sipAddr.Port()))); err != nil {
		return nil, err
	}
	e.contact = sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: name, Host: "127.0.0.1", Port: int(e.sipAddr.Port())}}
	ok = true
	return e, nil
}

// start is what an Agent and a Caller both do once their own handlers are
// set: BYEs go to readBye (481 for a dialog it does not know), hangUp ends
// a call in progress before the sockets close (ErrNoCall: there was
// none), SIP is served until ctx ends (then closeEnd), and receive reads
// the media.
func (e *endpoint) start(ctx context.Context, readBye func(*sip.Request, sip.ServerTransaction) error, hangUp func(context.Context) error, closeEnd func() error, receive func()) {
	e.srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if err := readBye(req, tx); err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		}
	})
	e.hangUp = hangUp
	e.serve(ctx, closeEnd)
	e.wg.Add(1)
	go receive()
}

// serve starts reading SIP, and closes the end when ctx ends.
func (e *endpoint) serve(ctx context.Context, close func() error) {
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		_ = e.srv.ServeUDP(e.sipConn) // returns when the socket closes
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = close()
		case <-e.closed:
		}
	}()
}

// rtpAddr is where the end receives RTP.
func (e *endpoint) rtpAddr() netip.AddrPort {
	return e.rtp.LocalAddr().(*net.UDPAddr).AddrPort()
}

// isClosed reports whether close has begun.
func (e *endpoint) isClosed() bool {
	select {
	case <-e.closed:
		return true
	default:
		return false
	}
}

// hangUpOnClose hangs up a call still in progress when the end closes,
// within byeTimeout.
func (e *endpoint) hangUpOnClose() {
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	if err := e.hangUp(ctx); err != nil && !errors.Is(err, ErrNoCall) {
		e.log.Debug("simcall: "+e.name+" hangup on close", "err", err)
	}
}

// close hangs up, closes the sockets and waits for the end's goroutines.
func (e *endpoint) close() error {
	e.closeOnce.Do(func() {
		close(e.closed)
		if e.hangUp != nil {
			e.hangUpOnClose()
		}
		e.closeSockets()
		e.wg.Wait()
	})
	return nil
}

func (e *endpoint) closeSockets() {
	if e.sipConn != nil {
		e.sipConn.Close()
	}
	if e.rtp != nil {
		e.rtp.Close()
	}
	if e.cli != nil {
		e.cli.Close()
	}
	if e.srv != nil {
		e.srv.Close()
	}
	if e.ua != nil {
		e.ua.Close()
	}
}

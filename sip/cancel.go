package sip

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// A CANCEL must pass admit's check before sipgo sees it. sipgo's
// transaction layer answers a CANCEL that matches a pending INVITE
// transaction itself (200 to the CANCEL, then 487 to the INVITE, RFC 3261
// §9.2), matching on the INVITE's Via branch and sent-by alone — over any
// transport, whichever the INVITE came by — and before any handler of ours
// could check where it came from. So every CANCEL is screened where it
// enters: cancelFilter for UDP datagrams, screenedConn for TCP and TLS
// streams. A refused one is answered there and never reaches sipgo.

// screenCancel checks a CANCEL from src as admit checks any request that
// names a call: from the caller's peer, inside the ACL, with the caller's
// From tag. It counts and logs a refusal and returns the response to send,
// or nil when the CANCEL may go on to sipgo (one that names no call goes
// on too: it matches no INVITE, and onCancel answers it).
func (b *B2BUA) screenCancel(req *sipmsg.Request, src netip.Addr) *sipmsg.Response {
	br, fromCaller := b.lookup(req)
	why, refused := b.check(req, src, br, fromCaller)
	if !refused || (br == nil && why == RefusedNoDialog) {
		return nil
	}
	b.msgs.refuse([]byte(req.Method), why)
	code, text := why.status()
	b.log.Info("SIP request refused", "method", "CANCEL", "reason", why.String(), "source", src.String(), "status", code)
	return response(req, code, text)
}

// cancelFilter sees every datagram of the UDP listener before sipgo
// parses it, and screens the CANCELs. It never returns an error: sipgo
// stops reading the socket on one.
func (b *B2BUA) cancelFilter(info sipmsg.TransportReadProps, data []byte) ([]byte, error) {
	// sipgo's parser takes the start line from the datagram's first byte,
	// so whatever it reads as a CANCEL starts with the method.
	if !bytes.HasPrefix(data, []byte("CANCEL")) || !strings.EqualFold(info.Transport, "udp") {
		return data, nil
	}
	raddr, ok := info.RemoteAddr.(*net.UDPAddr)
	if !ok {
		return data, nil
	}
	msg, err := sipmsg.ParseMessage(data)
	if err != nil {
		return data, nil // sipgo refuses what does not parse
	}
	req, ok := msg.(*sipmsg.Request)
	if !ok || req.Method != sipmsg.CANCEL {
		return data, nil
	}
	res := b.screenCancel(req, raddr.AddrPort().Addr().Unmap())
	if res == nil {
		return data, nil
	}
	if b.udpConn != nil {
		if _, err := b.udpConn.WriteTo([]byte(res.String()), raddr); err != nil {
			b.log.Debug("SIP response not sent", "method", "CANCEL", "status", res.StatusCode, "err", err)
		}
	}
	return nil, nil
}

// screenedListener hands out connections whose CANCELs are screened
// (screenedConn): the TCP and TLS connections peers open to us.
func screenedListener(l net.Listener, b *B2BUA) net.Listener {
	return wrapListener{l, func(c net.Conn) net.Conn { return &screenedConn{Conn: c, b: b, par: newStreamParser()} }}
}

// newStreamParser is a stream parser with sipgo's defaults: the ones its
// transport parses our listeners' streams with.
func newStreamParser() *sipmsg.ParserStream { return sipmsg.NewParser().NewSIPStream() }

// screenedConn stands between a stream connection and sipgo. A read of a
// stream is any piece of it, so it frames the stream into messages with
// sipgo's own stream parser — the same framing sipgo's transport then
// applies to the same bytes, so that nothing can be hidden from one and
// seen by the other — and hands sipgo every complete message unchanged but
// a refused CANCEL. A message is handed on once it is complete (sipgo acts
// on none before that either). Bytes sipgo's parser refuses are handed on
// as they are: sipgo refuses them too, and closes the connection.
//
// Read is sipgo's, from its one reader goroutine per connection.
type screenedConn struct {
	net.Conn
	b   *B2BUA
	par *sipmsg.ParserStream
	// raw holds the bytes of the message being framed; out those framed
	// and checked, for sipgo's next Read.
	raw, out []byte
	err      error // the connection's read error, once out is empty
	failed   bool  // the parser refused the stream: pass it on as it is
	rbuf     [4096]byte
}

func (c *screenedConn) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		n, err := c.Conn.Read(c.rbuf[:])
		if n > 0 {
			c.take(c.rbuf[:n])
		}
		if err != nil {
			// What was held of an incomplete message goes on, as sipgo
			// would have had it.
			c.out = append(c.out, c.raw...)
			c.raw = nil
			c.err = err
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// take frames data.
func (c *screenedConn) take(data []byte) {
	if c.failed {
		c.out = append(c.out, data...)
		return
	}
	if len(c.raw) == 0 && len(bytes.Trim(data, "\r\n")) == 0 {
		// A keep-alive between messages (RFC 5626 §3.5.1), read alone:
		// handed on alone, for sipgo to answer.
		c.out = append(c.out, data...)
		return
	}
	c.raw = append(c.raw, data...)
	_, _ = c.par.Write(data)
	for len(c.raw) > 0 {
		msg, n, err := c.par.ParseNext()
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return // the message goes on in the next read
		}
		if err != nil || n <= 0 || n > len(c.raw) {
			c.failed = true
			c.out = append(c.out, c.raw...)
			c.raw = nil
			return
		}
		if !c.refused(msg) {
			c.out = append(c.out, c.raw[:n]...)
		}
		c.raw = c.raw[n:]
	}
	c.raw = nil // reuse from the start
}

// refused screens a framed message: a CANCEL the B2BUA refuses is answered
// on the connection and reported refused.
func (c *screenedConn) refused(msg sipmsg.Message) bool {
	req, ok := msg.(*sipmsg.Request)
	if !ok || req.Method != sipmsg.CANCEL {
		return false
	}
	src := netip.Addr{}
	if ap, err := netip.ParseAddrPort(c.Conn.RemoteAddr().String()); err == nil {
		src = ap.Addr().Unmap()
	}
	res := c.b.screenCancel(req, src)
	if res == nil {
		return false
	}
	if _, err := c.Conn.Write([]byte(res.String())); err != nil {
		c.b.log.Debug("SIP response not sent", "method", "CANCEL", "status", res.StatusCode, "err", err)
	}
	return true
}

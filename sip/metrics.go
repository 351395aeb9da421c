package sip

import (
	"bytes"
	"net"
	"sync/atomic"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"dtmfgw/internal/histo"
)

// Methods are the SIP methods the message counters tell apart, indexed by
// the method's number; anything else counts as "other" (the last), so a
// peer sending made-up methods cannot grow a metric's label set.
var Methods = [...]string{"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE", "other"}

// ResponseClasses are the response classes the counters tell apart
// (RFC 3261 §7.2), indexed by the status code's first digit less one.
var ResponseClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx", "6xx"}

// SetupBuckets are the bucket bounds of the call setup time: from the
// caller's INVITE to our 200, which includes the agent's ringing, so
// seconds rather than milliseconds.
var SetupBuckets = []time.Duration{
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
	20 * time.Second, 30 * time.Second, 60 * time.Second,
}

const (
	dirIn  = 0
	dirOut = 1
)

// messageCounters counts SIP messages by method, class and direction:
// fixed arrays of atomics, no map, no lock.
type messageCounters struct {
	requests  [len(Methods)][2]atomic.Uint64
	responses [len(Methods)][len(ResponseClasses)][2]atomic.Uint64
	refused   [len(Methods)][numRefusals]atomic.Uint64
	setup     *histo.Histogram
}

// methodIndex returns the index of a method in Methods.
func methodIndex(m []byte) int {
	for i, name := range Methods[:len(Methods)-1] {
		if string(m) == name {
			return i
		}
	}
	return len(Methods) - 1
}

// methodName is the Methods name a method counts under.
func methodName(m sipmsg.RequestMethod) string { return Methods[methodIndex([]byte(m))] }

// refuse counts a request refused before it could act on a call.
func (c *messageCounters) refuse(method []byte, why Refusal) {
	c.refused[methodIndex(method)][why].Add(1)
}

func (c *messageCounters) request(method []byte, dir int) {
	c.requests[methodIndex(method)][dir].Add(1)
}

func (c *messageCounters) response(method []byte, code, dir int) {
	if class := code/100 - 1; class >= 0 && class < len(ResponseClasses) {
		c.responses[methodIndex(method)][class][dir].Add(1)
	}
}

// incoming counts a message sipgo's transport layer parsed, before any
// transaction sees it (retransmissions included, as they cost as much).
func (c *messageCounters) incoming(m sipmsg.Message) {
	switch m := m.(type) {
	case *sipmsg.Request:
		c.request([]byte(m.Method), dirIn)
	case *sipmsg.Response:
		method := []byte(nil)
		if cs := m.CSeq(); cs != nil {
			method = []byte(cs.MethodName)
		}
		c.response(method, m.StatusCode, dirIn)
	}
}

// outgoing counts one message as written to a socket: its start line,
// and for a response the method of its CSeq (RFC 3261 §20.16). sipgo
// writes a whole message per write; anything unreadable is not counted.
func (c *messageCounters) outgoing(b []byte) {
	if rest, ok := bytes.CutPrefix(b, []byte("SIP/2.0 ")); ok {
		if len(rest) < 3 {
			return
		}
		code := 0
		for _, d := range rest[:3] {
			if d < '0' || d > '9' {
				return
			}
			code = code*10 + int(d-'0')
		}
		c.response(cseqMethod(b), code, dirOut)
		return
	}
	if sp := bytes.IndexByte(b, ' '); sp > 0 && sp <= 16 {
		c.request(b[:sp], dirOut)
	}
}

// cseqMethod returns the method of a message's CSeq header ("CSeq: 1
// INVITE"), or nil. Header names are case-insensitive (RFC 3261 §7.3.1);
// sipgo writes "CSeq", peers' spellings only reach incoming.
func cseqMethod(b []byte) []byte {
	i := bytes.Index(b, []byte("\nCSeq:"))
	if i < 0 {
		return nil
	}
	line := b[i+len("\nCSeq:"):]
	if e := bytes.IndexByte(line, '\n'); e >= 0 {
		line = line[:e]
	}
	f := bytes.Fields(line)
	if len(f) != 2 {
		return nil
	}
	return f[1]
}

// countingPacketConn counts the SIP messages written on the UDP listener,
// which carries every request and response we send over UDP.
type countingPacketConn struct {
	net.PacketConn
	c *messageCounters
}

func (p countingPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	n, err := p.PacketConn.WriteTo(b, addr)
	if err == nil {
		p.c.outgoing(b)
	}
	return n, err
}

// countingListener hands out connections that count what is written on
// them: the TCP connections peers open to us.
func countingListener(l net.Listener, c *messageCounters) net.Listener {
	return wrapListener{l, func(conn net.Conn) net.Conn { return countingConn{Conn: conn, c: c} }}
}

// wrapListener hands out each connection it accepts wrapped by wrap: the
// listeners sipgo serves see our connections, not the sockets.
type wrapListener struct {
	net.Listener
	wrap func(net.Conn) net.Conn
}

func (l wrapListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.wrap(conn), nil
}

type countingConn struct {
	net.Conn
	c *messageCounters
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if err == nil {
		c.c.outgoing(b)
	}
	return n, err
}

// Metrics are the B2BUA's message counters and setup times, for the
// metrics package. Every label value is one of Methods, ResponseClasses
// and "in"/"out".
type Metrics struct {
	// Requests[method][dir] and Responses[method][class][dir], with dir
	// 0 for in, 1 for out.
	Requests  [len(Methods)][2]uint64
	Responses [len(Methods)][len(ResponseClasses)][2]uint64
	// Refused[method][reason] counts the requests refused before they
	// could act on a call (B2BUA.admit), by RefusalReasons.
	Refused [len(Methods)][numRefusals]uint64
	// Setup is the call setup time: the caller's INVITE received to our
	// 200 sent to it.
	Setup histo.Snapshot
}

// Directions names the index of Metrics' direction dimension.
var Directions = [2]string{dirIn: "in", dirOut: "out"}

// Metrics returns the counters. Safe from any goroutine.
func (b *B2BUA) Metrics() Metrics {
	var m Metrics
	for i := range b.msgs.requests {
		for d := range 2 {
			m.Requests[i][d] = b.msgs.requests[i][d].Load()
			for k := range b.msgs.responses[i] {
				m.Responses[i][k][d] = b.msgs.responses[i][k][d].Load()
			}
		}
		for r := range b.msgs.refused[i] {
			m.Refused[i][r] = b.msgs.refused[i][r].Load()
		}
	}
	m.Setup = b.msgs.setup.Snapshot()
	return m
}

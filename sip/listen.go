package sip

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"

	"dtmfgw/internal/certfile"
)

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

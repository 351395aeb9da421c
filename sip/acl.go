package sip

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// DefaultACL is the ACL of a fresh configuration: loopback only, so a
// gateway started without a config file bridges no call from the network.
var DefaultACL = []string{"127.0.0.0/8", "::1/128"}

// ErrNoSource is returned by SourceAddr for a request that did not arrive
// over a transport (no connection address was recorded).
var ErrNoSource = errors.New("request has no transport source address")

// ACL is the set of peers we accept INVITEs from, as CIDR
// prefixes. The zero ACL allows no one. An ACL is immutable once parsed and
// safe for concurrent use.
type ACL struct {
	prefixes []netip.Prefix
}

// ParseACL parses entries, each a CIDR prefix ("10.0.0.0/8", "2001:db8::/32")
// or a single address ("192.0.2.7", "::1"). An IPv4-mapped IPv6 entry
// ("::ffff:192.0.2.0/120") is stored as the IPv4 prefix it maps, so that it
// matches what Allows compares. Host bits below the prefix length are
// ignored ("10.1.2.3/8" allows 10.0.0.0/8). The error names the entry by
// index and text; an empty list gives an ACL that allows no one.
func ParseACL(entries []string) (*ACL, error) {
	return parseACL("acl", entries)
}

// parseACL is ParseACL with key as the config key to name in errors.
func parseACL(key string, entries []string) (*ACL, error) {
	a := &ACL{prefixes: make([]netip.Prefix, 0, len(entries))}
	for i, e := range entries {
		p, err := parseACLEntry(e)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", key, i, err)
		}
		a.prefixes = append(a.prefixes, p)
	}
	return a, nil
}

// parseACLEntry parses one ACL entry. Entries come from our own config, so
// quoting one in an error is safe (a quoted Go string shows any control
// character escaped).
func parseACLEntry(e string) (netip.Prefix, error) {
	s := strings.TrimSpace(e)
	if s == "" {
		return netip.Prefix{}, errors.New("empty entry")
	}
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix", e)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR prefix", e)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("%q: an IPv4-mapped prefix must be /96 or longer", e)
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// Allows reports whether addr is inside one of the ACL's prefixes. An
// IPv4-mapped IPv6 address (what a dual-stack socket reports for an IPv4
// peer) is unmapped first, and an IPv6 zone is ignored, so ::ffff:127.0.0.1
// matches 127.0.0.0/8 and fe80::1%eth0 matches fe80::/10. The invalid
// address is allowed by no ACL.
func (a *ACL) Allows(addr netip.Addr) bool {
	if a == nil || !addr.IsValid() {
		return false
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range a.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Prefixes returns a copy of the ACL's prefixes, as parsed and masked.
func (a *ACL) Prefixes() []netip.Prefix {
	if a == nil {
		return nil
	}
	return append([]netip.Prefix(nil), a.prefixes...)
}

// String lists the prefixes, comma-separated, for a startup log line.
func (a *ACL) String() string {
	if a == nil || len(a.prefixes) == 0 {
		return "(none)"
	}
	var b strings.Builder
	for i, p := range a.prefixes {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// SourceAddr returns the address a request arrived from: the remote address
// of the UDP datagram or TCP/TLS connection, as sipgo's transport layer
// recorded it. It never falls back to the top Via, as sipgo's
// Request.Source does for a request built in memory: a Via is written by
// the sender (RFC 3261 §18.2.1 adds "received" precisely because it cannot
// be trusted), so an ACL decided on it could be bypassed by anyone.
func SourceAddr(req *sipmsg.Request) (netip.Addr, error) {
	src := req.MessageData.Source()
	if src == "" {
		return netip.Addr{}, ErrNoSource
	}
	ap, err := netip.ParseAddrPort(src)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("request source %q is not an IP address and port", src)
	}
	return ap.Addr(), nil
}

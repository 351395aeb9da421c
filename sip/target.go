package sip

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// ErrNotSIPURI is wrapped by every error of ParseTarget.
var ErrNotSIPURI = errors.New("not a SIP URI")

// maxTargetLen bounds a target URI; it ends up as a Request-URI, so the
// header value bound applies (RFC 3261 §25.1 sets none).
const maxTargetLen = MaxHeaderValueLen

// ParseTarget parses the SIP URI a call is bridged to: a default target, a
// route's target, or an override header's value. It accepts "sip:" and
// "sips:" URIs (RFC 3261 §19.1.1), bare or inside angle brackets as in a
// name-addr, with a host that is a domain name, an IPv4 address or a
// bracketed IPv6 address, an optional port 1-65535, and URI parameters. It
// refuses, with an error wrapping ErrNotSIPURI that never quotes the text
// (an override header is peer input):
//   - other schemes (tel:, http:...), and "*";
//   - a password (§19.1.1: "its use is NOT RECOMMENDED");
//   - URI headers ("?..."): §19.1.5 would make them headers of our
//     outbound INVITE, and the table in §19.1.1 forbids them in a
//     Request-URI;
//   - control characters, spaces, malformed UTF-8, more than
//     MaxHeaderValueLen bytes.
func ParseTarget(s string) (sipmsg.Uri, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
		s = s[1 : len(s)-1]
	}
	fail := func(reason string) (sipmsg.Uri, error) {
		return sipmsg.Uri{}, fmt.Errorf("%w: %s", ErrNotSIPURI, reason)
	}
	if s == "" {
		return fail("empty")
	}
	if reason := checkValue(s, maxTargetLen); reason != "" {
		return fail(reason)
	}
	if strings.ContainsAny(s, " \t<>\"") {
		return fail("contains a space, quote or angle bracket")
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return fail("no scheme")
	}
	switch strings.ToLower(scheme) {
	case "sip", "sips":
	default:
		return fail("scheme is not sip or sips")
	}
	if strings.HasPrefix(rest, "//") {
		return fail("a SIP URI has no \"//\"")
	}
	if strings.Contains(rest, "?") {
		return fail("URI headers are not allowed in a target")
	}
	var u sipmsg.Uri
	if err := sipmsg.ParseUri(s, &u); err != nil {
		return fail("malformed")
	}
	if u.Password != "" || strings.Contains(userinfo(rest), ":") {
		return fail("a password is not allowed")
	}
	if u.Wildcard {
		return fail("no host")
	}
	if !validHost(u.Host) {
		return fail("host is not a domain name or IP address")
	}
	if u.Port < 0 || u.Port > 65535 || u.Port == 0 && hasPort(rest) {
		return fail("port out of range")
	}
	if strings.Contains(rest, "@") && u.User == "" {
		return fail("empty user part")
	}
	if u.User != "" && !validUserPart(u.User) {
		return fail("user part has characters not allowed by RFC 3261 §25.1")
	}
	return u, nil
}

// userinfo returns the part of a SIP URI's scheme-specific part before the
// first "@" (as sipgo splits it), or "" when there is none. Neither host nor
// URI parameters may contain "@" (RFC 3261 §25.1), so a later "@" is an
// error the host check reports.
func userinfo(rest string) string {
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		return rest[:i]
	}
	return ""
}

// hasPort reports whether the hostport of a SIP URI's scheme-specific part
// has an explicit ":port" (sipgo parses "host:" and "host:0" both as 0).
func hasPort(rest string) bool {
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	head, _, _ := strings.Cut(rest, ";")
	if strings.HasPrefix(head, "[") {
		_, after, _ := strings.Cut(head, "]")
		return strings.HasPrefix(after, ":")
	}
	return strings.Contains(head, ":")
}

// validHost checks an RFC 3261 §25.1 host: hostname, IPv4address or
// IPv6reference.
func validHost(h string) bool {
	if h == "" {
		return false
	}
	if strings.HasPrefix(h, "[") {
		if !strings.HasSuffix(h, "]") {
			return false
		}
		a, err := netip.ParseAddr(h[1 : len(h)-1])
		return err == nil && a.Is6() && a.Zone() == ""
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Is4()
	}
	// hostname = *( domainlabel "." ) toplabel [ "." ]
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// validUserPart checks the user of a SIP URI against RFC 3261 §25.1:
// user = 1*( unreserved / escaped / user-unreserved ).
func validUserPart(u string) bool {
	if u == "" {
		return false
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			continue
		}
		switch c {
		case '-', '_', '.', '!', '~', '*', '\'', '(', ')', // mark
			'&', '=', '+', '$', ',', ';', '?', '/': // user-unreserved
			continue
		case '%':
			if i+2 < len(u) && isHex(u[i+1]) && isHex(u[i+2]) {
				i += 2
				continue
			}
		}
		return false
	}
	return true
}

// isHex reports whether c is a hexadecimal digit.
func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// URIUser returns the user a URI addresses, for matching and correlation:
// the percent-decoded user part of a sip: or sips: URI (RFC 3261 §19.1.2
// lets "+" be written "%2B"), or the number of a tel: URI (RFC 3966 §3, up
// to the first parameter). It returns "" for any other URI, a URI without
// a user, or a user whose escapes are malformed.
func URIUser(u *sipmsg.Uri) string {
	raw := rawUser(u)
	if !strings.Contains(raw, "%") {
		return raw
	}
	user, err := url.PathUnescape(raw)
	if err != nil {
		return ""
	}
	return user
}

// rawUser returns the user a URI addresses as written: the user part of a
// sip: or sips: URI, the number of a tel: URI up to its first parameter;
// "" for any other URI.
func rawUser(u *sipmsg.Uri) string {
	switch strings.ToLower(u.Scheme) {
	case "sip", "sips":
		return u.User
	case "tel":
		raw, _, _ := strings.Cut(u.Raw(), ";")
		return raw
	}
	return ""
}

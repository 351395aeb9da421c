package sip

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Config is the "sip:" section of the config file. Start from
// DefaultConfig, decode the file over it, then call Validate; error
// messages name the key as written in the file ("sip.routes[2].target").
//
// Durations are Go durations ("60s", "1m30s"); yaml.v3 decodes those
// strings into time.Duration.
type Config struct {
	// Listen is the UDP and TCP address SIP is served on, IP:port
	// (an empty IP listens on every address).
	Listen string `yaml:"listen"`
	// DefaultTarget is the SIP URI calls are bridged to when no route
	// matches and no override is honoured. Empty: such calls get no route.
	DefaultTarget string `yaml:"default_target"`
	// ACL lists the peers (CIDR prefixes or addresses) whose INVITEs are
	// accepted; others get 403.
	ACL []string `yaml:"acl"`
	// Routes are tried in order; the first match chooses the target.
	Routes []RouteRule `yaml:"routes"`
	// OverrideHeader names the header a trusted peer may set to choose the
	// target of one call. Empty: no override.
	OverrideHeader string `yaml:"override_header"`
	// OverrideACL lists the peers trusted to use OverrideHeader; empty means
	// the same peers as ACL.
	OverrideACL []string `yaml:"override_acl"`
	// Headers names the headers correlation reads.
	Headers HeaderNames `yaml:"headers"`
	// RingTimeout is how long the agent leg may take to answer, whether
	// or not it sent a provisional response, before the call is given up:
	// the caller gets 480 (RFC 3261 §21.4.18) and the call's media is
	// released at once, while the agent's INVITE is cancelled in the
	// background.
	RingTimeout time.Duration `yaml:"ring_timeout"`
	// DrainTimeout is how long active calls may go on after shutdown
	// begins; new INVITEs get 503 meanwhile.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// TLS is the SIP over TLS listener; off unless Cert and Key are set.
	TLS TLSConfig `yaml:"tls"`
}

// TLSConfig is the SIP over TLS listener (RFC 3261 §26.2.1, sips:).
type TLSConfig struct {
	// Cert is the PEM certificate chain file.
	Cert string `yaml:"cert"`
	// Key is the PEM private key file.
	Key string `yaml:"key"`
	// Listen is the TLS address, IP:port (usually port 5061).
	Listen string `yaml:"listen"`
}

// Enabled reports whether a certificate is configured.
func (t TLSConfig) Enabled() bool { return t.Cert != "" || t.Key != "" }

// DefaultOverrideHeader is the override header of a fresh configuration.
const DefaultOverrideHeader = "X-Dtmfgw-Target"

// Defaults of a fresh configuration.
const (
	DefaultListen       = "127.0.0.1:5060"
	DefaultRingTimeout  = 30 * time.Second
	DefaultDrainTimeout = 30 * time.Second
)

// maxTimeout bounds the configured timeouts: a longer ring or drain is a
// typo (a unitless "60" is 60ns and fails the lower bound instead).
const maxTimeout = 24 * time.Hour

// DefaultConfig returns the configuration dtmfgw runs with when nothing is
// configured: SIP on 127.0.0.1:5060, INVITEs accepted from loopback only,
// the override header X-Dtmfgw-Target, the default correlation headers,
// a 60 s ring timeout and a 30 s drain, no default target, no TLS.
func DefaultConfig() Config {
	return Config{
		Listen:         DefaultListen,
		ACL:            append([]string(nil), DefaultACL...),
		OverrideHeader: DefaultOverrideHeader,
		Headers:        DefaultHeaderNames(),
		RingTimeout:    DefaultRingTimeout,
		DrainTimeout:   DefaultDrainTimeout,
	}
}

// Validate checks every key and returns all problems joined, each naming
// its key ("sip.routes[2].target: not a SIP URI: ..."), or nil.
func (c *Config) Validate() error {
	var errs []error
	if err := checkListen(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("sip.listen: %w", err))
	}
	if len(c.ACL) == 0 {
		errs = append(errs, errors.New("sip.acl: empty: every INVITE would be refused"))
	} else if c.OverrideHeader == "" || len(c.OverrideACL) > 0 {
		// Otherwise NewRouter parses acl as the override ACL and reports
		// its errors; parsing it here too would report each one twice.
		if _, err := parseACL("sip.acl", c.ACL); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := NewRouter(*c); err != nil {
		errs = append(errs, err)
	}
	if c.OverrideHeader == "" && len(c.OverrideACL) > 0 {
		errs = append(errs, errors.New("sip.override_acl: set but override_header is empty"))
	}
	for _, h := range []struct{ key, name string }{
		{"sip.headers.agent_id", c.Headers.AgentID},
		{"sip.headers.primary_call_id", c.Headers.PrimaryCallID},
		{"sip.headers.secondary_call_id", c.Headers.SecondaryCallID},
		{"sip.headers.direction", c.Headers.Direction},
	} {
		if h.name == "" {
			continue
		}
		if err := ValidateHeaderName(h.name); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", h.key, err))
		} else if isLegHeader(h.name) {
			errs = append(errs, fmt.Errorf("%s: %w", h.key, ErrLegHeader))
		}
	}
	if c.RingTimeout < time.Second || c.RingTimeout > maxTimeout {
		errs = append(errs, fmt.Errorf("sip.ring_timeout: %v is outside 1s..%v", c.RingTimeout, maxTimeout))
	}
	if c.DrainTimeout < 0 || c.DrainTimeout > maxTimeout {
		errs = append(errs, fmt.Errorf("sip.drain_timeout: %v is outside 0s..%v", c.DrainTimeout, maxTimeout))
	}
	switch {
	case c.TLS.Enabled() && c.TLS.Cert == "":
		errs = append(errs, errors.New("sip.tls.cert: required with tls.key"))
	case c.TLS.Enabled() && c.TLS.Key == "":
		errs = append(errs, errors.New("sip.tls.key: required with tls.cert"))
	}
	if c.TLS.Enabled() || c.TLS.Listen != "" {
		if c.TLS.Listen == "" {
			errs = append(errs, errors.New("sip.tls.listen: required with tls.cert and tls.key"))
		} else if err := checkListen(c.TLS.Listen); err != nil {
			errs = append(errs, fmt.Errorf("sip.tls.listen: %w", err))
		} else if !c.TLS.Enabled() {
			errs = append(errs, errors.New("sip.tls.listen: set but tls.cert and tls.key are empty"))
		}
	}
	return errors.Join(errs...)
}

// checkListen checks a listen address: IP:port or :port, port 0-65535 (0
// picks a free port, for tests).
func checkListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not IP:port", s)
	}
	if host != "" {
		if a, err := netip.ParseAddr(host); err != nil || a.Zone() != "" {
			return fmt.Errorf("%q: host is not an IP address", s)
		}
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || port != strconv.FormatUint(p, 10) {
		return fmt.Errorf("%q: port is not a number 0-65535", s)
	}
	return nil
}

package sip

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

// routeConfig is the config the routing tests share: one rule of each kind,
// the default override header trusted from loopback and 10.0.0.0/8 (the
// ACL), and a default target.
func routeConfig() Config {
	c := DefaultConfig()
	c.ACL = []string{"127.0.0.0/8", "10.0.0.0/8"}
	c.OverrideACL = []string{"10.1.0.0/16"}
	c.DefaultTarget = "sip:queue@pbx.example.com"
	c.Routes = []RouteRule{
		{Name: "sales", User: "+441632960100", Target: "sip:sales@pbx.example.com"},
		{UserPrefix: "+44163296", Target: "sip:uk@pbx.example.com"},
		{Name: "short codes", UserRegexp: `^[0-9]{3,4}$`, Target: "sips:short@pbx.example.com:5061"},
		{Name: "by queue header", Header: "X-Queue", HeaderRegexp: `^(billing|payments)$`, Target: "sip:billing@[2001:db8::5]"},
	}
	return c
}

func TestRouterRoute(t *testing.T) {
	trusted := netip.MustParseAddr("10.1.2.3")
	inACLOnly := netip.MustParseAddr("10.2.0.1")
	tests := []struct {
		name    string
		cfg     func(*Config)
		ruri    string
		hdrs    []string
		src     netip.Addr
		target  string
		source  RouteSource
		rule    string
		ignored string
		err     error
	}{
		{name: "exact user", ruri: "sip:+441632960100@gw.example", target: "sip:sales@pbx.example.com", source: RouteFromRule, rule: "sales"},
		{name: "exact user escaped", ruri: "sip:%2B441632960100@gw.example", target: "sip:sales@pbx.example.com", source: RouteFromRule, rule: "sales"},
		{name: "exact user from tel URI", ruri: "tel:+441632960100", target: "sip:sales@pbx.example.com", source: RouteFromRule, rule: "sales"},
		{name: "prefix, unnamed rule", ruri: "sip:+441632960999@gw.example", target: "sip:uk@pbx.example.com", source: RouteFromRule, rule: "routes[1]"},
		{name: "regexp", ruri: "sip:4711@gw.example", target: "sips:short@pbx.example.com:5061", source: RouteFromRule, rule: "short codes"},
		{name: "regexp anchored by the rule", ruri: "sip:47110@gw.example", target: "sip:queue@pbx.example.com", source: RouteFromDefault, rule: "default"},
		{name: "header", ruri: "sip:x@gw.example", hdrs: []string{"X-Queue: payments"}, target: "sip:billing@[2001:db8::5]", source: RouteFromRule, rule: "by queue header"},
		{name: "header name in another case", ruri: "sip:x@gw.example", hdrs: []string{"x-queue: billing"}, target: "sip:billing@[2001:db8::5]", source: RouteFromRule, rule: "by queue header"},
		{name: "header not matching", ruri: "sip:x@gw.example", hdrs: []string{"X-Queue: sales"}, target: "sip:queue@pbx.example.com", source: RouteFromDefault, rule: "default"},
		{name: "header only first instance", ruri: "sip:x@gw.example", hdrs: []string{"X-Queue: sales", "X-Queue: billing"}, target: "sip:queue@pbx.example.com", source: RouteFromDefault, rule: "default"},
		{name: "header with control character never matches", ruri: "sip:x@gw.example", hdrs: []string{"X-Queue: billing\x00"}, cfg: func(c *Config) { c.Routes[3].HeaderRegexp = "billing" }, target: "sip:queue@pbx.example.com", source: RouteFromDefault, rule: "default"},
		{name: "first matching rule wins", ruri: "sip:+441632960100@gw.example", hdrs: []string{"X-Queue: billing"}, target: "sip:sales@pbx.example.com", source: RouteFromRule, rule: "sales"},
		{name: "rule beats override", ruri: "sip:4711@gw.example", hdrs: []string{"X-Dtmfgw-Target: sip:agent7@pbx.example.com"}, src: trusted, target: "sips:short@pbx.example.com:5061", source: RouteFromRule, rule: "short codes"},

		{name: "override from trusted peer", ruri: "sip:x@gw.example", hdrs: []string{"X-Dtmfgw-Target: sip:agent7@pbx.example.com"}, src: trusted, target: "sip:agent7@pbx.example.com", source: RouteFromOverride, rule: "override"},
		{name: "override in angle brackets", ruri: "sip:x@gw.example", hdrs: []string{"X-Dtmfgw-Target: <sips:agent7@pbx.example.com>"}, src: trusted, target: "sips:agent7@pbx.example.com", source: RouteFromOverride, rule: "override"},
		{name: "override from v4-mapped trusted peer", ruri: "sip:x@gw.example", hdrs: []string{"X-Dtmfgw-Target: sip:agent7@pbx.example.com"}, src: netip.MustParseAddr("::ffff:10.1.2.3"), target: "sip:agent7@pbx.example.com", source: RouteFromOverride, rule: "override"},
		{name: "override from peer outside override_acl", ruri: "sip:x@gw.example", hdrs: []string{"X-Dtmfgw-Target: sip:agent7@pbx.example.com"}, src: inACLOnly, target: "sip:queue@pbx.example.com", source: RouteFromDefault, rule: "default", ignored: "untrusted peer"},
		{name: "override with no source", ruri: "sip:x@gw.example", hdrs: []string{"X-Dtmfgw-Target: sip:agent7@pbx.example.com"}, target: "sip:queue@pbx.example.com", source: RouteFromDefault, rule: "default", ignored: "untrusted peer"},
		{name: "override_acl empty: acl trusted", cfg: func(c *Config) { c.OverrideACL = nil }, ruri: "sip:x@gw.example", hdrs: []string{"X-Dtmfgw-Target: sip:agent7@pbx.example.com"}, src: inACLOnly, target: "sip:agent7@pbx.example.com", source: RouteFromOverride, rule: "override"},
		{name: "override tel URI refused", ruri: "sip:x@gw.example", hdrs: []string{"X-Dtmfgw-Target: tel:+4420"}, src: trusted, target: "sip:queue@pbx.example.com", source: RouteFromDefault, rule: "default", ignored: "not a SIP URI: scheme is not sip or sips"},
		{name: "override with URI headers refused", ruri: "sip:x@gw.example", hdrs: []string{"X-Dtmfgw-Target: sip:a@h?Route=%3Csip:evil%3E"}, src: trusted, target: "sip:queue@pbx.example.com", source: RouteFromDefault, rule: "default", ignored: "URI headers"},
		{name: "override repeated refused", ruri: "sip:x@gw.example", hdrs: []string{"X-Dtmfgw-Target: sip:a@h", "X-Dtmfgw-Target: sip:b@h"}, src: trusted, target: "sip:queue@pbx.example.com", source: RouteFromDefault, rule: "default", ignored: "header repeated"},
		{name: "override header renamed", cfg: func(c *Config) { c.OverrideHeader = "X-Route-To" }, ruri: "sip:x@gw.example", hdrs: []string{"X-Dtmfgw-Target: sip:a@h", "X-Route-To: sip:b@h"}, src: trusted, target: "sip:b@h", source: RouteFromOverride, rule: "override"},
		{name: "override disabled", cfg: func(c *Config) { c.OverrideHeader = "" }, ruri: "sip:x@gw.example", hdrs: []string{"X-Dtmfgw-Target: sip:a@h"}, src: trusted, target: "sip:queue@pbx.example.com", source: RouteFromDefault, rule: "default"},

		{name: "default", ruri: "sip:x@gw.example", target: "sip:queue@pbx.example.com", source: RouteFromDefault, rule: "default"},
		{name: "no user in Request-URI", ruri: "sip:gw.example", target: "sip:queue@pbx.example.com", source: RouteFromDefault, rule: "default"},
		{name: "malformed escape never matches", ruri: "sip:%zz44163296@gw.example", target: "sip:queue@pbx.example.com", source: RouteFromDefault, rule: "default"},
		{name: "no route", cfg: func(c *Config) { c.DefaultTarget = "" }, ruri: "sip:x@gw.example", err: ErrNoRoute},
		{name: "no route, override ignored", cfg: func(c *Config) { c.DefaultTarget = "" }, ruri: "sip:x@gw.example", hdrs: []string{"X-Dtmfgw-Target: sip:a@h"}, src: inACLOnly, ignored: "untrusted peer", err: ErrNoRoute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := routeConfig()
			if tc.cfg != nil {
				tc.cfg(&c)
			}
			r, err := NewRouter(c)
			if err != nil {
				t.Fatalf("NewRouter: %v", err)
			}
			got, err := r.Route(invite(t, tc.ruri, tc.hdrs...), tc.src)
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("Route error %v, want %v", err, tc.err)
			}
			if err != nil {
				if got.Source != RouteNone || got.Rule != "" || got.Target.Host != "" {
					t.Errorf("no route returned %+v", got)
				}
			} else if s := got.Target.String(); s != tc.target {
				t.Errorf("target %s, want %s", s, tc.target)
			}
			if got.Source != tc.source || got.Rule != tc.rule {
				t.Errorf("source %v rule %q, want %v %q", got.Source, got.Rule, tc.source, tc.rule)
			}
			if !strings.Contains(got.OverrideIgnored, tc.ignored) || (tc.ignored == "") != (got.OverrideIgnored == "") {
				t.Errorf("OverrideIgnored %q, want %q", got.OverrideIgnored, tc.ignored)
			}
		})
	}
}

// TestRouteTargetIsACopy checks a caller that edits the returned target
// (adding a parameter for the outbound INVITE) does not change the rule.
func TestRouteTargetIsACopy(t *testing.T) {
	c := routeConfig()
	c.DefaultTarget = "sip:queue@pbx.example.com;transport=tcp"
	r, err := NewRouter(c)
	if err != nil {
		t.Fatal(err)
	}
	req := invite(t, "sip:x@gw.example")
	first, _ := r.Route(req, netip.Addr{})
	first.Target.UriParams.Add("x", "y")
	first.Target.User = "changed"
	second, _ := r.Route(req, netip.Addr{})
	if got := second.Target.String(); got != "sip:queue@pbx.example.com;transport=tcp" {
		t.Errorf("second route %s: the first caller changed the router", got)
	}
}

// TestRouteOverrideIgnoredNeverQuotesValue: the override is peer input.
func TestRouteOverrideIgnoredNeverQuotesValue(t *testing.T) {
	r, err := NewRouter(routeConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"sip:4111111111111111:pw@h", "tel:4111111111111111", "sip:4111111111111111@h?X=1", "sip:4111111111111111@h:99999"} {
		got, _ := r.Route(invite(t, "sip:x@gw.example", "X-Dtmfgw-Target: "+v), netip.MustParseAddr("10.1.0.1"))
		if got.OverrideIgnored == "" {
			t.Errorf("%s honoured as %s", v, got.Target.String())
		}
		if strings.Contains(got.OverrideIgnored, "4111") {
			t.Errorf("OverrideIgnored %q quotes the value", got.OverrideIgnored)
		}
	}
}

func TestNewRouterErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
		want []string
	}{
		{"target not SIP", func(c *Config) { c.Routes[2].Target = "tel:+4420" }, []string{"sip.routes[2].target: not a SIP URI: scheme is not sip or sips"}},
		{"target missing", func(c *Config) { c.Routes[0].Target = "" }, []string{"sip.routes[0].target: required"}},
		{"no matcher", func(c *Config) { c.Routes[0].User = "" }, []string{"sip.routes[0]: set exactly one of user, user_prefix, user_regexp, header"}},
		{"two matchers", func(c *Config) { c.Routes[1].User = "x" }, []string{"sip.routes[1]: set exactly one of"}},
		{"bad user regexp", func(c *Config) { c.Routes[2].UserRegexp = "([0-9]" }, []string{"sip.routes[2].user_regexp: error parsing regexp"}},
		{"bad header regexp", func(c *Config) { c.Routes[3].HeaderRegexp = "*" }, []string{"sip.routes[3].header_regexp: error parsing regexp"}},
		{"header without regexp", func(c *Config) { c.Routes[3].HeaderRegexp = "" }, []string{"sip.routes[3].header_regexp: required with header"}},
		{"regexp without header", func(c *Config) { c.Routes[0].HeaderRegexp = "x" }, []string{"sip.routes[0].header_regexp: needs header"}},
		{"header not a token", func(c *Config) { c.Routes[3].Header = "X Queue" }, []string{"sip.routes[3].header: invalid SIP header name: not an RFC 3261 §25.1 token"}},
		{"name with newline", func(c *Config) { c.Routes[0].Name = "a\nb" }, []string{"sip.routes[0].name: value contains control character 0x0A"}},
		{"name with a card number", func(c *Config) { c.Routes[1].Name = "visa 4111-1111-1111-1111" }, []string{"sip.routes[1].name: holds what looks like a card number"}},
		{"default target", func(c *Config) { c.DefaultTarget = "sip:a:b@h" }, []string{"sip.default_target: not a SIP URI: a password is not allowed"}},
		{"override header", func(c *Config) { c.OverrideHeader = "X-Target:" }, []string{"sip.override_header: invalid SIP header name"}},
		{"override header per leg", func(c *Config) { c.OverrideHeader = "Route" }, []string{"sip.override_header: header is built per leg"}},
		{"override acl", func(c *Config) { c.OverrideACL = []string{"10.0.0.0/8", "x"} }, []string{`sip.override_acl[1]: "x" is not an IP address or CIDR prefix`}},
		{"acl used for override", func(c *Config) { c.OverrideACL = nil; c.ACL = []string{"300.0.0.1"} }, []string{`sip.acl[0]: "300.0.0.1" is not an IP address`}},
		{"all problems reported", func(c *Config) { c.Routes[0].Target = ""; c.Routes[2].Target = "x" }, []string{"sip.routes[0].target: required", "sip.routes[2].target: not a SIP URI"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := routeConfig()
			tc.cfg(&c)
			_, err := NewRouter(c)
			if err == nil {
				t.Fatal("NewRouter accepted the config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestRouteSourceString(t *testing.T) {
	for s, want := range map[RouteSource]string{RouteNone: "none", RouteFromRule: "rule", RouteFromOverride: "override", RouteFromDefault: "default", RouteSource(42): "none"} {
		if got := s.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(s), got, want)
		}
	}
}

// FuzzRoute feeds whole SIP messages from the fuzzer through sipgo's parser
// into Route and Correlate: neither may panic, a route's target must be a
// valid target, an ignored override must not quote its value, and every
// recorded correlation value must pass its own check.
func FuzzRoute(f *testing.F) {
	for _, seed := range []string{
		inviteText("sip:+441632960100@gw.example"),
		inviteText("sip:4711@gw.example", "X-Queue: billing"),
		inviteText("tel:+441632960999", "X-Dtmfgw-Target: <sip:agent7@pbx.example.com>"),
		inviteText("sip:%2B4420@gw.example", "P-Asserted-Identity: \"A\" <sip:+4420@a.example>, <tel:+4420>", "X-Agent-Id: agent-7", "X-Call-Direction: outbound"),
		inviteText("sip:x@gw.example", "X-Dtmfgw-Target: sip:a:b@h?Route=x", "X-Primary-Call-Id: 1", "X-Primary-Call-Id: 2"),
	} {
		f.Add([]byte(seed), []byte{10, 1, 2, 3})
	}
	r, err := NewRouter(routeConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte, src []byte) {
		m, err := sipmsg.ParseMessage(msg)
		if err != nil {
			return
		}
		req, ok := m.(*sipmsg.Request)
		if !ok {
			return
		}
		addr, _ := netip.AddrFromSlice(src)
		got, err := r.Route(req, addr)
		if err == nil {
			if _, perr := ParseTarget(got.Target.String()); perr != nil {
				t.Fatalf("routed to %q, which ParseTarget refuses: %v", got.Target.String(), perr)
			}
		} else if !errors.Is(err, ErrNoRoute) {
			t.Fatalf("Route error %v", err)
		}
		for _, h := range req.GetHeaders("X-Dtmfgw-Target") {
			if v := strings.TrimSpace(h.Value()); len(v) >= 8 && strings.Contains(got.OverrideIgnored, v) {
				t.Fatalf("OverrideIgnored %q quotes the header", got.OverrideIgnored)
			}
		}
		checkCorrelation(t, Correlate(req, DefaultHeaderNames()))
	})
}

// inviteText is the text of the INVITE invite builds, for fuzz seeds.
func inviteText(ruri string, hdrs ...string) string {
	return "INVITE " + ruri + " SIP/2.0\r\n" + strings.Join(append(append([]string(nil), baseInvite...), hdrs...), "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
}

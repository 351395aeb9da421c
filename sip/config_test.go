package sip

import (
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	if c.Listen != "127.0.0.1:5060" || c.RingTimeout != 30*time.Second || c.DrainTimeout != 30*time.Second {
		t.Errorf("defaults: listen %q ring %v drain %v", c.Listen, c.RingTimeout, c.DrainTimeout)
	}
	if !reflect.DeepEqual(c.ACL, []string{"127.0.0.0/8", "::1/128"}) {
		t.Errorf("default ACL %q", c.ACL)
	}
	if c.OverrideHeader != "X-Dtmfgw-Target" || c.Headers != (HeaderNames{AgentID: "X-Agent-Id", PrimaryCallID: "X-Primary-Call-Id", SecondaryCallID: "X-Secondary-Call-Id", Direction: "X-Call-Direction"}) {
		t.Errorf("default headers: override %q, %+v", c.OverrideHeader, c.Headers)
	}
	if c.DefaultTarget != "" || c.TLS.Enabled() || len(c.Routes) != 0 {
		t.Errorf("default has a target, TLS or routes: %+v", c)
	}
	// The default ACL is a copy: editing one config leaves the next alone.
	c.ACL[0] = "0.0.0.0/0"
	if DefaultConfig().ACL[0] != "127.0.0.0/8" || DefaultACL[0] != "127.0.0.0/8" {
		t.Error("DefaultConfig shares its ACL slice")
	}
	// With no default target and no routes, a call has no route.
	r, err := NewRouter(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Route(invite(t, "sip:x@gw.example"), netip.MustParseAddr("127.0.0.1")); err != ErrNoRoute {
		t.Errorf("default router: %v, want ErrNoRoute", err)
	}
}

func TestConfigValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
	}{
		{"routing config", func(c *Config) { *c = routeConfig() }},
		{"listen on every address", func(c *Config) { c.Listen = ":5060" }},
		{"listen IPv6", func(c *Config) { c.Listen = "[::1]:5070" }},
		{"listen port 0", func(c *Config) { c.Listen = "127.0.0.1:0" }},
		{"TLS", func(c *Config) {
			c.TLS = TLSConfig{Cert: "/etc/dtmfgw/sip.crt", Key: "/etc/dtmfgw/sip.key", Listen: "0.0.0.0:5061"}
		}},
		{"no drain", func(c *Config) { c.DrainTimeout = 0 }},
		{"override off", func(c *Config) { c.OverrideHeader = "" }},
		{"correlation headers off", func(c *Config) { c.Headers = HeaderNames{} }},
		{"single-address ACL", func(c *Config) { c.ACL = []string{"192.0.2.7"} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.cfg(&c)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestConfigValidateNamesTheKey(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
		want []string // each line of the joined error starts with one
	}{
		{"listen no port", func(c *Config) { c.Listen = "127.0.0.1" }, []string{`sip.listen: "127.0.0.1" is not IP:port`}},
		{"listen hostname", func(c *Config) { c.Listen = "localhost:5060" }, []string{`sip.listen: "localhost:5060": host is not an IP address`}},
		{"listen port too big", func(c *Config) { c.Listen = "127.0.0.1:65536" }, []string{`sip.listen: "127.0.0.1:65536": port is not a number 0-65535`}},
		{"listen port not canonical", func(c *Config) { c.Listen = "127.0.0.1:+5060" }, []string{`sip.listen: "127.0.0.1:+5060": port is not a number`}},
		{"listen empty", func(c *Config) { c.Listen = "" }, []string{`sip.listen: "" is not IP:port`}},
		{"acl empty", func(c *Config) { c.ACL = []string{} }, []string{"sip.acl: empty: every INVITE would be refused"}},
		{"acl entry", func(c *Config) { c.ACL = []string{"::1", "10.0.0.0/40"} }, []string{`sip.acl[1]: "10.0.0.0/40" is not a CIDR prefix`}},
		{"acl entry, override off", func(c *Config) { c.OverrideHeader = ""; c.ACL = []string{"x"} }, []string{`sip.acl[0]: "x" is not an IP address or CIDR prefix`}},
		{"acl entry, own override acl", func(c *Config) { c.OverrideACL = []string{"::1"}; c.ACL = []string{"x"} }, []string{`sip.acl[0]: "x"`}},
		{"override acl without header", func(c *Config) { c.OverrideHeader = ""; c.OverrideACL = []string{"::1"} }, []string{"sip.override_acl: set but override_header is empty"}},
		{"route target", func(c *Config) { *c = routeConfig(); c.Routes[2].Target = "tel:+4420" }, []string{"sip.routes[2].target: not a SIP URI"}},
		{"default target", func(c *Config) { c.DefaultTarget = "pbx.example.com" }, []string{"sip.default_target: not a SIP URI: no scheme"}},
		{"agent id header", func(c *Config) { c.Headers.AgentID = "X Agent" }, []string{"sip.headers.agent_id: invalid SIP header name"}},
		{"primary call id header per leg", func(c *Config) { c.Headers.PrimaryCallID = "Call-ID" }, []string{"sip.headers.primary_call_id: header is built per leg"}},
		{"direction header", func(c *Config) { c.Headers.Direction = "X-Dir\r\n" }, []string{"sip.headers.direction: invalid SIP header name"}},
		{"ring timeout zero", func(c *Config) { c.RingTimeout = 0 }, []string{"sip.ring_timeout: 0s is outside 1s..24h0m0s"}},
		{"ring timeout unitless", func(c *Config) { c.RingTimeout = 60 }, []string{"sip.ring_timeout: 60ns is outside"}},
		{"drain negative", func(c *Config) { c.DrainTimeout = -time.Second }, []string{"sip.drain_timeout: -1s is outside 0s..24h0m0s"}},
		{"drain too long", func(c *Config) { c.DrainTimeout = 25 * time.Hour }, []string{"sip.drain_timeout: 25h0m0s is outside"}},
		{"tls key missing", func(c *Config) { c.TLS = TLSConfig{Cert: "c.pem", Listen: ":5061"} }, []string{"sip.tls.key: required with tls.cert"}},
		{"tls cert missing", func(c *Config) { c.TLS = TLSConfig{Key: "k.pem", Listen: ":5061"} }, []string{"sip.tls.cert: required with tls.key"}},
		{"tls listen missing", func(c *Config) { c.TLS = TLSConfig{Cert: "c.pem", Key: "k.pem"} }, []string{"sip.tls.listen: required with tls.cert and tls.key"}},
		{"tls listen bad", func(c *Config) { c.TLS = TLSConfig{Cert: "c.pem", Key: "k.pem", Listen: "5061"} }, []string{`sip.tls.listen: "5061" is not IP:port`}},
		{"tls listen alone", func(c *Config) { c.TLS = TLSConfig{Listen: ":5061"} }, []string{"sip.tls.listen: set but tls.cert and tls.key are empty"}},
		{"every problem at once", func(c *Config) {
			c.Listen = "x"
			c.ACL = []string{"y"}
			c.RingTimeout = 0
			c.DefaultTarget = "z"
		}, []string{"sip.listen:", `sip.acl[0]: "y"`, "sip.default_target:", "sip.ring_timeout:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.cfg(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate accepted the config")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Errorf("%d problems reported, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for _, w := range tc.want {
				found := false
				for _, l := range lines {
					found = found || strings.HasPrefix(l, w)
				}
				if !found {
					t.Errorf("error\n%v\nhas no line starting %q", err, w)
				}
			}
		})
	}
}

// TestConfigYAMLTags checks every field of the config types has a
// snake_case yaml tag, so the file's keys are the ones Validate names.
func TestConfigYAMLTags(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	for _, v := range []any{Config{}, TLSConfig{}, HeaderNames{}, RouteRule{}} {
		typ := reflect.TypeOf(v)
		for f := range typ.Fields() {
			tag := f.Tag.Get("yaml")
			if !snake.MatchString(tag) {
				t.Errorf("%s.%s: yaml tag %q is not snake_case", typ.Name(), f.Name, tag)
			}
		}
	}
}

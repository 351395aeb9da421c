package call

import (
	"errors"
	"flag"
	"net/netip"
	"strings"
	"testing"
	"time"

	"dtmfgw/media/mask"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestDefaultMediaConfig(t *testing.T) {
	c := DefaultMediaConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("the default configuration is invalid: %v", err)
	}
	if c.RTPPorts != (PortRange{20000, 29999}) || c.BindAddress != loopback || c.MediaTimeout != DefaultMediaTimeout ||
		mask.Policy(c.MaskEvents) != mask.Always || mask.Policy(c.MaskInband) != mask.Always {
		t.Errorf("defaults %+v", c)
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	cases := []struct {
		key  string
		edit func(*MediaConfig)
	}{
		{"bind_address", func(c *MediaConfig) { c.BindAddress = netip.Addr{} }},
		{"bind_address", func(c *MediaConfig) { c.BindAddress = mustAddr("239.1.1.1") }},
		{"bind_address", func(c *MediaConfig) { c.BindAddress = mustAddr("fe80::1%eth0") }},
		{"advertise_address", func(c *MediaConfig) { c.BindAddress = mustAddr("0.0.0.0") }},
		{"advertise_address", func(c *MediaConfig) { c.AdvertiseAddress = mustAddr("0.0.0.0") }},
		{"advertise_address", func(c *MediaConfig) { c.AdvertiseAddress = mustAddr("2001:db8::1") }},
		{"advertise_address", func(c *MediaConfig) { c.AdvertiseAddress = mustAddr("224.0.0.1") }},
		{"rtp_ports", func(c *MediaConfig) { c.RTPPorts = PortRange{30000, 20000} }},
		{"rtp_ports", func(c *MediaConfig) { c.RTPPorts = PortRange{0, 100} }},
		{"rtp_ports", func(c *MediaConfig) { c.RTPPorts = PortRange{60000, 70000} }},
		{"rtp_ports", func(c *MediaConfig) { c.RTPPorts = PortRange{20000, 20002} }},
		{"port_drain", func(c *MediaConfig) { c.PortDrain = -time.Second }},
		{"reactors", func(c *MediaConfig) { c.Reactors = -2 }},
		{"reactors", func(c *MediaConfig) { c.Reactors = MaxReactors + 1 }},
		{"media_timeout", func(c *MediaConfig) { c.MediaTimeout = -time.Second }},
		{"media_timeout", func(c *MediaConfig) { c.MediaTimeout = 100 * time.Millisecond }},
		{"mask_events", func(c *MediaConfig) { c.MaskEvents = 9 }},
		{"mask_inband", func(c *MediaConfig) { c.MaskInband = 9 }},
		{"look_ahead", func(c *MediaConfig) { c.LookAhead = mask.MaxLookAhead + time.Millisecond }},
		{"look_ahead", func(c *MediaConfig) { c.LookAhead = -time.Millisecond }},
		{"digit_queue", func(c *MediaConfig) { c.DigitQueue = 0 }},
		{"digit_queue", func(c *MediaConfig) { c.DigitQueue = MaxDigitQueue + 1 }},
	}
	for _, tc := range cases {
		c := DefaultMediaConfig()
		tc.edit(&c)
		err := c.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.key+":") {
			t.Errorf("%+v: Validate() = %v, want ErrConfig naming %s", c, err, tc.key)
		}
		if _, merr := NewManager(c); !errors.Is(merr, ErrConfig) {
			t.Errorf("NewManager accepted what Validate refuses (%s): %v", tc.key, merr)
		}
	}

	good := []func(*MediaConfig){
		func(c *MediaConfig) {
			c.BindAddress, c.AdvertiseAddress = mustAddr("0.0.0.0"), mustAddr("198.51.100.1")
		},
		func(c *MediaConfig) { c.BindAddress, c.AdvertiseAddress = mustAddr("::"), mustAddr("2001:db8::1") },
		func(c *MediaConfig) { c.MediaTimeout, c.PortDrain, c.LookAhead, c.Reactors = 0, 0, 0, -1 },
		func(c *MediaConfig) { c.RTPPorts = PortRange{20001, 20005} }, // two pairs: 20002 and 20004
	}
	for i, edit := range good {
		c := DefaultMediaConfig()
		edit(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("good configuration %d: %v", i, err)
		}
	}
}

func TestPortRange(t *testing.T) {
	cases := []struct {
		in    string
		want  PortRange
		pairs int
		ok    bool
	}{
		{"20000-29999", PortRange{20000, 29999}, 5000, true},
		{" 20000 - 20003 ", PortRange{20000, 20003}, 2, true},
		{"20001-20004", PortRange{20001, 20004}, 1, true},
		{"20001-20005", PortRange{20001, 20005}, 2, true},
		{"1-65535", PortRange{1, 65535}, 32767, true},
		{"5000-5000", PortRange{5000, 5000}, 0, true},
		{"", PortRange{}, 0, false},
		{"20000", PortRange{}, 0, false},
		{"20000-", PortRange{}, 0, false},
		{"-20000", PortRange{}, 0, false},
		{"0-100", PortRange{}, 0, false},
		{"100-65536", PortRange{}, 0, false},
		{"300-200", PortRange{}, 0, false},
		{"+1-200", PortRange{}, 0, false},
		{"1-2-3", PortRange{}, 0, false},
		{"0x10-0x20", PortRange{}, 0, false},
		{"100000000000000000000-1", PortRange{}, 0, false},
		{strings.Repeat(" ", 40) + "1-2", PortRange{}, 0, false},
	}
	for _, tc := range cases {
		got, err := ParsePortRange(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParsePortRange(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
			continue
		}
		if !tc.ok {
			continue
		}
		if n := got.Pairs(); n != tc.pairs {
			t.Errorf("%v.Pairs() = %d, want %d", got, n, tc.pairs)
		}
		var back PortRange
		text, _ := got.MarshalText()
		if err := back.UnmarshalText(text); err != nil || back != got {
			t.Errorf("%v does not survive MarshalText/UnmarshalText: %q, %v", got, text, err)
		}
	}
}

func TestConfigTextFlags(t *testing.T) {
	// The same text types serve the command line: --rtp-ports LOW-HIGH.
	cfg := DefaultMediaConfig()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.TextVar(&cfg.RTPPorts, "rtp-ports", cfg.RTPPorts, "")
	fs.TextVar(&cfg.MaskInband, "mask-inband", cfg.MaskInband, "")
	if err := fs.Parse([]string{"--rtp-ports", "30000-30999", "--mask-inband", "Secure-Only"}); err != nil {
		t.Fatal(err)
	}
	if cfg.RTPPorts != (PortRange{30000, 30999}) || mask.Policy(cfg.MaskInband) != mask.SecureOnly {
		t.Errorf("flags gave %v and %v", cfg.RTPPorts, cfg.MaskInband)
	}
}

func TestPolicyText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want mask.Policy
		ok   bool
	}{
		{"always", mask.Always, true},
		{"ALWAYS", mask.Always, true},
		{"secure-only", mask.SecureOnly, true},
		{"off", mask.Off, true},
		{"", 0, false},
		{"on", 0, false},
		{"secure_only", 0, false},
	} {
		var p Policy
		err := p.UnmarshalText([]byte(tc.in))
		if (err == nil) != tc.ok || (tc.ok && mask.Policy(p) != tc.want) {
			t.Errorf("UnmarshalText(%q) = %v, %v", tc.in, p, err)
		}
		if tc.ok {
			if b, err := p.MarshalText(); err != nil || string(b) != tc.want.String() {
				t.Errorf("MarshalText of %v = %q, %v", p, b, err)
			}
		}
	}
	if _, err := Policy(7).MarshalText(); err == nil {
		t.Error("an unknown policy marshals")
	}
}

// FuzzParsePortRange checks that any text either parses into a range
// that survives a round trip through its text form, or is refused with an
// error, never a panic.
func FuzzParsePortRange(f *testing.F) {
	for _, s := range []string{"20000-29999", " 1 - 65535 ", "0-1", "9-8", "1-2-3", "-", "65536-65537", "٣-٤"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParsePortRange(s)
		if err != nil {
			return
		}
		if r.Min < 1 || r.Max > 65535 || r.Min > r.Max || r.Pairs() < 0 || r.Pairs() > 32767 {
			t.Fatalf("%q parsed into %v (%d pairs)", s, r, r.Pairs())
		}
		back, err := ParsePortRange(r.String())
		if err != nil || back != r {
			t.Fatalf("%q → %v → %q → %v, %v", s, r, r.String(), back, err)
		}
	})
}

// FuzzPolicyText checks that any text either names a policy, whose name
// reads back as the same policy, or is refused, never a panic.
func FuzzPolicyText(f *testing.F) {
	for _, s := range []string{"always", "Secure-Only", "off", "", "of", "alwaysalways"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Policy
		if err := p.UnmarshalText(b); err != nil {
			if len(err.Error()) > 200 {
				t.Fatalf("error of %d bytes for %d bytes of input", len(err.Error()), len(b))
			}
			return
		}
		text, err := p.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var q Policy
		if err := q.UnmarshalText(text); err != nil || q != p {
			t.Fatalf("%q → %v → %q → %v, %v", b, p, text, q, err)
		}
	})
}

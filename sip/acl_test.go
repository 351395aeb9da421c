package sip

import (
	"net/netip"
	"strings"
	"testing"
)

func TestACLAllows(t *testing.T) {
	tests := []struct {
		name    string
		entries []string
		addr    string
		want    bool
	}{
		{"default: IPv4 loopback", DefaultACL, "127.0.0.1", true},
		{"default: all of 127/8", DefaultACL, "127.255.0.9", true},
		{"default: IPv6 loopback", DefaultACL, "::1", true},
		{"default: v4-mapped loopback from a dual-stack socket", DefaultACL, "::ffff:127.0.0.1", true},
		{"default: other address", DefaultACL, "192.0.2.1", false},
		{"default: other v6", DefaultACL, "2001:db8::1", false},
		{"default: v4-mapped other", DefaultACL, "::ffff:192.0.2.1", false},
		{"default: unspecified", DefaultACL, "0.0.0.0", false},
		{"cidr inside", []string{"10.0.0.0/8"}, "10.200.3.4", true},
		{"cidr edge", []string{"192.0.2.0/24"}, "192.0.2.255", true},
		{"cidr just outside", []string{"192.0.2.0/24"}, "192.0.3.0", false},
		{"single v4 address", []string{"192.0.2.7"}, "192.0.2.7", true},
		{"single v4 address, neighbour", []string{"192.0.2.7"}, "192.0.2.8", false},
		{"single v6 address", []string{"2001:db8::7"}, "2001:db8::7", true},
		{"host bits ignored", []string{"10.1.2.3/8"}, "10.9.9.9", true},
		{"v4-mapped entry matches v4", []string{"::ffff:192.0.2.0/120"}, "192.0.2.9", true},
		{"v4-mapped entry matches mapped", []string{"::ffff:192.0.2.0/120"}, "::ffff:192.0.2.9", true},
		{"v4 entry does not match v6", []string{"0.0.0.0/0"}, "2001:db8::1", false},
		{"v6 entry does not match v4", []string{"::/0"}, "192.0.2.1", false},
		{"all v4", []string{"0.0.0.0/0"}, "198.51.100.1", true},
		{"zoned link-local", []string{"fe80::/10"}, "fe80::1%eth0", true},
		{"second entry", []string{"10.0.0.0/8", "192.0.2.0/24"}, "192.0.2.1", true},
		{"spaces around entry", []string{" 10.0.0.0/8 "}, "10.0.0.1", true},
		{"empty ACL", nil, "127.0.0.1", false},
		{"invalid address", DefaultACL, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseACL(tc.entries)
			if err != nil {
				t.Fatalf("ParseACL: %v", err)
			}
			var addr netip.Addr
			if tc.addr != "" {
				addr = netip.MustParseAddr(tc.addr)
			}
			if got := a.Allows(addr); got != tc.want {
				t.Errorf("Allows(%s) = %v, want %v (ACL %s)", tc.addr, got, tc.want, a)
			}
		})
	}
}

func TestZeroACLAllowsNoOne(t *testing.T) {
	var a ACL
	var nilACL *ACL
	for _, s := range []string{"127.0.0.1", "::1", "0.0.0.0"} {
		if a.Allows(netip.MustParseAddr(s)) || nilACL.Allows(netip.MustParseAddr(s)) {
			t.Errorf("zero or nil ACL allows %s", s)
		}
	}
	if nilACL.String() != "(none)" || nilACL.Prefixes() != nil {
		t.Errorf("nil ACL: String %q Prefixes %v", nilACL.String(), nilACL.Prefixes())
	}
}

func TestParseACLErrorsNameTheEntry(t *testing.T) {
	tests := []struct {
		name    string
		entries []string
		want    string
	}{
		{"bad prefix length", []string{"127.0.0.0/8", "10.0.0.0/33"}, `acl[1]: "10.0.0.0/33" is not a CIDR prefix`},
		{"hostname", []string{"pbx.example.com"}, `acl[0]: "pbx.example.com" is not an IP address or CIDR prefix`},
		{"empty", []string{"::1", ""}, "acl[1]: empty entry"},
		{"zoned address", []string{"fe80::1%eth0"}, `acl[0]: "fe80::1%eth0" is not an IP address or CIDR prefix`},
		{"short v4-mapped prefix", []string{"::ffff:0.0.0.0/64"}, "acl[0]: \"::ffff:0.0.0.0/64\": an IPv4-mapped prefix must be /96 or longer"},
		{"control character is escaped", []string{"10.0.0.0/8\x00"}, `acl[0]: "10.0.0.0/8\x00" is not a CIDR prefix`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseACL(tc.entries)
			if err == nil {
				t.Fatal("ParseACL accepted the list")
			}
			if err.Error() != tc.want {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
}

func TestACLString(t *testing.T) {
	a, err := ParseACL([]string{"10.1.2.3/8", "::ffff:192.0.2.0/120", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.String(), "10.0.0.0/8,192.0.2.0/24,2001:db8::1/128"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	p := a.Prefixes()
	p[0] = netip.Prefix{}
	if !strings.HasPrefix(a.String(), "10.0.0.0/8") {
		t.Error("Prefixes returned the ACL's own slice")
	}
}

func TestSourceAddr(t *testing.T) {
	tests := []struct {
		name    string
		source  string
		want    string
		wantErr bool
	}{
		{"udp v4", "192.0.2.1:5060", "192.0.2.1", false},
		{"tcp v6", "[2001:db8::1]:40000", "2001:db8::1", false},
		{"zoned", "[fe80::1%eth0]:5060", "fe80::1%eth0", false},
		// A request sipgo did not receive from the network has no source:
		// the Via (192.0.2.1 in the test INVITE) must not stand in for it.
		{"no source, Via ignored", "", "", true},
		{"hostname", "pbx.example.com:5060", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := invite(t, "sip:a@gw.example", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx;received=127.0.0.1")
			if tc.source != "" {
				req.SetSource(tc.source)
			}
			got, err := SourceAddr(req)
			if (err != nil) != tc.wantErr {
				t.Fatalf("SourceAddr error %v, want error %v", err, tc.wantErr)
			}
			if err == nil && got.String() != tc.want {
				t.Errorf("SourceAddr = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestSourceAddrIsNotSpoofableByVia pins why SourceAddr exists: sipgo's own
// Request.Source falls back to the Via, which the sender writes.
func TestSourceAddrIsNotSpoofableByVia(t *testing.T) {
	req := invite(t, "sip:a@gw.example", "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx")
	acl, _ := ParseACL(DefaultACL)
	if via := req.Source(); !strings.HasPrefix(via, "127.0.0.1") {
		t.Fatalf("sipgo's Source() = %q: the premise of this test changed", via)
	}
	if addr, err := SourceAddr(req); err == nil && acl.Allows(addr) {
		t.Errorf("SourceAddr took %s from the Via", addr)
	}
	req.SetSource("198.51.100.9:5060")
	if addr, err := SourceAddr(req); err != nil || acl.Allows(addr) {
		t.Errorf("SourceAddr = %v, %v: want the transport address, refused", addr, err)
	}
}

// FuzzParseACL checks that no entry panics the parser, that an accepted
// entry allows its own network address (unmapped) and that an error names
// the entry's index.
func FuzzParseACL(f *testing.F) {
	for _, s := range []string{"127.0.0.0/8", "::1/128", "192.0.2.7", "::ffff:192.0.2.0/120", "10.0.0.0/33", "fe80::1%eth0", " 10.1.2.3/8 ", "::ffff:0.0.0.0/64", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, entry string) {
		a, err := ParseACL([]string{entry})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "acl[0]: ") {
				t.Fatalf("error %q does not name the entry", err)
			}
			return
		}
		p := a.Prefixes()
		if len(p) != 1 || !p[0].IsValid() || p[0] != p[0].Masked() || p[0].Addr().Is4In6() {
			t.Fatalf("ParseACL(%q) = %v", entry, p)
		}
		if !a.Allows(p[0].Addr()) {
			t.Fatalf("ACL %s does not allow its own address", a)
		}
	})
}

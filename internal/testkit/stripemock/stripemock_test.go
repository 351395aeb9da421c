package stripemock

import (
	"net/netip"
	"testing"
)

func TestListeningAddr(t *testing.T) {
	cases := []struct {
		line, want string
		ok         bool
	}{
		{"Listening for HTTP at address: 127.0.0.1:36117", "127.0.0.1:36117", true},
		{"Listening for HTTP at address: [::1]:4000\n", "[::1]:4000", true},
		{"Listening for HTTPS at address: 127.0.0.1:39023", "", false},
		{"Listening for HTTP at address: 0.0.0.0:12111", "", false},
		{"Listening for HTTP at address: 127.0.0.1:0", "", false},
		{"stripe-mock master", "", false},
	}
	for _, tc := range cases {
		got, ok := ListeningAddr(tc.line)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ListeningAddr(%q) = %q, %v; want %q, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzListeningAddr(f *testing.F) {
	f.Fuzz(func(t *testing.T, line string) {
		addr, ok := ListeningAddr(line)
		if !ok {
			return
		}
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || !ap.Addr().IsLoopback() || ap.Port() == 0 {
			t.Fatalf("ListeningAddr(%q) = %q", line, addr)
		}
	})
}

package sip

import (
	"errors"
	"strings"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

func TestParseTargetAccepts(t *testing.T) {
	tests := []struct {
		in                 string
		scheme, user, host string
		port               int
	}{
		{"sip:agent@pbx.example.com", "sip", "agent", "pbx.example.com", 0},
		{"sips:agent@pbx.example.com:5061", "sips", "agent", "pbx.example.com", 5061},
		{"SIP:agent@pbx.example.com", "sip", "agent", "pbx.example.com", 0},
		{"sip:pbx.example.com", "sip", "", "pbx.example.com", 0},
		{"sip:pbx.example.com.", "sip", "", "pbx.example.com.", 0},
		{"sip:192.0.2.10:5080", "sip", "", "192.0.2.10", 5080},
		{"sip:queue@[2001:db8::10]:5060", "sip", "queue", "[2001:db8::10]", 5060},
		{"sip:[::1]", "sip", "", "[::1]", 0},
		{"sip:+441632960999@gw.example;user=phone", "sip", "+441632960999", "gw.example", 0},
		{"sip:%2B4420@gw.example;transport=tcp;lr", "sip", "%2B4420", "gw.example", 0},
		{"<sip:agent@pbx.example.com>", "sip", "agent", "pbx.example.com", 0},
		{"  sip:agent@pbx.example.com  ", "sip", "agent", "pbx.example.com", 0},
		{"sip:a-b.c_d!~*'()&=+$,;/@h", "sip", "a-b.c_d!~*'()&=+$,;/", "h", 0},
		{"sip:x@localhost:65535", "sip", "x", "localhost", 65535},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			u, err := ParseTarget(tc.in)
			if err != nil {
				t.Fatalf("ParseTarget: %v", err)
			}
			if u.Scheme != tc.scheme || u.User != tc.user || u.Host != tc.host || u.Port != tc.port {
				t.Errorf("got scheme %q user %q host %q port %d", u.Scheme, u.User, u.Host, u.Port)
			}
		})
	}
}

func TestParseTargetRefuses(t *testing.T) {
	tests := []struct {
		in     string
		reason string
	}{
		{"", "empty"},
		{"<>", "empty"},
		{"agent@pbx.example.com", "no scheme"},
		{"tel:+441632960999", "scheme is not sip or sips"},
		{"http://pbx.example.com/", "scheme is not sip or sips"},
		{"*", "no scheme"},
		{"sip:*", "no host"},
		{"sip:", "host is not a domain name or IP address"},
		{"sip://pbx.example.com", `no "//"`},
		{"sip:agent:secret@pbx.example.com", "password"},
		{"sip:agent:@pbx.example.com", "password"},
		{"sip:agent@pbx.example.com?Subject=hi", "URI headers"},
		{"sip:agent@pbx.example.com?X-Dtmfgw-Target=sip:evil@x", "URI headers"},
		{"sip:agent@pbx.example.com\r\nVia: x", "control character"},
		{"sip:agent@pbx.example.com\x00", "control character"},
		{"sip:agent@pbx example.com", "space"},
		{"sip:agent@<pbx>", "angle bracket"},
		{"sip:agent@pbx.example.com:0", "port out of range"},
		{"sip:agent@pbx.example.com:", "malformed"},
		{"sip:agent@pbx.example.com:70000", "port out of range"},
		{"sip:agent@pbx.example.com:-1", "port out of range"},
		{"sip:agent@pbx.example.com:50x", "malformed"},
		{"sip:agent@", "host"},
		{"sip:@pbx.example.com", "empty user part"},
		{"sip:a@b@pbx.example.com", "host"},
		{"sip:agent@-pbx.example.com", "host"},
		{"sip:agent@pbx..example.com", "host"},
		{"sip:agent@pbx_1.example.com", "host"},
		{"sip:agent@[2001:db8::1", "malformed"},
		{"sip:agent@[192.0.2.1]", "host"},
		{"sip:agent@[fe80::1%25eth0]", "host"},
		{"sip:age\"nt@pbx.example.com", "quote"},
		{"sip:age%zznt@pbx.example.com", "user part"},
		{"sip:agé@pbx.example.com", "user part"},
		{"sip:agent@pbx.exämple.com", "host"},
		{"sip:agent@" + strings.Repeat("a", MaxHeaderValueLen), "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			u, err := ParseTarget(tc.in)
			if err == nil {
				t.Fatalf("ParseTarget accepted it as %s", u.String())
			}
			if !errors.Is(err, ErrNotSIPURI) {
				t.Errorf("error %q does not wrap ErrNotSIPURI", err)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("error %q does not say %q", err, tc.reason)
			}
			if len(tc.in) > 6 && strings.Contains(err.Error(), strings.TrimSpace(tc.in)) {
				t.Errorf("error %q quotes the input", err)
			}
		})
	}
}

func TestURIUser(t *testing.T) {
	tests := []struct {
		uri  string
		want string
	}{
		{"sip:+441632960999@gw.example", "+441632960999"},
		{"sips:alice@gw.example", "alice"},
		{"sip:%2B4420%20x@gw.example", "+4420 x"},
		{"sip:gw.example", ""},
		{"sip:a%zz@gw.example", ""},
		{"tel:+441632960999", "+441632960999"},
		{"tel:+441632960999;phone-context=example.com", "+441632960999"},
		{"tel:%2B44", "+44"},
		{"urn:service:sos", ""},
	}
	for _, tc := range tests {
		t.Run(tc.uri, func(t *testing.T) {
			var u sipmsg.Uri
			if err := sipmsg.ParseUri(tc.uri, &u); err != nil {
				t.Fatalf("ParseUri: %v", err)
			}
			if got := URIUser(&u); got != tc.want {
				t.Errorf("URIUser = %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzParseTarget checks that ParseTarget never panics, that an accepted
// target is a sip/sips URI with a valid host, no password and no URI
// headers, whose string form parses back to the same URI, and that a
// refusal wraps ErrNotSIPURI and does not quote the input.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{
		"sip:agent@pbx.example.com",
		"sips:agent@pbx.example.com:5061;transport=tls",
		"<sip:queue@[2001:db8::10]:5060>",
		"sip:%2B4420@gw.example;user=phone",
		"sip:agent:pw@h?X=y",
		"sip:agent@pbx.example.com\r\nVia: x",
		"tel:+4420",
		"sip:[::1",
		"sip:a@b:99999",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseTarget(s)
		if err != nil {
			if !errors.Is(err, ErrNotSIPURI) {
				t.Fatalf("error %v does not wrap ErrNotSIPURI", err)
			}
			if ts := strings.TrimSpace(s); len(ts) >= 8 && strings.Contains(err.Error(), ts) {
				t.Fatalf("error %q quotes the input", err)
			}
			return
		}
		if u.Scheme != "sip" && u.Scheme != "sips" {
			t.Fatalf("accepted scheme %q", u.Scheme)
		}
		if u.Password != "" || u.Headers != nil || u.Wildcard || !validHost(u.Host) || u.Port < 0 || u.Port > 65535 {
			t.Fatalf("accepted %+v", u)
		}
		out := u.String()
		if checkValue(out, MaxHeaderValueLen+16) != "" {
			t.Fatalf("accepted target prints with a control character: %q", out)
		}
		again, err := ParseTarget(out)
		if err != nil {
			t.Fatalf("ParseTarget(%q) accepted, its String %q refused: %v", s, out, err)
		}
		if again.String() != out {
			t.Fatalf("round trip %q -> %q", out, again.String())
		}
	})
}

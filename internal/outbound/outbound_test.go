package outbound

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCheckBaseURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://api.example.com": true, "https://api.example.com:8443/v1": true, "http://127.0.0.1:12111": true,
		"http://localhost:9": true, "http://[::1]:80": true,
		"http://api.example.com": false, "ftp://x": false, "https://u:p@x": false, "https://x/?a=1": false,
		"https://x/#f": false, "not a url": false, "": false, "%zz": false,
	} {
		err := CheckBaseURL(raw, "the secret")
		if (err == nil) != ok {
			t.Errorf("CheckBaseURL(%q) = %v, want ok %v", raw, err, ok)
		}
		if err != nil && strings.HasPrefix(raw, "http://api") && !strings.Contains(err.Error(), "the secret") {
			t.Errorf("CheckBaseURL(%q): %v does not say what would cross in clear", raw, err)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	const value = "sk_live_canary_0123456789"
	s := Secret(value)
	j, _ := json.Marshal(struct{ S Secret }{s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x %d", s, s, s, s, s, s, s), string(j), s.LogValue().String()} {
		if strings.Contains(out, value) || strings.Contains(out, "736b5f") {
			t.Errorf("the secret printed: %s", out)
		}
	}
	if Secret("").String() != "" {
		t.Error("an empty secret prints as something")
	}
}

func TestClientFollowsNoRedirect(t *testing.T) {
	given := &http.Client{Timeout: time.Minute}
	c := Client(given)
	if c == given || given.CheckRedirect != nil {
		t.Fatal("Client changed the caller's client")
	}
	if c.Timeout != time.Minute {
		t.Errorf("Timeout %v, want the given client's", c.Timeout)
	}
	for _, c := range []*http.Client{c, Client(nil)} {
		if c.CheckRedirect == nil || c.CheckRedirect(nil, nil) != http.ErrUseLastResponse {
			t.Error("the client would follow a redirect")
		}
	}
}

func TestOptionsDefaults(t *testing.T) {
	var o Options
	o.SetDefaults()
	if o.Log == nil || o.Now == nil || o.HTTPClient != nil {
		t.Errorf("defaults: %+v", o)
	}
	log, now := slog.New(slog.DiscardHandler), func() time.Time { return time.Time{} }
	o = Options{Log: log, Now: now}
	o.SetDefaults()
	if o.Log != log || !o.Now().IsZero() {
		t.Error("SetDefaults replaced what was given")
	}
}

package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestGatewayAnswersOptionsAndDrains: a gateway on its defaults answers
// a SIP OPTIONS, its API takes the configured key and no other, its
// admin listener (logged in the serving line) answers, pprof is not on
// the public listener; stopped, it drains and says so.
func TestGatewayAnswersOptionsAndDrains(t *testing.T) {
	const apiKey = "serve-test-key-0123456789"
	gw := startGateway(t, "http:\n  api_keys: ["+apiKey+"]\n")
	// An OPTIONS health check, retransmitted until it is answered.
	got := sipOptions(t, gw.SIP.String())
	if !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("OPTIONS answered %q; log:\n%s", got, gw.Log.String())
	}
	// The configured key reads the configurations, no key does not.
	for _, c := range []struct {
		key  string
		want int
	}{{apiKey, http.StatusOK}, {"", http.StatusUnauthorized}} {
		code, body := httpGet(t, gw.base()+"/v1/configurations", c.key)
		if code != c.want || (c.want == http.StatusOK && !strings.Contains(body, `"id":"card"`)) {
			t.Errorf("GET /v1/configurations with key %v: %d %s", c.key != "", code, body)
		}
	}
	checkAdmin(t, gw.Log.String())
	// pprof is the admin listener's only: the public one does not have it.
	if code, _ := httpGet(t, gw.base()+"/debug/pprof/", ""); code == http.StatusOK {
		t.Errorf("GET /debug/pprof/ on the public listener: %d", code)
	}
	if err := gw.Stop(); err != nil {
		t.Fatalf("stop: %v; log:\n%s", err, gw.Log.String())
	}
	for _, w := range []string{`"msg":"dtmfgw serving"`, `"msg":"draining"`, `"msg":"stopped"`} {
		if !strings.Contains(gw.Log.String(), w) {
			t.Errorf("log lacks %s:\n%s", w, gw.Log.String())
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\r'); i >= 0 {
		return s[:i]
	}
	return s
}

// checkAdmin finds the admin listener's address in the "dtmfgw serving"
// log line and checks its endpoints answer.
func checkAdmin(t *testing.T, log string) {
	t.Helper()
	var admin string
	for line := range strings.Lines(log) {
		var rec struct {
			Msg   string `json:"msg"`
			Admin string `json:"admin"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "dtmfgw serving" {
			admin = rec.Admin
		}
	}
	if admin == "" {
		t.Fatalf("no admin address logged:\n%s", log)
	}
	for _, c := range []struct {
		path, want string
	}{
		{"/healthz", "ok"},
		{"/readyz", `"ready":true`},
		{"/metrics", "dtmfgw_calls_total 0"},
		{"/metrics", "dtmfgw_webhook_pending 0"},
		{"/metrics", "dtmfgw_sse_subscribers 0"},
		{"/debug/pprof/", "goroutine"},
	} {
		res, err := http.Get("http://" + admin + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), c.want) {
			t.Errorf("GET %s: %d, body lacks %q:\n%.400s", c.path, res.StatusCode, c.want, body)
		}
	}
}

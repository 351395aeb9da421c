package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"dtmfgw/webhook"
)

func TestConfigRefusalsNameTheKey(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "sip:\n  listn: 127.0.0.1:5060\n", []string{"line 2", "listn"}},
		{"bad ring timeout", "sip:\n  ring_timeout: 1ns\n", []string{"sip.ring_timeout"}},
		{"bad port range", "media:\n  rtp_ports: 30000-20000\n", []string{"rtp_ports"}},
		{"bad target", "sip:\n  default_target: http://example.com\n", []string{"sip.default_target"}},
		{"bad log format", "log:\n  format: xml\n", []string{"log.format"}},
		{"unknown processor", "payments:\n  configurations:\n    - id: card\n      name: Card\n      processor: acme\n      fields:\n        - {id: card_number, label: Card number, kind: card_number, required: true}\n        - {id: expiry, label: Expiry, kind: expiry, required: true}\n        - {id: security_code, label: Security code, kind: security_code, required: true}\n", []string{"payments.configurations[0].processor"}},
		{"bad processor type", "processors:\n  psp:\n    type: bank\n", []string{"processors.psp"}},
		{"empty storage", "storage:\n  dsn: \"\"\n", []string{"storage.dsn"}},
		{"bad admin listen", "admin:\n  listen: nowhere\n", []string{"admin.listen"}},
		{"two problems", "sip:\n  ring_timeout: 1ns\nlog:\n  level: loud\n", []string{"sip.ring_timeout", "log.level"}},
		{"short webhook retries", "webhooks:\n  max_age: 1h\n", []string{"webhooks.max_age"}},
		{"webhook secret too short", "payments:\n  configurations:\n    - id: card\n      name: Card\n      processor: sandbox\n      accepted_brands: [visa]\n      fields:\n        - {id: card_number, kind: card_number}\n        - {id: expiry, kind: expiry}\n        - {id: security_code, kind: security_code}\n      webhook:\n        url: https://crm.example.com/hook\n        secret: short-secret\n", []string{"payments.configurations[0].webhook.secret"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dtmfgw.yaml")
			if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			code := run(context.Background(), []string{"serve", "--config", path}, &bytes.Buffer{}, &stderr)
			if code != 1 {
				t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr.String())
			}
			for _, w := range c.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
}

func TestConfigFileAndFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dtmfgw.yaml")
	yaml := "sip:\n  listen: 127.0.0.1:5099\n  default_target: sip:agent@127.0.0.1:5098\n  ring_timeout: 20s\nmedia:\n  rtp_ports: 40000-40999\n  mask_inband: secure-only\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.SIP.Listen != "127.0.0.1:5099" || cfg.SIP.RingTimeout != 20*time.Second || cfg.Media.RTPPorts.Min != 40000 || cfg.Media.MaskInband.String() != "secure-only" {
		t.Errorf("config %+v", cfg)
	}
	// Keys the file leaves out keep their defaults.
	if def := defaultConfig(); cfg.SIP.DrainTimeout != def.SIP.DrainTimeout || cfg.Media.MaskEvents != def.Media.MaskEvents {
		t.Errorf("defaults lost: %+v", cfg)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServeAnswersOptionsAndDrainsOnSignal(t *testing.T) {
	port := freeUDPPort(t)
	addr := "127.0.0.1:" + port
	dir := t.TempDir()
	httpAddr := "127.0.0.1:" + freeUDPPort(t)
	const apiKey = "serve-test-key-0123456789"
	ctx, stop := context.WithCancel(context.Background())
	var stderr syncBuffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"serve", "--sip-listen", addr, "--rtp-ports", "41000-41099", "--log-format", "json",
			"--storage", "sqlite:" + filepath.Join(dir, "dtmfgw.db"), "--http-listen", httpAddr, "--api-key", apiKey, "--admin-listen", "127.0.0.1:0"}, &bytes.Buffer{}, &stderr)
	}()
	// An OPTIONS health check, retransmitted until the listener is up.
	got := sipOptions(t, addr)
	if !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("OPTIONS answered %q; log:\n%s", got, stderr.String())
	}
	// SIP is up, so is the API (it starts first): the configured key
	// reads the configurations, no key does not.
	for _, c := range []struct {
		key  string
		want int
	}{{apiKey, http.StatusOK}, {"", http.StatusUnauthorized}} {
		req, _ := http.NewRequest("GET", "http://"+httpAddr+"/v1/configurations", nil)
		if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want || (c.want == http.StatusOK && !strings.Contains(string(body), `"id":"card"`)) {
			t.Errorf("GET /v1/configurations with key %v: %d %s", c.key != "", resp.StatusCode, body)
		}
	}
	checkAdmin(t, stderr.String())
	// pprof is the admin listener's only: the public one does not have it.
	if res, err := http.Get("http://" + httpAddr + "/debug/pprof/"); err != nil {
		t.Fatal(err)
	} else if res.Body.Close(); res.StatusCode == http.StatusOK {
		t.Errorf("GET /debug/pprof/ on the public listener: %d", res.StatusCode)
	}
	stop()
	select {
	case code := <-exited:
		if code != 0 {
			t.Fatalf("serve exited %d; log:\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	for _, w := range []string{`"msg":"dtmfgw serving"`, `"msg":"draining"`, `"msg":"stopped"`} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("log lacks %s:\n%s", w, stderr.String())
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\r'); i >= 0 {
		return s[:i]
	}
	return s
}

// freeUDPPort returns a UDP port on 127.0.0.1 whose TCP twin is free too.
func freeUDPPort(t *testing.T) string {
	t.Helper()
	for range 20 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := u.LocalAddr().String()
		l, err := net.Listen("tcp", addr)
		u.Close()
		if err != nil {
			continue
		}
		l.Close()
		_, port, _ := net.SplitHostPort(addr)
		return port
	}
	t.Fatal("no free port")
	return ""
}

// docExample loads and validates the first yaml block of the document at
// path, as serve would read it.
func docExample(t *testing.T, path string) config {
	t.Helper()
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	start := strings.Index(text, "```yaml\n")
	if start < 0 {
		t.Fatalf("%s has no yaml example", path)
	}
	text = text[start+len("```yaml\n"):]
	end := strings.Index(text, "```")
	if end < 0 {
		t.Fatalf("%s: the yaml example is not closed", path)
	}
	file := filepath.Join(t.TempDir(), "example.yaml")
	if err := os.WriteFile(file, []byte(text[:end]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.validate(); err != nil {
		t.Fatalf("%s example refused: %v", path, err)
	}
	return cfg
}

// TestReadmeConfigExampleIsValid keeps the README's configuration example
// true: it must load and validate.
func TestReadmeConfigExampleIsValid(t *testing.T) {
	cfg := docExample(t, "../../README.md")
	if cfg.SIP.DefaultTarget == "" || len(cfg.SIP.Routes) != 1 || cfg.Log.Format != "json" {
		t.Errorf("README example read as %+v", cfg)
	}
}

// TestWebhooksDocExampleIsValid: the configuration in docs/webhooks.md is
// one serve accepts.
func TestWebhooksDocExampleIsValid(t *testing.T) {
	cfg := docExample(t, "../../docs/webhooks.md")
	w := cfg.Payments.Configurations[0].Webhook
	if !w.Enabled() || len(w.Secret) < 16 || len(w.Events) != 2 || cfg.Webhooks != webhook.DefaultConfig() {
		t.Errorf("example read as %+v, %+v", w, cfg.Webhooks)
	}
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

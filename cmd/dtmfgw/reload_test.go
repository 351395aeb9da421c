package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeReloadsOnSIGHUP runs serve in-process, rewrites its file and
// delivers SIGHUP through the channel runServe connects to the signal:
// the routing, the ACL, the payment configurations and the log level
// change; keys that need a restart are reported and kept; a bad file is
// refused with its key and the running configuration stays.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dtmfgw.yaml")
	write := func(yaml string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := "storage:\n  dsn: sqlite:" + filepath.Join(dir, "a.db") + "\nmedia:\n  rtp_ports: 41100-41199\nadmin:\n  listen: 127.0.0.1:0\n"
	write("sip:\n  listen: 127.0.0.1:0\n  default_target: sip:a@127.0.0.1:5070\n" + base)

	g, sighup, logs := serveForReload(t, path)

	write(`sip:
  listen: 127.0.0.1:5999
  default_target: sip:b@127.0.0.1:5071
  acl: [10.0.0.0/8]
  routes:
    - {name: sales, user_prefix: "44", target: "sip:sales@127.0.0.1:5072"}
payments:
  configurations:
    - id: card-v2
      name: Card v2
      processor: sandbox
      accepted_brands: [visa]
      fields:
        - {id: card_number, label: Card number, kind: card_number, required: true}
        - {id: expiry, label: Expiry, kind: expiry, required: true}
        - {id: security_code, label: Security code, kind: security_code, required: true}
      webhook:
        url: https://crm.example.com/hooks/v2
        secret: reloaded-secret-0123456789
log:
  level: debug
storage:
  dsn: sqlite:` + filepath.Join(dir, "b.db") + `
media:
  rtp_ports: 41100-41199
`)
	if err := sighup(); err != nil {
		t.Fatalf("reload refused: %v\n%s", err, logs.String())
	}
	sipNow := g.b2b.Config()
	if sipNow.DefaultTarget != "sip:b@127.0.0.1:5071" || len(sipNow.Routes) != 1 || len(sipNow.ACL) != 1 || sipNow.ACL[0] != "10.0.0.0/8" {
		t.Errorf("SIP after reload: target %q routes %d acl %v", sipNow.DefaultTarget, len(sipNow.Routes), sipNow.ACL)
	}
	if _, ok := g.payments.Config("card-v2"); !ok {
		t.Error("the new payment configuration is not offered")
	}
	if _, ok := g.payments.Config("card"); ok {
		t.Error("the old payment configuration is still offered")
	}
	if w, ok := g.webhooks.Webhook("card-v2"); !ok || w.URL != "https://crm.example.com/hooks/v2" {
		t.Errorf("the webhook after reload: %+v, %v", w, ok)
	}
	if strings.Contains(logs.String(), "reloaded-secret") {
		t.Error("the log shows a webhook secret")
	}
	if g.level.Level() != slog.LevelDebug {
		t.Errorf("log level %v after reload, want debug", g.level.Level())
	}
	running := g.config()
	if running.SIP.Listen != "127.0.0.1:0" || !strings.HasSuffix(running.Storage.DSN, "a.db") {
		t.Errorf("keys that need a restart changed: listen %q dsn %q", running.SIP.Listen, running.Storage.DSN)
	}
	for _, w := range []string{`"msg":"configuration change needs a restart; ignored until then","key":"sip.listen"`, `"key":"storage.dsn"`, `"msg":"configuration reloaded"`} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %s:\n%s", w, logs.String())
		}
	}

	// A bad file: refused, named, and nothing changes.
	write("sip:\n  listen: 127.0.0.1:0\n  routes:\n    - {user: \"1\", target: \"http://nowhere\"}\n" + base)
	err := sighup()
	if err == nil || !strings.Contains(err.Error(), "sip.routes[0].target") {
		t.Fatalf("bad reload: %v, want a refusal naming sip.routes[0].target", err)
	}
	if !strings.Contains(logs.String(), `"msg":"configuration reload refused; the running configuration stays"`) || !strings.Contains(logs.String(), "sip.routes[0].target") {
		t.Errorf("the refusal is not logged with its key:\n%s", logs.String())
	}
	if got := g.b2b.Config(); got.DefaultTarget != sipNow.DefaultTarget || len(got.Routes) != 1 {
		t.Errorf("a refused reload changed the routing: %+v", got)
	}
	if _, ok := g.payments.Config("card-v2"); !ok {
		t.Error("a refused reload changed the payment configurations")
	}
}

// serveForReload runs serve in-process on the file at path until the test
// ends, and returns the gateway, a function that delivers SIGHUP through
// the channel runServe connects to the signal and returns the reload's
// outcome, and the JSON log.
func serveForReload(t *testing.T, path string) (*gateway, func() error, *syncBuffer) {
	t.Helper()
	hup := make(chan os.Signal)
	started := make(chan *gateway, 1)
	reloaded := make(chan error)
	ctx, stop := context.WithCancel(context.Background())
	logs := new(syncBuffer)
	exited := make(chan error, 1)
	go func() {
		exited <- runServeWith(ctx, []string{"--config", path, "--log-format", "json"}, nil, &bytes.Buffer{}, logs, serveHooks{
			hup:      hup,
			started:  func(g *gateway) { started <- g },
			reloaded: func(err error) { reloaded <- err },
		})
	}()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop")
		}
	})
	var g *gateway
	select {
	case g = <-started:
	case err := <-exited:
		t.Fatalf("serve exited: %v\n%s", err, logs.String())
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	sighup := func() error {
		t.Helper()
		select {
		case hup <- syscall.SIGHUP:
		case <-time.After(10 * time.Second):
			t.Fatal("serve does not take SIGHUP")
		}
		select {
		case err := <-reloaded:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("no reload")
		}
		return nil
	}
	return g, sighup, logs
}

package e2e

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeReloadsOnSIGHUP runs a gateway, rewrites its file and
// delivers SIGHUP through the channel serve connects to the signal: the
// routing, the ACL, the payment configurations and the log level change;
// keys that need a restart are reported and kept; a bad file is refused
// with its key and the running configuration stays.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	base := "storage:\n  dsn: sqlite:" + filepath.Join(dir, "a.db") + "\n"
	g := startGateway(t, "sip:\n  listen: 127.0.0.1:0\n  default_target: sip:a@127.0.0.1:5070\n"+base)
	if g.Level.Level() != slog.LevelInfo {
		t.Fatalf("log level %v at the start, want info", g.Level.Level())
	}

	err := g.Reload(t, `sip:
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
  dsn: sqlite:`+filepath.Join(dir, "b.db")+`
`)
	if err != nil {
		t.Fatalf("reload refused: %v\n%s", err, g.Log.String())
	}
	sipNow := g.B2BUA().Config()
	if sipNow.DefaultTarget != "sip:b@127.0.0.1:5071" || len(sipNow.Routes) != 1 || len(sipNow.ACL) != 1 || sipNow.ACL[0] != "10.0.0.0/8" {
		t.Errorf("SIP after reload: target %q routes %d acl %v", sipNow.DefaultTarget, len(sipNow.Routes), sipNow.ACL)
	}
	if _, ok := g.Payments().Config("card-v2"); !ok {
		t.Error("the new payment configuration is not offered")
	}
	if _, ok := g.Payments().Config("card"); ok {
		t.Error("the old payment configuration is still offered")
	}
	if w, ok := g.Webhooks().Webhook("card-v2"); !ok || w.URL != "https://crm.example.com/hooks/v2" {
		t.Errorf("the webhook after reload: %+v, %v", w, ok)
	}
	logs := g.Log.String()
	if strings.Contains(logs, "reloaded-secret") {
		t.Error("the log shows a webhook secret")
	}
	if g.Level.Level() != slog.LevelDebug {
		t.Errorf("log level %v after reload, want debug", g.Level.Level())
	}
	running := g.Config()
	if running.SIP.Listen != "127.0.0.1:0" || !strings.HasSuffix(running.Storage.DSN, "a.db") {
		t.Errorf("keys that need a restart changed: listen %q dsn %q", running.SIP.Listen, running.Storage.DSN)
	}
	for _, w := range []string{`"msg":"configuration change needs a restart; ignored until then","key":"sip.listen"`, `"key":"storage.dsn"`, `"msg":"configuration reloaded"`} {
		if !strings.Contains(logs, w) {
			t.Errorf("log lacks %s:\n%s", w, logs)
		}
	}

	// A bad file: refused, named, and nothing changes.
	err = g.Reload(t, "sip:\n  listen: 127.0.0.1:0\n  routes:\n    - {user: \"1\", target: \"http://nowhere\"}\n"+base)
	if err == nil || !strings.Contains(err.Error(), "sip.routes[0].target") {
		t.Fatalf("bad reload: %v, want a refusal naming sip.routes[0].target", err)
	}
	logs = g.Log.String()
	if !strings.Contains(logs, `"msg":"configuration reload refused; the running configuration stays"`) || !strings.Contains(logs, "sip.routes[0].target") {
		t.Errorf("the refusal is not logged with its key:\n%s", logs)
	}
	if got := g.B2BUA().Config(); got.DefaultTarget != sipNow.DefaultTarget || len(got.Routes) != 1 {
		t.Errorf("a refused reload changed the routing: %+v", got)
	}
	if _, ok := g.Payments().Config("card-v2"); !ok {
		t.Error("a refused reload changed the payment configurations")
	}
}

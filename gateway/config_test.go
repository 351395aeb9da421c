package gateway

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dtmfgw/processor"
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
		{"cluster on SQLite, no shared secret", "cluster:\n  enabled: true\n", []string{"cluster.enabled", "postgres://", "http.form_token_secret"}},
		{"cluster heartbeat", "cluster:\n  heartbeat: 1ms\n", []string{"cluster.heartbeat"}},
		{"sms provider", "sms:\n  provider: pigeon\n", []string{"sms.provider"}},
		{"sms token variable unset", "sms:\n  provider: twilio\n  twilio:\n    account_sid: AC0123456789abcdef0123456789abcdef\n    auth_token_env: DTMFGW_TEST_UNSET_TOKEN\n    from: \"+15005550006\"\n", []string{"sms.twilio.auth_token_env", "DTMFGW_TEST_UNSET_TOKEN is not set"}},
		{"webhook secret too short", "payments:\n  configurations:\n    - id: card\n      name: Card\n      processor: sandbox\n      accepted_brands: [visa]\n      fields:\n        - {id: card_number, kind: card_number}\n        - {id: expiry, kind: expiry}\n        - {id: security_code, kind: security_code}\n      webhook:\n        url: https://crm.example.com/hook\n        secret: short-secret\n", []string{"payments.configurations[0].webhook.secret"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dtmfgw.yaml")
			if err := os.WriteFile(path, []byte(c.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Sources{Path: path}.Build()
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("refusal lacks %q:\n%v", w, err)
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
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.SIP.Listen != "127.0.0.1:5099" || cfg.SIP.RingTimeout != 20*time.Second || cfg.Media.RTPPorts.Min != 40000 || cfg.Media.MaskInband.String() != "secure-only" {
		t.Errorf("config %+v", cfg)
	}
	// Keys the file leaves out keep their defaults.
	if def := DefaultConfig(); cfg.SIP.DrainTimeout != def.SIP.DrainTimeout || cfg.Media.MaskEvents != def.Media.MaskEvents {
		t.Errorf("defaults lost: %+v", cfg)
	}
}

// docExample loads and validates the first yaml block of the document at
// path, as `dtmfgw serve` would read it.
func docExample(t *testing.T, path string) Config {
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
	cfg, err := LoadConfig(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("%s example refused: %v", path, err)
	}
	return cfg
}

// TestReadmeConfigExampleIsValid keeps the README's configuration example
// true: it must load and validate.
func TestReadmeConfigExampleIsValid(t *testing.T) {
	cfg := docExample(t, "../README.md")
	if cfg.SIP.DefaultTarget == "" || len(cfg.SIP.Routes) != 1 || cfg.Log.Format != "json" {
		t.Errorf("README example read as %+v", cfg)
	}
}

// TestProcessorDocExampleIsValid: the processors of docs/processor.md,
// the HTTP connector's included, are a configuration serve accepts.
func TestProcessorDocExampleIsValid(t *testing.T) {
	t.Setenv("STRIPE_SECRET_KEY", "sk_test_doc")
	t.Setenv("VAULT_PASSWORD", "vault-password")
	t.Setenv("VAULT_SIGNING_SECRET", "vault-signing-secret-0123456789abcdef")
	cfg := docExample(t, "../docs/processor.md")
	if v := cfg.Processors["vault"]; v.Type != processor.TypeHTTP || v.Timeout != 20*time.Second || len(cfg.Processors) != 3 {
		t.Errorf("example read as %+v", cfg.Processors)
	}
	if _, err := processor.NewAll(cfg.Processors); err != nil {
		t.Error(err)
	}
}

// TestWebhooksDocExampleIsValid: the configuration in docs/webhooks.md is
// one serve accepts.
func TestWebhooksDocExampleIsValid(t *testing.T) {
	cfg := docExample(t, "../docs/webhooks.md")
	w := cfg.Payments.Configurations[0].Webhook
	if !w.Enabled() || len(w.Secret) < 16 || len(w.Events) != 2 || cfg.Webhooks != webhook.DefaultConfig() {
		t.Errorf("example read as %+v, %+v", w, cfg.Webhooks)
	}
}

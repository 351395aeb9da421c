package processor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestConfigsValidate(t *testing.T) {
	t.Setenv("DTMFGW_TEST_STRIPE_KEY", "sk_test_fromenv")
	t.Setenv("DTMFGW_TEST_EMPTY", "")
	cases := []struct {
		name string
		cfgs Configs
		want []string // substrings of the error; none means valid
	}{
		{"default", DefaultConfigs(), nil},
		{"sandbox-tuned", Configs{"demo": {Type: TypeSandbox, Timeout: 5 * time.Second, MinDelay: 0, MaxDelay: time.Millisecond}}, nil},
		{"stripe-key", Configs{"stripe": {Type: TypeStripe, APIKey: "sk_test_123"}}, nil},
		{"stripe-restricted-key", Configs{"stripe": {Type: TypeStripe, APIKey: "rk_live_123"}}, nil},
		{"stripe-env", Configs{"stripe-uk": {Type: TypeStripe, APIKeyEnv: "DTMFGW_TEST_STRIPE_KEY", MOTO: true}}, nil},
		{"stripe-mock-url", Configs{"stripe": {Type: TypeStripe, APIKey: "sk_test_123", BaseURL: "http://127.0.0.1:12111"}}, nil},
		{"stripe-https-url", Configs{"stripe": {Type: TypeStripe, APIKey: "sk_test_123", BaseURL: "https://psp-proxy.example/stripe"}}, nil},
		{"no-type", Configs{"p": {}}, []string{"processors.p.type: missing"}},
		{"bad-type", Configs{"p": {Type: "paypal"}}, []string{`processors.p.type: "paypal" is not`}},
		{"bad-name", Configs{"Stripe UK": {Type: TypeSandbox}}, []string{"processors.Stripe UK: name must be"}},
		{"timeout-short", Configs{"p": {Type: TypeSandbox, Timeout: 10 * time.Millisecond}}, []string{"processors.p.timeout: 10ms is outside"}},
		{"timeout-long", Configs{"p": {Type: TypeSandbox, Timeout: time.Hour}}, []string{"processors.p.timeout:"}},
		{"delay-inverted", Configs{"p": {Type: TypeSandbox, MinDelay: time.Second, MaxDelay: time.Millisecond}}, []string{"processors.p.max_delay: less than min_delay"}},
		{"delay-negative", Configs{"p": {Type: TypeSandbox, MinDelay: -time.Second, MaxDelay: time.Millisecond}}, []string{"processors.p.min_delay: negative"}},
		{"delay-beyond-timeout", Configs{"p": {Type: TypeSandbox, Timeout: 2 * time.Second, MaxDelay: 2 * time.Second}}, []string{"processors.p.max_delay: not less than timeout"}},
		{"sandbox-with-key", Configs{"p": {Type: TypeSandbox, APIKey: "sk_test_1"}}, []string{"processors.p.type: sandbox takes no"}},
		{"stripe-with-delay", Configs{"s": {Type: TypeStripe, APIKey: "sk_test_1", MaxDelay: time.Second}}, []string{"processors.s.type: stripe takes no"}},
		{"stripe-no-key", Configs{"s": {Type: TypeStripe}}, []string{"processors.s.api_key: missing"}},
		{"stripe-both-keys", Configs{"s": {Type: TypeStripe, APIKey: "sk_test_1", APIKeyEnv: "DTMFGW_TEST_STRIPE_KEY"}}, []string{"processors.s.api_key: set together"}},
		{"stripe-env-unset", Configs{"s": {Type: TypeStripe, APIKeyEnv: "DTMFGW_TEST_NOT_SET"}}, []string{"processors.s.api_key_env: DTMFGW_TEST_NOT_SET is not set"}},
		{"stripe-env-empty", Configs{"s": {Type: TypeStripe, APIKeyEnv: "DTMFGW_TEST_EMPTY"}}, []string{"processors.s.api_key_env: DTMFGW_TEST_EMPTY is not set"}},
		{"stripe-publishable-key", Configs{"s": {Type: TypeStripe, APIKey: "pk_test_1"}}, []string{"processors.s.api_key: not a Stripe secret"}},
		{"stripe-key-space", Configs{"s": {Type: TypeStripe, APIKey: "sk_test 1"}}, []string{"processors.s.api_key: contains spaces"}},
		{"stripe-plain-http-remote", Configs{"s": {Type: TypeStripe, APIKey: "sk_test_1", BaseURL: "http://10.0.0.5:12111"}}, []string{"processors.s.base_url: plain http is accepted only for a loopback host"}},
		{"stripe-url-query", Configs{"s": {Type: TypeStripe, APIKey: "sk_test_1", BaseURL: "https://x.example/?a=b"}}, []string{"processors.s.base_url: must be"}},
		{"stripe-url-scheme", Configs{"s": {Type: TypeStripe, APIKey: "sk_test_1", BaseURL: "ftp://x.example"}}, []string{"processors.s.base_url: scheme must be https"}},
		{"two-bad", Configs{"a": {Type: "x"}, "b": {Type: TypeStripe}}, []string{"processors.a.type", "processors.b.api_key"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfgs.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				if _, err := NewAll(tc.cfgs); err != nil {
					t.Fatalf("NewAll = %v", err)
				}
				return
			}
			wantConfigError(t, err, tc.want, "sk_test", "fromenv")
			if _, err := NewAll(tc.cfgs); err == nil {
				t.Error("NewAll accepted what Validate refused")
			}
		})
	}
}

func TestNewBuildsEachType(t *testing.T) {
	ps, err := NewAll(Configs{
		"sandbox": {Type: TypeSandbox},
		"stripe":  {Type: TypeStripe, APIKey: "sk_test_123", BaseURL: "http://127.0.0.1:1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := ps["sandbox"].(*Sandbox); !ok || s.Name() != "sandbox" || s.minDelay != DefaultMinDelay || s.maxDelay != DefaultMaxDelay || s.timeout != DefaultTimeout {
		t.Errorf("sandbox = %#v", ps["sandbox"])
	}
	if s, ok := ps["stripe"].(*Stripe); !ok || s.Name() != "stripe" || s.timeout != DefaultTimeout {
		t.Errorf("stripe = %#v", ps["stripe"])
	}
	if _, err := New("", Config{Type: TypeSandbox}); !errors.Is(err, ErrConfig) {
		t.Errorf("New with no name = %v", err)
	}
}

// The section decodes from YAML as the configuration file writes it.
func TestConfigsYAML(t *testing.T) {
	const doc = `
sandbox: {type: sandbox, min_delay: 100ms, max_delay: 200ms}
stripe-uk:
  type: stripe
  api_key: sk_test_yaml
  base_url: http://127.0.0.1:12111
  timeout: 20s
  moto: true
`
	var c Configs
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := Configs{
		"sandbox":   {Type: TypeSandbox, MinDelay: 100 * time.Millisecond, MaxDelay: 200 * time.Millisecond},
		"stripe-uk": {Type: TypeStripe, APIKey: "sk_test_yaml", BaseURL: "http://127.0.0.1:12111", Timeout: 20 * time.Second, MOTO: true},
	}
	if fmt.Sprint(c) != fmt.Sprint(want) || len(c) != 2 || c["stripe-uk"] != want["stripe-uk"] || c["sandbox"] != want["sandbox"] {
		t.Errorf("decoded %+v, want %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	dec = yaml.NewDecoder(strings.NewReader("p: {type: sandbox, api_kye: x}"))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err == nil || !strings.Contains(err.Error(), "api_kye") {
		t.Errorf("an unknown key decoded: %v", err)
	}
}

// The API key never prints: not with fmt's verbs, not in slog.
func TestSecretNeverPrints(t *testing.T) {
	cfg := Config{Type: TypeStripe, APIKey: "sk_test_supersecret"}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "cfg", cfg, "key", cfg.APIKey)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "cfg", cfg, "key", cfg.APIKey)
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ys, err := yaml.Marshal(Configs{"stripe": cfg})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg.APIKey), logs.String(), string(js), string(ys)} {
		if strings.Contains(s, "supersecret") {
			t.Errorf("the key shows in %s", s)
		}
	}
	if Secret("").String() != "" || cfg.APIKey.String() != "[redacted]" {
		t.Errorf("String = %q", cfg.APIKey.String())
	}
}

// wantConfigError fails t unless err is an ErrConfig that says every one
// of want and shows none of secrets.
func wantConfigError(t *testing.T, err error, want []string, secrets ...string) {
	t.Helper()
	if err == nil || !errors.Is(err, ErrConfig) {
		t.Fatalf("Validate = %v, want ErrConfig", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Validate = %v\nwant it to say %q", err, w)
		}
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("the error shows a secret: %v", err)
		}
	}
}

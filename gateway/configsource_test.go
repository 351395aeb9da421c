package gateway

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"dtmfgw/processor"
)

// writeConfig writes yaml to a file in a temporary directory.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dtmfgw.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sourcesOf returns the sources `dtmfgw serve` reads from the environment
// env and the command-line arguments args.
func sourcesOf(t *testing.T, env []string, args ...string) Sources {
	t.Helper()
	src := Sources{Environ: env}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	src.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return src
}

// checkConfig builds the configuration from env and args, as `dtmfgw
// serve --check-config` does, and returns the refusal ("" when valid).
func checkConfig(t *testing.T, env []string, args ...string) (refusal string) {
	t.Helper()
	if _, err := sourcesOf(t, env, args...).Build(); err != nil {
		return err.Error()
	}
	return ""
}

// TestConfigRefusalsFromEveryLayer: a bad value from the file, the
// environment or a flag is refused with the key, the reason, and where it
// came from.
func TestConfigRefusalsFromEveryLayer(t *testing.T) {
	for _, c := range []struct {
		name string
		yaml string
		env  []string
		args []string
		want []string
	}{
		{"file listen", "sip:\n  listen: nowhere\n", nil, nil, []string{"dtmfgw.yaml: sip.listen: \"nowhere\" is not IP:port"}},
		{"env listen", "", []string{"DTMFGW_SIP_LISTEN=nowhere"}, nil, []string{`DTMFGW_SIP_LISTEN (sip.listen): "nowhere" is not IP:port`}},
		{"flag listen", "", nil, []string{"--sip-listen", "nowhere"}, []string{`--sip-listen (sip.listen): "nowhere" is not IP:port`}},
		{"env duration type", "", []string{"DTMFGW_SIP_RING_TIMEOUT=soon"}, nil, []string{"DTMFGW_SIP_RING_TIMEOUT (sip.ring_timeout): cannot unmarshal"}},
		{"env duration range", "", []string{"DTMFGW_SIP_RING_TIMEOUT=1ms"}, nil, []string{"DTMFGW_SIP_RING_TIMEOUT (sip.ring_timeout): 1ms is outside"}},
		{"env port range parser", "", []string{"DTMFGW_MEDIA_RTP_PORTS=30000-20000"}, nil, []string{"DTMFGW_MEDIA_RTP_PORTS (media.rtp_ports): "}},
		{"flag port range parser", "", nil, []string{"--rtp-ports", "9"}, []string{"--rtp-ports (media.rtp_ports): "}},
		{"env int", "", []string{"DTMFGW_MEDIA_DIGIT_QUEUE=many"}, nil, []string{"DTMFGW_MEDIA_DIGIT_QUEUE (media.digit_queue): cannot unmarshal"}},
		{"env bool", "", []string{"DTMFGW_MEDIA_NAT_LATCH=perhaps"}, nil, []string{"DTMFGW_MEDIA_NAT_LATCH (media.nat_latch): cannot unmarshal"}},
		{"env policy", "", []string{"DTMFGW_MEDIA_MASK_INBAND=sometimes"}, nil, []string{"DTMFGW_MEDIA_MASK_INBAND (media.mask_inband): "}},
		{"env list entry", "", []string{"DTMFGW_SIP_ACL=10.0.0.0/8, nonsense"}, nil, []string{`DTMFGW_SIP_ACL (sip.acl[1]): "nonsense"`}},
		{"env list empty", "", []string{"DTMFGW_SIP_ACL="}, nil, []string{"DTMFGW_SIP_ACL (sip.acl): empty"}},
		{"env nested", "", []string{"DTMFGW_SIP_TLS_CERT=/x.pem"}, nil, []string{"sip.tls.key: required with tls.cert"}},
		{"env log level", "", []string{"DTMFGW_LOG_LEVEL=loud"}, nil, []string{`DTMFGW_LOG_LEVEL (log.level): "loud" is not`}},
		{"env storage", "", []string{"DTMFGW_STORAGE_DSN="}, nil, []string{"DTMFGW_STORAGE_DSN (storage.dsn): empty"}},
		{"env empty duration", "", []string{"DTMFGW_SIP_RING_TIMEOUT="}, nil, []string{"DTMFGW_SIP_RING_TIMEOUT (sip.ring_timeout): "}},
		{"env unknown", "", []string{"DTMFGW_SIP_LISTN=127.0.0.1:5060"}, nil, []string{"DTMFGW_SIP_LISTN: not a configuration key"}},
		{"env file-only list", "", []string{"DTMFGW_SIP_ROUTES=x"}, nil, []string{"DTMFGW_SIP_ROUTES (sip.routes): a list of structures; set it in the configuration file"}},
		{"env file-only map", "", []string{"DTMFGW_PROCESSORS=x"}, nil, []string{"DTMFGW_PROCESSORS (processors): a map of structures"}},
		{"every layer at once", "log:\n  format: xml\n", []string{"DTMFGW_SIP_LISTEN=x"}, []string{"--log-level", "loud"},
			[]string{"dtmfgw.yaml: log.format", "DTMFGW_SIP_LISTEN (sip.listen)", "--log-level (log.level)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if c.yaml != "" {
				args = append([]string{"--config", writeConfig(t, c.yaml)}, args...)
			}
			refusal := checkConfig(t, c.env, args...)
			if refusal == "" {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(refusal, w) {
					t.Errorf("refusal lacks %q:\n%s", w, refusal)
				}
			}
		})
	}
}

// TestConfigRefusalWithholdsCardNumbers: a card number pasted into a key
// is refused naming the key, from the file, the environment or a flag,
// and the refusal does not repeat it, whichever check refused it: a
// free-text key's own (a configuration's name, a route's name), a YAML
// type error, a parser that quotes the value.
func TestConfigRefusalWithholdsCardNumbers(t *testing.T) {
	const pan = "4111111111111111"
	for _, c := range []struct {
		name, yaml string
		env, args  []string
		key        string
	}{
		{"configuration name", "payments:\n  configurations:\n    - id: card\n      name: card 4111 1111 1111 1111\n" +
			"      fields: [{id: a, kind: card_number}, {id: b, kind: expiry}, {id: c, kind: security_code}]\n" +
			"      accepted_brands: [visa]\n      processor: sandbox\n", nil, nil, "payments.configurations[0].name"},
		{"route name", "sip:\n  routes:\n    - {name: '4111.1111.1111.1111', user: '100', target: 'sip:a@b'}\n", nil, nil, "sip.routes[0].name"},
		{"processor name", "processors:\n  p4111111111111111: {type: sandbox}\n", nil, nil, "processors: a processor's name"},
		{"yaml type error", "media:\n  digit_queue: 4111-1111-1111-1111\n", nil, nil, "line 2"}, // yaml names the line, not the key
		{"env parser", "", []string{"DTMFGW_LOG_LEVEL=4111 1111 1111 1111"}, nil, "log.level"},
		{"flag parser", "", nil, []string{"--sip-listen", "4111-1111-1111-1111"}, "sip.listen"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if c.yaml != "" {
				args = append([]string{"--config", writeConfig(t, c.yaml)}, args...)
			}
			refusal := checkConfig(t, c.env, args...)
			if !strings.Contains(refusal, c.key) {
				t.Fatalf("refusal %q, want one naming %s", refusal, c.key)
			}
			if strings.Contains(strings.NewReplacer(" ", "", "-", "", ".", "").Replace(refusal), pan) {
				t.Errorf("the refusal repeats the card number:\n%s", refusal)
			}
		})
	}
	if got := maskDigitRuns("a[12]: 4111 1111.1111-1111 and 20000-29999, 123456789012"); got != "a[12]: **** ****.****-**** and 20000-29999, ************" {
		t.Errorf("masked %q", got)
	}
}

// TestConfigAllowedEnvironment: the documented variables, the tests'
// DTMFGW_TEST_ family and a processor's api_key_env are not keys and are
// not refused; variables of other programs are ignored.
func TestConfigAllowedEnvironment(t *testing.T) {
	path := writeConfig(t, "processors:\n  psp:\n    type: stripe\n    api_key_env: DTMFGW_PSP_KEY\n")
	t.Setenv("DTMFGW_PSP_KEY", "sk_test_1") // the processor reads it itself
	env := []string{"DTMFGW_API_KEY=test-key-0123456789", "DTMFGW_ARTIFACTS=/tmp/a", "DTMFGW_TEST_POSTGRES_DSN=postgres://x", "DTMFGW_PSP_KEY=sk_test_1", "HOME=/root", "XDTMFGW_SIP_X=1"}
	if refusal := checkConfig(t, env, "--config", path); refusal != "" {
		t.Fatal(refusal)
	}
}

// TestConfigAllowsTheHTTPConnectorsVariables: the variables an http
// processor names for its secrets are not refused as unknown keys, and
// the connector is built from the file with nothing more.
func TestConfigAllowsTheHTTPConnectorsVariables(t *testing.T) {
	path := writeConfig(t, "processors:\n  vault:\n    type: http\n    url: http://127.0.0.1:9/pay\n"+
		"    username: dtmfgw\n    password_env: DTMFGW_VAULT_PASSWORD\n    signing_secret_env: DTMFGW_VAULT_SIGNING\n"+
		"  vault2:\n    type: http\n    url: http://127.0.0.1:9/pay\n"+
		"    bearer_token_env: DTMFGW_VAULT_TOKEN\n    signing_secret_env: DTMFGW_VAULT_SIGNING\n")
	vars := map[string]string{"DTMFGW_VAULT_PASSWORD": "pw-0123456789", "DTMFGW_VAULT_TOKEN": "tok-0123456789abcdef",
		"DTMFGW_VAULT_SIGNING": "0123456789abcdef0123456789abcdef"}
	var env []string
	for k, v := range vars {
		t.Setenv(k, v) // the processor reads them itself
		env = append(env, k+"="+v)
	}
	cfg, err := sourcesOf(t, env, "--config", path).Build()
	if err != nil {
		t.Fatal(err)
	}
	ps, err := processor.NewAll(cfg.Processors)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ps["vault"].(*processor.HTTPConnector); !ok {
		t.Errorf("vault = %T, want the HTTP connector", ps["vault"])
	}
	out := mustPrint(t, cfg)
	for _, v := range vars {
		if strings.Contains(out, v) {
			t.Errorf("--print-config shows a secret's value:\n%s", out)
		}
	}
}

// TestConfigPrecedence: embedded defaults < file < environment < flags,
// key by key.
func TestConfigPrecedence(t *testing.T) {
	path := writeConfig(t, "sip:\n  listen: 127.0.0.1:5101\n  default_target: sip:file@127.0.0.1\n  ring_timeout: 20s\nmedia:\n  rtp_ports: 40000-40999\n")
	src := Sources{Path: path, Environ: []string{
		"DTMFGW_SIP_LISTEN=127.0.0.1:5102",
		"DTMFGW_SIP_ACL=10.0.0.0/8, 192.0.2.7",
		"DTMFGW_MEDIA_RTP_PORTS=41000-41999",
		"DTMFGW_LOG_FORMAT=json",
		"DTMFGW_MEDIA_NAT_LATCH=true",
	}}
	src.flags = []flagValue{{flag: serveFlags[0], values: []string{"127.0.0.1:5103"}}}
	cfg, err := src.Build()
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultConfig()
	for _, c := range []struct {
		key       string
		got, want any
	}{
		{"sip.listen (flag over env over file)", cfg.SIP.Listen, "127.0.0.1:5103"},
		{"sip.default_target (file)", cfg.SIP.DefaultTarget, "sip:file@127.0.0.1"},
		{"sip.ring_timeout (file)", cfg.SIP.RingTimeout, 20 * time.Second},
		{"sip.drain_timeout (default)", cfg.SIP.DrainTimeout, def.SIP.DrainTimeout},
		{"sip.acl (env list)", cfg.SIP.ACL, []string{"10.0.0.0/8", "192.0.2.7"}},
		{"media.rtp_ports (env over file)", cfg.Media.RTPPorts.String(), "41000-41999"},
		{"media.nat_latch (env bool)", cfg.Media.NATLatch, true},
		{"log.format (env)", cfg.Log.Format, "json"},
		{"log.level (default)", cfg.Log.Level, "info"},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.key, c.got, c.want)
		}
	}
}

// TestConfigKeysHaveDistinctEnvironmentNames: no two keys share a
// variable, and every flag names a key the environment can set too.
func TestConfigKeysHaveDistinctEnvironmentNames(t *testing.T) {
	seen := map[string]string{}
	for _, k := range configKeys() {
		if other, ok := seen[k.Env]; ok {
			t.Errorf("%s and %s are both %s", k.Path, other, k.Env)
		}
		seen[k.Env] = k.Path
		if _, ok := extraEnv[k.Env]; ok {
			t.Errorf("%s is both a key's variable and an extra one", k.Env)
		}
	}
	for _, f := range serveFlags {
		if k, ok := keyByPath(f.key); !ok || k.Kind == keyFileOnly {
			t.Errorf("--%s sets %s, not a scalar key", f.name, f.key)
		}
	}
}

// TestPrintConfig: the printed configuration loads back to the same
// configuration, and secrets are shown as <redacted>.
func TestPrintConfig(t *testing.T) {
	path := writeConfig(t, "sip:\n  default_target: sip:agent@127.0.0.1:5070\n  routes:\n    - {name: sales, user_prefix: \"44\", target: \"sip:sales@127.0.0.1\"}\nstorage:\n  dsn: postgres://dtmfgw:hunter2@db.example/dtmfgw?sslmode=disable\n")
	built, err := sourcesOf(t, []string{"DTMFGW_MEDIA_RTP_PORTS=42000-42999"}, "--config", path).Build()
	if err != nil {
		t.Fatal(err)
	}
	out, err := PrintConfig(built)
	if err != nil {
		t.Fatal(err)
	}
	printed := string(out)
	if strings.Contains(printed, "hunter2") || !strings.Contains(printed, "postgres://dtmfgw:<redacted>@db.example") {
		t.Errorf("the DSN's password is not redacted:\n%s", printed)
	}
	back, err := LoadConfig(writeConfig(t, printed))
	if err != nil {
		t.Fatalf("the printed configuration does not load: %v\n%s", err, printed)
	}
	want, err := Sources{Path: path, Environ: []string{"DTMFGW_MEDIA_RTP_PORTS=42000-42999"}}.Build()
	if err != nil {
		t.Fatal(err)
	}
	back.Storage.DSN, want.Storage.DSN = "", ""
	// Compared printed: an empty list prints as [] and loads back as an
	// empty slice where the default has nil, the same configuration.
	if b, w := mustPrint(t, back), mustPrint(t, want); b != w {
		t.Errorf("printed and loaded back:\n%s\nwant\n%s", b, w)
	}

	// Secrets by name, in any section.
	cfg := DefaultConfig()
	cfg.Processors = processor.Configs{"psp": {Type: processor.TypeStripe, APIKey: "sk_test_secret123"}}
	b, err := PrintConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "sk_test") || !strings.Contains(string(b), "api_key: <redacted>") {
		t.Errorf("api_key not redacted:\n%s", b)
	}
	for name, secret := range map[string]bool{"api_key": true, "api_keys": true, "form_token_secret": true, "secret": true, "password": true, "bearer_token": true, "signing_secret": true, "form_token_ttl": false, "api_key_env": false, "key": false} {
		if isSecretKey(name) != secret {
			t.Errorf("isSecretKey(%q) = %v, want %v", name, !secret, secret)
		}
	}
}

func TestTheDefaultsAreValid(t *testing.T) {
	if refusal := checkConfig(t, nil); refusal != "" {
		t.Fatal(refusal)
	}
}

func mustPrint(t *testing.T, c Config) string {
	t.Helper()
	b, err := PrintConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

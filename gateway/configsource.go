package gateway

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"dtmfgw/payment"
)

// flagKey is a serve flag that sets a configuration key. Flags are
// decoded through the same YAML decoder as the file and the environment,
// so their types and refusals are the same. A flag of a list key may be
// repeated (and each value may hold several, comma-separated).
type flagKey struct {
	name, key, usage string
}

// serveFlags are the flags of `dtmfgw serve` that set a key; one line
// each. They override the file and the environment.
var serveFlags = []flagKey{
	{"sip-listen", "sip.listen", "SIP address, UDP and TCP"},
	{"default-target", "sip.default_target", "SIP URI calls are bridged to when no route matches"},
	{"rtp-ports", "media.rtp_ports", "RTP port range LOW-HIGH"},
	{"storage", "storage.dsn", "payment records: sqlite:PATH or a postgres:// URL"},
	{"log-format", "log.format", "log format: text or json"},
	{"log-level", "log.level", "log level: debug, info, warn, error"},
	{"http-listen", "http.listen", "public HTTP address of the API and the agent form"},
	{"api-key", "http.api_keys", "an API key for back-end clients (also $DTMFGW_API_KEY, added to the others)"},
	{"admin-listen", "admin.listen", "admin HTTP address: /metrics, /healthz, /readyz, /debug/pprof/"},
}

// flagValue is a key flag as given on the command line.
type flagValue struct {
	flag   flagKey
	values []string
}

// Sources are what the effective configuration is built from, in order
// of precedence: the embedded defaults, the file, the environment, the
// flags. A running gateway keeps them (Options.Sources), so that SIGHUP
// builds the configuration again the same way.
type Sources struct {
	// Path is the configuration file; "" for none.
	Path string
	// Environ is the environment, as os.Environ gives it.
	Environ []string
	// flags are the key flags given, in command-line order.
	flags []flagValue
}

// AddFlags defines on fs the flags `dtmfgw serve` reads its configuration
// from: --config FILE, which sets s.Path, and one flag per key in
// serveFlags (--sip-listen, --default-target…), whose values are kept in
// s in command-line order and override the file and the environment.
func (s *Sources) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.Path, "config", "", "YAML configuration file (every key has an embedded default; docs/configuration.md)")
	def := DefaultConfig()
	for _, f := range serveFlags {
		k, ok := keyByPath(f.key)
		if !ok {
			panic("serve flag --" + f.name + " names no key " + f.key)
		}
		usage := fmt.Sprintf("%s (%s", f.usage, f.key)
		if d := scalarText(k.value(&def)); d != "" {
			usage += "; default " + d
		}
		usage += ")"
		if k.Kind == keyList {
			usage += "; repeatable"
		}
		fs.Func(f.name, usage, func(v string) error {
			for i := range s.flags {
				if s.flags[i].flag.name == f.name {
					s.flags[i].values = append(s.flags[i].values, v)
					return nil
				}
			}
			s.flags = append(s.flags, flagValue{flag: f, values: []string{v}})
			return nil
		})
	}
}

// scalarText is a key's value as the file would hold it, lists
// comma-separated; "" for a structure.
func scalarText(v reflect.Value) string {
	var n yaml.Node
	if n.Encode(v.Interface()) != nil {
		return ""
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value
	case yaml.SequenceNode:
		items := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return ""
			}
			items = append(items, c.Value)
		}
		return strings.Join(items, ",")
	}
	return ""
}

// origins maps a key to where its value came from, when that was the
// environment or a flag: "DTMFGW_SIP_LISTEN" or "--sip-listen".
type origins map[string]string

// Build returns the effective configuration, validated. Every refusal
// names the key and the reason, and where the value came from:
// "FILE: sip.listen: …", "DTMFGW_SIP_LISTEN (sip.listen): …",
// "--sip-listen (sip.listen): …".
func (s Sources) Build() (Config, error) {
	cfg, err := s.buildQuoting()
	return cfg, withholdCardNumbers(err)
}

// withholdCardNumbers masks the digits of the card numbers a refusal
// quotes: a YAML type error, an address or a level parser repeats the
// value given, and a card number pasted into the wrong key must not reach
// the terminal or the journal through the refusal. The refusal still
// names the key; keys never hold 12 digits. Free-text keys refuse a card
// number themselves, without quoting it.
func withholdCardNumbers(err error) error {
	if err == nil || !payment.HoldsCardNumber(err.Error()) {
		return err
	}
	return &withheldError{msg: maskDigitRuns(err.Error()), err: err}
}

// withheldError is an error with its message masked; errors.Is and As
// still see the error it wraps.
type withheldError struct {
	msg string
	err error
}

// Error returns the masked message.
func (e *withheldError) Error() string { return e.msg }

// Unwrap returns the error whose message was masked.
func (e *withheldError) Unwrap() error { return e.err }

// maskDigitRuns replaces with '*' every digit of each run of digits (with
// spaces, hyphens and dots between them) that holds 12 digits or more:
// wider than payment.HoldsCardNumber's catch, so nothing it finds is left.
func maskDigitRuns(s string) string {
	b := []byte(s)
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	for i := 0; i < len(b); {
		if !isDigit(b[i]) {
			i++
			continue
		}
		// The run: digits, and separators that stand between digits.
		j, digits, end := i, 0, i
		for j < len(b) && (isDigit(b[j]) || strings.IndexByte(" -.", b[j]) >= 0) {
			if isDigit(b[j]) {
				digits++
				end = j + 1
			}
			j++
		}
		if digits >= 12 {
			for k := i; k < end; k++ {
				if isDigit(b[k]) {
					b[k] = '*'
				}
			}
		}
		i = max(end, i+1)
	}
	return string(b)
}

// buildQuoting is Build without withholdCardNumbers.
func (s Sources) buildQuoting() (Config, error) {
	cfg, err := LoadConfig(s.Path)
	if err != nil {
		return cfg, err
	}
	from := origins{}
	var errs []error
	errs = append(errs, s.applyEnv(&cfg, from)...)
	for _, f := range s.flags {
		k, _ := keyByPath(f.flag.key)
		if err := k.set(&cfg, f.values); err != nil {
			errs = append(errs, fmt.Errorf("--%s (%s): %w", f.flag.name, k.Path, err))
			continue
		}
		from[k.Path] = "--" + f.flag.name
	}
	// DTMFGW_API_KEY adds one key to http.api_keys, whatever else set
	// them (the variable the deployment guides name).
	for _, kv := range s.Environ {
		if k, ok := strings.CutPrefix(kv, "DTMFGW_API_KEY="); ok && k != "" {
			cfg.HTTP.APIKeys = append(cfg.HTTP.APIKeys, k)
		}
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, from.annotate(err, s.Path))
	}
	return cfg, errors.Join(errs...)
}

// applyEnv sets the keys the environment names. A DTMFGW_ variable that
// names no key is refused unless extraEnv or extraEnvPrefixes allow it,
// or a processor names it for a secret (api_key_env, password_env,
// bearer_token_env, signing_secret_env).
func (s Sources) applyEnv(cfg *Config, from origins) []error {
	byEnv := map[string]configKey{}
	for _, k := range configKeys() {
		byEnv[k.Env] = k
	}
	allowed := map[string]bool{}
	for name := range extraEnv {
		allowed[name] = true
	}
	for _, name := range cfg.Processors.EnvNames() {
		allowed[name] = true
	}
	if name := cfg.SMS.Twilio.AuthTokenEnv; name != "" {
		allowed[name] = true
	}
	env := slices.Clone(s.Environ)
	slices.Sort(env)
	var errs []error
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) {
			continue
		}
		k, ok := byEnv[name]
		switch {
		case ok:
			if err := k.set(cfg, []string{value}); err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %w", name, k.Path, err))
				continue
			}
			from[k.Path] = name
		case allowed[name] || slices.ContainsFunc(extraEnvPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }):
		default:
			errs = append(errs, fmt.Errorf("%s: not a configuration key or a known variable (docs/configuration.md lists them)", name))
		}
	}
	return errs
}

// annotate rewrites each line of a validation error that starts with a
// key set by the environment or a flag as "SOURCE (key…): reason", and
// prefixes the others with the file's name when there is a file.
func (o origins) annotate(err error, path string) error {
	lines := strings.Split(err.Error(), "\n")
	for i, line := range lines {
		key, rest, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		if src := o.sourceOf(key); src != "" {
			lines[i] = src + " (" + key + "): " + rest
		} else if path != "" {
			lines[i] = path + ": " + line
		}
	}
	return errors.New(strings.Join(lines, "\n"))
}

// sourceOf returns where key (maybe with an index or a subkey: "sip.acl[1]")
// came from, or "".
func (o origins) sourceOf(key string) string {
	best, src := 0, ""
	for k, s := range o {
		if len(k) > best && (key == k || strings.HasPrefix(key, k+"[") || strings.HasPrefix(key, k+".")) {
			best, src = len(k), s
		}
	}
	return src
}

// redacted replaces a secret's value in the printed configuration.
const redacted = "<redacted>"

// isSecretKey reports whether a key's value is a secret: by the last part
// of its name, so that other sections' secrets are covered when they
// follow the naming (api_key, api_keys, *_secret, *_password, *_token).
func isSecretKey(name string) bool {
	switch name {
	case "api_key", "api_keys", "secret", "secrets", "password", "token", "tokens":
		return true
	}
	for _, suffix := range []string{"_secret", "_secrets", "_password", "_token", "_tokens"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

// PrintConfig renders c as the YAML file that would configure it, with
// secrets (and a password in a DSN) shown as "<redacted>".
func PrintConfig(c Config) ([]byte, error) {
	var doc yaml.Node
	if err := doc.Encode(c); err != nil {
		return nil, err
	}
	redactNode(&doc, "")
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// redactNode redacts the secrets under n, whose key is name.
func redactNode(n *yaml.Node, name string) {
	switch {
	case isSecretKey(name):
		switch n.Kind {
		case yaml.ScalarNode:
			if n.Value != "" {
				*n = yaml.Node{Kind: yaml.ScalarNode, Value: redacted}
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				*c = yaml.Node{Kind: yaml.ScalarNode, Value: redacted}
			}
		}
		return
	case name == "dsn" && n.Kind == yaml.ScalarNode:
		n.Value = redactDSN(n.Value)
		return
	}
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			redactNode(c, name)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			redactNode(n.Content[i+1], n.Content[i].Value)
		}
	}
}

// redactDSN hides the password of a URL DSN (postgres://user:pw@host/db)
// and any password= parameter.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "REDACTED")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "REDACTED")
		u.RawQuery = q.Encode()
	}
	return strings.ReplaceAll(u.String(), "REDACTED", redacted)
}

package gateway

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// envPrefix starts every environment variable dtmfgw reads.
const envPrefix = "DTMFGW_"

// extraEnv are the DTMFGW_ variables that are not configuration keys but
// are read by dtmfgw or its tests; any other DTMFGW_ variable that names
// no key is refused, so that a typo does not pass silently. One line each.
var extraEnv = map[string]string{
	"DTMFGW_API_KEY":   "an API key, besides http.api_keys",
	"DTMFGW_ARTIFACTS": "where the browser tests save screenshots",
}

// extraEnvPrefixes are families of variables the test harnesses use
// (DTMFGW_TEST_POSTGRES_DSN, DTMFGW_TEST_STRIPE_KEY…), allowed so that
// `make test` can set them while serve tests run.
var extraEnvPrefixes = []string{"DTMFGW_TEST_"}

// reloadable are the keys SIGHUP applies to a running gateway (a key is
// reloadable when it is one of these or under one); every other key needs
// a restart, and a change to it is logged and ignored by a reload.
var reloadable = []string{
	"sip.default_target", "sip.acl", "sip.routes", "sip.override_header", "sip.override_acl",
	"sip.headers", "sip.ring_timeout", "sip.drain_timeout",
	"payments.configurations",
	"log.level",
}

// isReloadable reports whether a change to key is applied by SIGHUP.
func isReloadable(key string) bool {
	for _, r := range reloadable {
		if key == r || strings.HasPrefix(key, r+".") || strings.HasPrefix(key, r+"[") {
			return true
		}
	}
	return false
}

// keyKind says how a key can be set.
type keyKind int

const (
	// keyScalar is one value: from the file, the environment or a flag.
	keyScalar keyKind = iota
	// keyList is a list of scalars: in the environment and on a flag,
	// comma-separated.
	keyList
	// keyFileOnly is a list of structures or a map (routes, payment
	// configurations, processors): only the file can set it.
	keyFileOnly
)

// configKey is one leaf of the configuration, found by walking Config's
// yaml tags: a new section gets its keys, environment variables, the
// printed configuration and its place in the reload diff with no code.
type configKey struct {
	// Path is the key as written in the file: "sip.listen".
	Path string
	// Env is the environment variable that sets it: "DTMFGW_SIP_LISTEN".
	Env string
	// Kind says whether the environment and flags can set it.
	Kind keyKind
	// Type is the Go type of the value.
	Type reflect.Type
	// index finds the field from Config.
	index []int
}

var (
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()
	durationType    = reflect.TypeFor[time.Duration]()
)

// configKeys returns every key of Config, in the order of the fields.
func configKeys() []configKey {
	var keys []configKey
	walkKeys(reflect.TypeFor[Config](), "", nil, &keys)
	return keys
}

// envName is the environment variable of a key: DTMFGW_ and the key upper
// cased, with dots as underscores.
func envName(path string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

func walkKeys(t reflect.Type, prefix string, index []int, keys *[]configKey) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		idx := append(slices.Clone(index), i)
		if strings.Contains(","+opts+",", ",inline,") {
			walkKeys(f.Type, prefix, idx, keys)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's default
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case isScalar(ft):
			*keys = append(*keys, configKey{Path: path, Env: envName(path), Kind: keyScalar, Type: f.Type, index: idx})
		case ft.Kind() == reflect.Slice && isScalar(ft.Elem()):
			*keys = append(*keys, configKey{Path: path, Env: envName(path), Kind: keyList, Type: f.Type, index: idx})
		case ft.Kind() == reflect.Struct:
			walkKeys(ft, path, idx, keys)
		default:
			*keys = append(*keys, configKey{Path: path, Env: envName(path), Kind: keyFileOnly, Type: f.Type, index: idx})
		}
	}
}

// isScalar reports whether a value of t is written as one YAML scalar.
func isScalar(t reflect.Type) bool {
	if t == durationType || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return true
	}
	if reflect.PointerTo(t).Implements(yamlUnmarshaler) {
		return false // decodes itself, usually from a structure
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// keyByPath returns the key named path.
func keyByPath(path string) (configKey, bool) {
	for _, k := range configKeys() {
		if k.Path == path {
			return k, true
		}
	}
	return configKey{}, false
}

// value returns the key's field in c.
func (k configKey) value(c *Config) reflect.Value {
	return reflect.ValueOf(c).Elem().FieldByIndex(k.index)
}

// set decodes values into the key's field of c through the YAML decoder,
// so that types, parsers and their errors are the file's: one value for a
// scalar; for a list, each value is split at commas. The error is the
// decoder's, without its "yaml:" and line decorations.
func (k configKey) set(c *Config, values []string) error {
	var leaf *yaml.Node
	switch k.Kind {
	case keyScalar:
		leaf = scalarNode(values[len(values)-1])
	case keyList:
		leaf = &yaml.Node{Kind: yaml.SequenceNode}
		for _, v := range values {
			for item := range strings.SplitSeq(v, ",") {
				if item = strings.TrimSpace(item); item != "" {
					leaf.Content = append(leaf.Content, scalarNode(item))
				}
			}
		}
	default:
		return fmt.Errorf("a %s; set it in the configuration file", kindName(k.Type))
	}
	node := leaf
	parts := strings.Split(k.Path, ".")
	for i := len(parts) - 1; i >= 0; i-- {
		node = &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: parts[i]}, node}}
	}
	if err := node.Decode(c); err != nil {
		return cleanYAMLError(err)
	}
	return nil
}

// scalarNode is a plain scalar whose type YAML resolves as in a file
// ("true", "20", "60s"), except that a value YAML would read as null (an
// empty variable, "~") is a string: an empty variable sets the key to
// empty rather than being ignored.
func scalarNode(v string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: v}
	if n.ShortTag() == "!!null" {
		n.Tag = "!!str"
	}
	return n
}

// kindName describes a file-only key's type for its refusal.
func kindName(t reflect.Type) string {
	if t.Kind() == reflect.Map {
		return "map of structures"
	}
	return "list of structures"
}

var yamlLine = regexp.MustCompile(`line \d+: `)

// cleanYAMLError drops what yaml adds for a file (no file, no line here).
func cleanYAMLError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = yamlLine.ReplaceAllString(m, "")
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return errors.New(yamlLine.ReplaceAllString(strings.TrimPrefix(err.Error(), "yaml: "), ""))
}

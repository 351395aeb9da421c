package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"

	"dtmfgw/api"
	"dtmfgw/call"
	"dtmfgw/cluster"
	"dtmfgw/metrics"
	"dtmfgw/payment"
	"dtmfgw/processor"
	"dtmfgw/sip"
	"dtmfgw/sms"
	"dtmfgw/webhook"
)

// maxConfigSize bounds the configuration file: it is read whole.
const maxConfigSize = 1 << 20

// Config is the whole configuration file (docs/configuration.md is its
// reference). Every section starts from its embedded default, so an empty
// file (or none) runs the gateway as `make run` does.
type Config struct {
	SIP        sip.Config        `yaml:"sip"`
	Media      call.MediaConfig  `yaml:"media"`
	Payments   payment.Settings  `yaml:"payments"`
	Processors processor.Configs `yaml:"processors"`
	Storage    StorageConfig     `yaml:"storage"`
	HTTP       api.Config        `yaml:"http"`
	Log        LogConfig         `yaml:"log"`
	// Webhooks is how results reach each configuration's webhook.
	Webhooks webhook.Config `yaml:"webhooks"`
	// SMS is how digital payments' links reach the caller.
	SMS sms.Config `yaml:"sms"`
	// Cluster is this node among the others sharing the store.
	Cluster cluster.Config `yaml:"cluster"`
	Admin   AdminConfig    `yaml:"admin"`
}

// AdminConfig is the "admin:" section: the operator's HTTP listener
// (/metrics, /healthz, /readyz, /debug/pprof/).
type AdminConfig struct {
	// Listen is the admin listener's address, host:port.
	Listen string `yaml:"listen"`
}

// StorageConfig is the "storage:" section.
type StorageConfig struct {
	// DSN is "sqlite:PATH" or a postgres:// URL (package store).
	DSN string `yaml:"dsn"`
}

// defaultDSN keeps payment records in a SQLite file under ./data.
const defaultDSN = "sqlite:data/dtmfgw.db"

// LogConfig is the "log:" section.
type LogConfig struct {
	// Format is "text" or "json".
	Format string `yaml:"format"`
	// Level is "debug", "info", "warn" or "error".
	Level string `yaml:"level"`
}

// DefaultConfig returns the embedded defaults.
func DefaultConfig() Config {
	return Config{
		SIP:        sip.DefaultConfig(),
		Media:      call.DefaultMediaConfig(),
		Payments:   defaultPayments(),
		Processors: processor.DefaultConfigs(),
		Storage:    StorageConfig{DSN: defaultDSN},
		HTTP:       api.DefaultConfig(),
		Log:        LogConfig{Format: "text", Level: "info"},
		Webhooks:   webhook.DefaultConfig(),
		SMS:        sms.Config{Provider: sms.OutboxName},
		Cluster:    cluster.DefaultConfig(),
		Admin:      AdminConfig{Listen: metrics.DefaultAdminListen},
	}
}

// LoadConfig reads path over the defaults ("" means none). Unknown keys
// are errors (a typo must not silently fall back to a default); YAML
// errors carry the line.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	if path == "" {
		return cfg, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return cfg, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return cfg, err
	}
	if len(data) > maxConfigSize {
		return cfg, fmt.Errorf("%s: larger than %d bytes", path, maxConfigSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			// A value's own parser (a port range, a policy, an address)
			// failed: yaml gives no key, so find it.
			if key := failingKey(data); key != "" {
				return cfg, fmt.Errorf("%s: %s: %w", path, key, err)
			}
		}
		return cfg, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return cfg, nil
}

// failingKey returns the "section.key" whose value alone fails to decode
// into the configuration, or "".
func failingKey(data []byte) string {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return ""
	}
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		section, body := top.Content[i], top.Content[i+1]
		if body.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(body.Content); j += 2 {
			one := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{section, {
				Kind: yaml.MappingNode, Content: []*yaml.Node{body.Content[j], body.Content[j+1]},
			}}}
			probe := DefaultConfig()
			if one.Decode(&probe) != nil {
				return section.Value + "." + body.Content[j].Value
			}
		}
	}
	return ""
}

// Validate checks every section; each message names its key.
func (c *Config) Validate() error {
	var errs []error
	if err := c.SIP.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Media.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Payments.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Processors.Validate(); err != nil {
		errs = append(errs, err)
	}
	for name := range c.Processors {
		// The name is the key: say which without repeating it. (package
		// processor sits below payment and cannot ask it.)
		if payment.HoldsCardNumber(name) {
			errs = append(errs, errors.New("processors: a processor's name holds what looks like a card number"))
		}
	}
	for i, pc := range c.Payments.Configurations {
		if _, ok := c.Processors[pc.Processor]; !ok {
			errs = append(errs, fmt.Errorf("payments.configurations[%d].processor: no processor %q under processors", i, pc.Processor))
		}
	}
	if err := c.HTTP.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Webhooks.Validate(); err != nil {
		errs = append(errs, err)
	}
	// The SMS provider's secret comes from the variable it names: checked
	// as it will be used.
	smsCfg := c.SMS
	if err := smsCfg.Resolve(os.Getenv); err != nil {
		errs = append(errs, err)
	} else if err := smsCfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Storage.DSN == "" {
		errs = append(errs, errors.New("storage.dsn: empty"))
	}
	if err := c.Cluster.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Cluster.Enabled {
		// Nodes share the truth in PostgreSQL, and each must take the
		// form tokens the others minted.
		if !strings.HasPrefix(c.Storage.DSN, "postgres://") && !strings.HasPrefix(c.Storage.DSN, "postgresql://") {
			errs = append(errs, errors.New("cluster.enabled: several nodes share a PostgreSQL store: storage.dsn must be a postgres:// URL"))
		}
		if c.HTTP.FormTokenSecret == "" {
			errs = append(errs, errors.New("cluster.enabled: http.form_token_secret must be set, the same on every node (a form token minted by one node is checked by the others)"))
		}
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q is not text or json", c.Log.Format))
	}
	if _, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
		errs = append(errs, fmt.Errorf("admin.listen: %q is not host:port", c.Admin.Listen))
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		errs = append(errs, fmt.Errorf("log.level: %w", err))
	}
	return errors.Join(errs...)
}

// defaultPayments is the built-in payment configuration, which takes both
// payment types: the agent's form asks which.
func defaultPayments() payment.Settings {
	ps := payment.DefaultSettings()
	for i := range ps.Configurations {
		ps.Configurations[i].Types = []payment.PaymentType{payment.TypeAgentAssist, payment.TypeDigital}
	}
	return ps
}

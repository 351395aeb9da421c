package api

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidateNamesTheKey(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
		key  string
	}{
		{"listen", func(c *Config) { c.Listen = "8080" }, "http.listen"},
		{"public url", func(c *Config) { c.PublicURL = "ftp://x" }, "http.public_url"},
		{"public url query", func(c *Config) { c.PublicURL = "https://x/?a=b" }, "http.public_url"},
		{"short key", func(c *Config) { c.APIKeys = []string{"short"} }, "http.api_keys[0]"},
		{"key with space", func(c *Config) { c.APIKeys = []string{"0123456789abcdef", "0123456789 abcdef"} }, "http.api_keys[1]"},
		{"ttl", func(c *Config) { c.FormTokenTTL = time.Second }, "http.form_token_ttl"},
		{"secret", func(c *Config) { c.FormTokenSecret = "short" }, "http.form_token_secret"},
		{"tls cert only", func(c *Config) { c.TLS.CertFile = "cert.pem" }, "http.tls.key_file"},
		{"tls key only", func(c *Config) { c.TLS.KeyFile = "key.pem" }, "http.tls.cert_file"},
	} {
		cfg := DefaultConfig()
		c.edit(&cfg)
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.key+":") {
			t.Errorf("%s: %v", c.name, err)
		}
		if err != nil && strings.Contains(err.Error(), "0123456789") {
			t.Errorf("%s: the key is in the error", c.name)
		}
	}
}

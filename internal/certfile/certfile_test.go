package certfile

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"dtmfgw/internal/testkit/tlstest"
)

// copyPair writes the files of c at cert and key, as a renewal does.
func copyPair(t *testing.T, c tlstest.Cert, cert, key string) {
	t.Helper()
	for _, f := range [][2]string{{c.CertFile, cert}, {c.KeyFile, key}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func leafOf(t *testing.T, c tlstest.Cert) []byte {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return pair.Certificate[0]
}

func served(p *Pair) []byte {
	c, _ := p.Certificate(nil)
	return c.Certificate[0]
}

// Reload swaps in a renewed pair; a pair that does not load leaves the
// one in use and says which key is at fault; handshakes racing a reload
// always get a whole pair.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	first, renewed := tlstest.SelfSigned(t, t.TempDir()), tlstest.SelfSigned(t, t.TempDir())
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	copyPair(t, first, cert, key)
	p, err := Load(cert, key, "x.cert", "x.key")
	if err != nil {
		t.Fatal(err)
	}
	if string(served(p)) != string(leafOf(t, first)) {
		t.Fatal("Load does not serve the files' certificate")
	}
	if p.NotAfter().IsZero() {
		t.Error("no expiry known")
	}
	if cfg := p.Config(tls.VersionTLS12); cfg.MinVersion != tls.VersionTLS12 || cfg.GetCertificate == nil || len(cfg.Certificates) != 0 {
		t.Errorf("Config %+v: want the certificate taken at each handshake, TLS 1.2 at least", cfg)
	}

	copyPair(t, renewed, cert, key)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				c, _ := p.Certificate(nil)
				if c == nil || c.PrivateKey == nil || len(c.Certificate) == 0 {
					t.Error("a handshake during a reload got no whole pair")
					return
				}
			}
		}()
	}
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if string(served(p)) != string(leafOf(t, renewed)) {
		t.Fatal("Reload does not serve the renewed certificate")
	}

	for _, c := range []struct {
		name    string
		prepare func()
		wantKey string
	}{
		{"key of another certificate", func() { copyPair(t, renewed, cert, key); copyPair(t, first, filepath.Join(dir, "x"), key) }, "x.key: not the private key of x.cert"},
		{"certificate gone", func() { os.Remove(cert) }, "x.cert:"},
		{"certificate not PEM", func() { os.WriteFile(cert, []byte("renewing…"), 0o600) }, "x.cert:"},
		{"key empty", func() { copyPair(t, renewed, cert, key); os.WriteFile(key, nil, 0o600) }, "x.key:"},
	} {
		c.prepare()
		err := p.Reload()
		if err == nil || !strings.HasPrefix(err.Error(), c.wantKey) {
			t.Errorf("%s: %v, want an error starting %q", c.name, err, c.wantKey)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%s: the error holds key material: %v", c.name, err)
		}
		if string(served(p)) != string(leafOf(t, renewed)) {
			t.Fatalf("%s: a failed reload changed the certificate in use", c.name)
		}
	}
}

func TestLoadNamesMissingFiles(t *testing.T) {
	if _, err := Load("", "k.pem", "a.cert", "a.key"); err == nil || err.Error() != "a.cert: required with a.key" {
		t.Errorf("no certificate file: %v", err)
	}
	if _, err := Load("c.pem", "", "a.cert", "a.key"); err == nil || err.Error() != "a.key: required with a.cert" {
		t.Errorf("no key file: %v", err)
	}
}

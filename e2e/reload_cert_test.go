package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
	"dtmfgw/internal/testkit/tlstest"
)

// TestServeReloadsCertificatesOnSIGHUP serves HTTPS and SIP over TLS from
// certificate files, renews both files as a certificate manager would, and
// delivers SIGHUP: new handshakes on both listeners get the renewed
// certificate, a connection opened before it still works, and a renewal
// caught half written (a key that is not the certificate's) is refused
// naming both keys, the renewed certificate staying in use.
func TestServeReloadsCertificatesOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	first := tlstest.SelfSigned(t, t.TempDir())
	renewed := tlstest.SelfSignedFor(t, t.TempDir(), 90*24*time.Hour) // expires later, as a renewal does
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	install := func(certFrom, keyFrom string) {
		t.Helper()
		for _, f := range [][2]string{{certFrom, certFile}, {keyFrom, keyFile}} {
			b, err := os.ReadFile(f[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f[1], b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(first.CertFile, first.KeyFile)
	sipTLS := "127.0.0.1:" + strconv.Itoa(testkit.FreePort(t))
	yaml := "sip:\n  tls:\n    cert: " + certFile + "\n    key: " + keyFile + "\n    listen: " + sipTLS + "\n" +
		"http:\n  tls:\n    cert_file: " + certFile + "\n    key_file: " + keyFile + "\n"
	g := startGateway(t, yaml)
	httpLn := g.HTTP
	sighup := func() error { t.Helper(); return g.Reload(t, yaml) }
	// expiry returns what the admin listener's metrics say of listener's
	// certificate: its NotAfter, as a Unix time.
	expiry := func(listener string) int64 {
		t.Helper()
		res, err := http.Get("http://" + g.Admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		prefix := `dtmfgw_tls_certificate_expiry_timestamp_seconds{listener="` + listener + `"} `
		for line := range strings.Lines(string(body)) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				return int64(f)
			}
		}
		t.Fatalf("no expiry series for %s in /metrics", listener)
		return 0
	}

	// served returns the certificate a new handshake at addr presents,
	// trusting only pool.
	served := func(addr string, pool *x509.CertPool) (*x509.Certificate, *tls.Conn) {
		t.Helper()
		d := &net.Dialer{Timeout: 5 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatalf("TLS to %s: %v", addr, err)
		}
		return c.ConnectionState().PeerCertificates[0], c
	}
	leaf := func(c tlstest.Cert) *x509.Certificate {
		t.Helper()
		pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		return pair.Leaf
	}
	for _, l := range []string{"http", "sip"} {
		if got, want := expiry(l), leaf(first).NotAfter.Unix(); got != want {
			t.Errorf("%s certificate expiry %d in the metrics, want %d", l, got, want)
		}
	}
	var before []*tls.Conn
	for _, addr := range []string{httpLn, sipTLS} {
		got, conn := served(addr, first.Pool)
		if !got.Equal(leaf(first)) {
			t.Fatalf("%s serves %v, want the first certificate", addr, got.SerialNumber)
		}
		before = append(before, conn)
	}
	defer func() {
		for _, c := range before {
			c.Close()
		}
	}()

	install(renewed.CertFile, renewed.KeyFile)
	if err := sighup(); err != nil {
		t.Fatalf("reload refused: %v\n%s", err, g.Log.String())
	}
	for _, addr := range []string{httpLn, sipTLS} {
		got, conn := served(addr, renewed.Pool)
		conn.Close()
		if !got.Equal(leaf(renewed)) {
			t.Fatalf("%s serves %v after the reload, want the renewed certificate", addr, got.SerialNumber)
		}
	}
	// The HTTPS connection opened before the reload still carries requests
	// (answered, whatever the answer: the handshake is what is at stake).
	if _, err := before[0].Write([]byte("GET /v1/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")); err != nil {
		t.Fatalf("a connection opened before the reload: %v", err)
	}
	_ = before[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if b := make([]byte, 12); func() error { _, err := before[0].Read(b); return err }() != nil || !strings.HasPrefix(string(b), "HTTP/1.1 ") {
		t.Fatalf("a connection opened before the reload got %q", b)
	}
	for _, listener := range []string{"http", "sip"} {
		if want := `"msg":"certificate reloaded","listener":"` + listener + `"`; !strings.Contains(g.Log.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, g.Log.String())
		}
		if got, want := expiry(listener), leaf(renewed).NotAfter.Unix(); got != want {
			t.Errorf("%s certificate expiry %d in the metrics after the reload, want the renewed one's %d", listener, got, want)
		}
	}

	// Half written: the first certificate's key beside the renewed
	// certificate. Refused, named, and the renewed one stays.
	install(renewed.CertFile, first.KeyFile)
	err := sighup()
	if err == nil || !strings.Contains(err.Error(), "http.tls.key_file") || !strings.Contains(err.Error(), "sip.tls.key") {
		t.Fatalf("reload of a mismatched pair: %v, want a refusal naming http.tls.key_file and sip.tls.key", err)
	}
	if !strings.Contains(g.Log.String(), `"msg":"certificate reload refused; the certificate in use stays"`) {
		t.Errorf("the refusal is not logged:\n%s", g.Log.String())
	}
	for _, addr := range []string{httpLn, sipTLS} {
		got, conn := served(addr, renewed.Pool)
		conn.Close()
		if !got.Equal(leaf(renewed)) {
			t.Fatalf("%s serves %v after a refused reload, want the renewed certificate still", addr, got.SerialNumber)
		}
	}
	if strings.Contains(g.Log.String(), "PRIVATE KEY") {
		t.Error("the log holds key material")
	}
}

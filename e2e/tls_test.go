package e2e

import (
	"crypto/tls"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dtmfgw/internal/testkit/tlstest"
)

// TestServeTLS: a gateway with http.tls configured answers the API over
// HTTPS; a configuration with one file of the two, or a file that is not
// there, is refused at start naming the key.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	cert := tlstest.SelfSigned(t, dir)
	missing := filepath.Join(dir, "missing.pem")
	tlsYAML := func(certFile, keyFile string) string {
		s := "http:\n  tls:\n"
		if certFile != "" {
			s += "    cert_file: " + certFile + "\n"
		}
		if keyFile != "" {
			s += "    key_file: " + keyFile + "\n"
		}
		return s
	}
	for _, c := range []struct {
		name      string
		cert, key string
		refused   string // the key named; "" when the gateway must start
	}{
		{"https", cert.CertFile, cert.KeyFile, ""},
		{"cert only", cert.CertFile, "", "http.tls.key_file"},
		{"key only", "", cert.KeyFile, "http.tls.cert_file"},
		{"cert missing", missing, cert.KeyFile, "http.tls.cert_file"},
		{"key missing", cert.CertFile, missing, "http.tls.key_file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.refused != "" {
				gw, err := tryStartGateway(t, tlsYAML(c.cert, c.key))
				if err == nil {
					gw.Stop()
					t.Fatalf("started, want a refusal naming %s", c.refused)
				}
				if !strings.Contains(err.Error(), c.refused+":") {
					t.Fatalf("%v, want a refusal naming %s", err, c.refused)
				}
				if strings.Contains(gw.Log.String(), "dtmfgw serving") {
					t.Errorf("served before refusing:\n%s", gw.Log.String())
				}
				return
			}
			gw := startGateway(t, tlsYAML(c.cert, c.key))
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: cert.Pool},
			}}
			defer client.CloseIdleConnections()
			req, err := http.NewRequest("GET", "https://"+gw.HTTP+"/v1/configurations", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+gw.Key)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.TLS == nil || !strings.Contains(string(body), `"id":"card"`) {
				t.Errorf("GET /v1/configurations over HTTPS: %d %s", resp.StatusCode, body)
			}
			if !strings.Contains(gw.Log.String(), `"https":true`) {
				t.Errorf("the serving line does not say https:\n%s", gw.Log.String())
			}
			if err := gw.Stop(); err != nil {
				t.Fatalf("stop: %v\n%s", err, gw.Log.String())
			}
		})
	}
}

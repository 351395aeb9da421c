package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
	"dtmfgw/internal/testkit/tlstest"
)

// TestServeTLS: a gateway with http.tls configured answers the API over
// HTTPS; a configuration with one file of the two, or a file that is not
// there, is refused at start naming the key.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	cert := tlstest.SelfSigned(t, dir)
	missing := filepath.Join(dir, "missing.pem")
	first := testkit.FreeRange(t, testkit.ZoneE2E, 4)
	base := fmt.Sprintf("sip:\n  listen: 127.0.0.1:0\nmedia:\n  rtp_ports: %d-%d\nadmin:\n  listen: 127.0.0.1:0\nstorage:\n  dsn: sqlite:%s\nhttp:\n  listen: 127.0.0.1:0\n",
		first, first+7, filepath.Join(dir, "dtmfgw.db"))
	tlsYAML := func(certFile, keyFile string) string {
		s := "  tls:\n"
		if certFile != "" {
			s += "    cert_file: " + certFile + "\n"
		}
		if keyFile != "" {
			s += "    key_file: " + keyFile + "\n"
		}
		return s
	}
	const apiKey = "serve-tls-key-0123456789"
	for _, c := range []struct {
		name      string
		cert, key string
		refused   string // the key named; "" when serve must start
	}{
		{"https", cert.CertFile, cert.KeyFile, ""},
		{"cert only", cert.CertFile, "", "http.tls.key_file"},
		{"key only", "", cert.KeyFile, "http.tls.cert_file"},
		{"cert missing", missing, cert.KeyFile, "http.tls.cert_file"},
		{"key missing", cert.CertFile, missing, "http.tls.key_file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dtmfgw.yaml")
			if err := os.WriteFile(path, []byte(base+tlsYAML(c.cert, c.key)), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"--config", path, "--log-format", "json", "--api-key", apiKey}
			if c.refused != "" {
				var stderr bytes.Buffer
				code := run(context.Background(), append([]string{"serve"}, args...), &bytes.Buffer{}, &stderr)
				if code != 1 || !strings.Contains(stderr.String(), c.refused+":") {
					t.Fatalf("exit %d, want 1 naming %s; stderr:\n%s", code, c.refused, stderr.String())
				}
				if strings.Contains(stderr.String(), "dtmfgw serving") {
					t.Errorf("served before refusing:\n%s", stderr.String())
				}
				return
			}
			started := make(chan *gateway, 1)
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			var logs syncBuffer
			exited := make(chan error, 1)
			go func() {
				exited <- runServeWith(ctx, args, nil, &bytes.Buffer{}, &logs, serveHooks{
					started: func(g *gateway) { started <- g },
				})
			}()
			var g *gateway
			select {
			case g = <-started:
			case err := <-exited:
				t.Fatalf("serve exited: %v\n%s", err, logs.String())
			case <-time.After(10 * time.Second):
				t.Fatal("serve did not start")
			}
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: cert.Pool},
			}}
			defer client.CloseIdleConnections()
			req, err := http.NewRequest("GET", "https://"+g.httpAddr.String()+"/v1/configurations", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+apiKey)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.TLS == nil || !strings.Contains(string(body), `"id":"card"`) {
				t.Errorf("GET /v1/configurations over HTTPS: %d %s", resp.StatusCode, body)
			}
			if !strings.Contains(logs.String(), `"https":true`) {
				t.Errorf("the serving line does not say https:\n%s", logs.String())
			}
			stop()
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("serve: %v\n%s", err, logs.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("serve did not stop")
			}
		})
	}
}

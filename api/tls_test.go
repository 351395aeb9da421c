package api

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dtmfgw/call"
	"dtmfgw/internal/testkit/tlstest"
	"dtmfgw/payment"
)

// TestTLSLoadNamesTheFile: every file problem is refused by Load (and so
// by New, at start) naming the key of the file at fault, and no error
// quotes the key.
func TestTLSLoadNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	good := tlstest.SelfSigned(t, dir)
	other := tlstest.SelfSigned(t, t.TempDir())
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM at all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	keyPEM, err := os.ReadFile(good.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	keyBody := strings.Split(string(keyPEM), "\n")[1] // the first base64 line
	for _, c := range []struct {
		name       string
		cert, key  string
		wantKey    string // "" means no error
		wantEnable bool
	}{
		{"none", "", "", "", false},
		{"good", good.CertFile, good.KeyFile, "", true},
		{"cert missing", missing, good.KeyFile, "http.tls.cert_file:", true},
		{"key missing", good.CertFile, missing, "http.tls.key_file:", true},
		{"cert not PEM", garbage, good.KeyFile, "http.tls.cert_file:", true},
		{"key is a certificate", good.CertFile, good.CertFile, "http.tls.key_file:", true},
		{"key not PEM", good.CertFile, garbage, "http.tls.key_file:", true},
		{"another certificate's key", good.CertFile, other.KeyFile, "http.tls.key_file:", true},
		{"cert only", good.CertFile, "", "http.tls.key_file:", true},
		{"key only", "", good.KeyFile, "http.tls.cert_file:", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			tc, err := TLSConfig{CertFile: c.cert, KeyFile: c.key}.Load()
			if c.wantKey == "" {
				if err != nil {
					t.Fatal(err)
				}
				if (tc != nil) != c.wantEnable {
					t.Fatalf("certificate %v, want one: %v", tc, c.wantEnable)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantKey) || !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v, want one naming %s", err, c.wantKey)
			}
			if strings.Contains(err.Error(), keyBody) || strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("the key is in the error: %v", err)
			}
			cfg := DefaultConfig()
			cfg.TLS = TLSConfig{CertFile: c.cert, KeyFile: c.key}
			if _, err := New(cfg, nil, &payment.Payments{}, nil, nil); err == nil || !strings.Contains(err.Error(), c.wantKey) {
				t.Errorf("New: %v, want an error naming %s", err, c.wantKey)
			}
		})
	}
}

// TestServeTLS serves the API with a certificate made for the test: it
// answers over HTTPS, plain HTTP on the same port gets no answer from
// the API, TLS before 1.2 is refused, HTTP/2 is offered (ALPN), and
// form URLs are https.
func TestServeTLS(t *testing.T) {
	cert := tlstest.SelfSigned(t, t.TempDir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	e := newTestEnv(t, envOptions{edit: func(c *Config) {
		c.Listen, c.PublicURL = addr, "" // form URLs from the listener
		c.TLS = TLSConfig{CertFile: cert.CertFile, KeyFile: cert.KeyFile}
	}})
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return")
		}
	})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: cert.Pool},
	}}
	t.Cleanup(client.CloseIdleConnections)
	do := func(method, url, body string) (*http.Response, []byte, error) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, url, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+testKey)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}

	t.Run("api over https", func(t *testing.T) {
		resp, b, err := do("GET", "https://"+addr+"/v1/configurations", "")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.TLS == nil || !strings.Contains(string(b), `"configurations"`) {
			t.Fatalf("%d tls=%v %s", resp.StatusCode, resp.TLS != nil, b)
		}
	})

	t.Run("form url is https", func(t *testing.T) {
		theCall := e.newCall(call.Correlation{AgentID: "agent-tls"})
		resp, b, err := do("POST", "https://"+addr+"/v1/payments", `{"call_id":"`+theCall.ID()+`","prefill":{"amount":100}}`)
		if err != nil {
			t.Fatal(err)
		}
		var out created
		if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &out) != nil {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		if want := "https://" + addr + "/form/" + out.Payment.ID + "#token="; !strings.HasPrefix(out.FormURL, want) {
			t.Errorf("form_url %q, want it to start %q", out.FormURL, want)
		}
	})

	t.Run("plain http refused", func(t *testing.T) {
		// net/http answers a plain request on a TLS port with a bare 400
		// of its own; the API never sees it.
		resp, b, err := do("GET", "http://"+addr+"/v1/configurations", "")
		if err == nil && (resp.StatusCode != http.StatusBadRequest || strings.Contains(string(b), "configurations")) {
			t.Errorf("plain HTTP answered %d %s", resp.StatusCode, b)
		}
	})

	for _, c := range []struct {
		name     string
		min, max uint16
		ok       bool
	}{
		{"tls 1.0", tls.VersionTLS10, tls.VersionTLS10, false},
		{"tls 1.1", tls.VersionTLS10, tls.VersionTLS11, false},
		{"tls 1.2", tls.VersionTLS12, tls.VersionTLS12, true},
		{"tls 1.3", tls.VersionTLS13, tls.VersionTLS13, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: &tls.Config{
				RootCAs: cert.Pool, MinVersion: c.min, MaxVersion: c.max, NextProtos: []string{"h2", "http/1.1"},
			}}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				defer conn.Close()
			}
			switch {
			case c.ok && err != nil:
				t.Fatalf("handshake: %v", err)
			case !c.ok && err == nil:
				t.Fatalf("handshake at %s accepted", tls.VersionName(conn.(*tls.Conn).ConnectionState().Version))
			case c.ok && conn.(*tls.Conn).ConnectionState().NegotiatedProtocol != "h2":
				t.Errorf("ALPN chose %q, want h2", conn.(*tls.Conn).ConnectionState().NegotiatedProtocol)
			case !c.ok && !strings.Contains(err.Error(), "remote error: tls: protocol version"):
				// The server refused it (its alert), not the client.
				t.Errorf("refused, but not for the version: %v", err)
			}
		})
	}
}

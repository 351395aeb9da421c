package benchkit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSeriesValue(t *testing.T) {
	text := "# HELP dtmfgw_calls_active x\ndtmfgw_calls_active 3\ndtmfgw_calls_total{x=\"y\"} 9\ndtmfgw_calls_total 12\n"
	for name, want := range map[string]int{"dtmfgw_calls_active": 3, "dtmfgw_calls_total": 12, "dtmfgw_missing": -1} {
		if got := SeriesValue(text, name); got != want {
			t.Errorf("SeriesValue(%s) = %d, want %d", name, got, want)
		}
	}
}

func TestServeEnv(t *testing.T) {
	t.Setenv("DTMFGW_SIP_LISTEN", "127.0.0.1:1")
	env := ServeEnv("EXTRA=1")
	for _, kv := range env {
		if strings.HasPrefix(kv, "DTMFGW_") {
			t.Errorf("ServeEnv kept %s", kv)
		}
	}
	if env[len(env)-1] != "EXTRA=1" {
		t.Errorf("ServeEnv did not add the extra variable: %q", env[len(env)-1])
	}
}

func TestHTTPGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ok" {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("body"))
	}))
	defer srv.Close()
	var b strings.Builder
	if err := HTTPGet(context.Background(), srv.Client(), srv.URL+"/ok", &b); err != nil || b.String() != "body" {
		t.Errorf("HTTPGet /ok: %v, %q", err, b.String())
	}
	if err := HTTPGet(context.Background(), srv.Client(), srv.URL+"/readyz", nil); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("HTTPGet of a 503: %v", err)
	}
}

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	if got := LogTail(path, "x", 2); got != "" {
		t.Errorf("LogTail of a missing file = %q", got)
	}
	if err := os.WriteFile(path, []byte("one\ntwo\nthree\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := LogTail(path, "node-1", 2), "\n  node-1 said:\n    two\n    three"; got != want {
		t.Errorf("LogTail = %q, want %q", got, want)
	}
}

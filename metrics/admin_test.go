package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"dtmfgw/call"
	"dtmfgw/internal/testkit"
	"dtmfgw/processor"
)

// pingProc is a processor with a Ping of its own, for ProcessorCheck.
type pingProc struct {
	processor.Processor
	err error
}

func (p pingProc) Name() string               { return "psp" }
func (p pingProc) Ping(context.Context) error { return p.err }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, string(b)
}

// serve starts the admin handler on a loopback port for the test.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeAdmin(ctx, ln, h) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeAdmin: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("the admin listener did not stop")
		}
	})
	return "http://" + ln.Addr().String()
}

func TestReadyzNamesEachFailingCheck(t *testing.T) {
	mc := call.DefaultMediaConfig()
	first := testkit.FreeRange(t, testkit.ZoneMetrics, 2)
	mc.RTPPorts = call.PortRange{Min: first, Max: first + 3} // two pairs: room for one call
	mc.Reactors = -1
	calls, err := call.NewManager(mc, call.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer calls.Close()
	var draining atomic.Bool
	storeErr := errors.New("database is locked")
	var storeDown atomic.Bool
	checks := []Check{
		PortsCheck(calls),
		{Name: "storage", Check: func(context.Context) error {
			if storeDown.Load() {
				return storeErr
			}
			return nil
		}},
		ProcessorCheck(pingProc{}),
	}
	base := serve(t, AdminHandler(New("test"), draining.Load, checks...))

	ready := func() (int, readyBody) {
		code, body := get(t, base+"/readyz")
		var rb readyBody
		if err := json.Unmarshal([]byte(body), &rb); err != nil {
			t.Fatalf("readyz body %q: %v", body, err)
		}
		return code, rb
	}
	if code, rb := ready(); code != 200 || !rb.Ready || rb.Checks["ports"] != "ok" || rb.Checks["storage"] != "ok" || rb.Checks["processor:psp"] != "ok" {
		t.Fatalf("all well: %d %+v", code, rb)
	}
	for _, tc := range []struct {
		name    string
		break_  func() func()
		failing string
	}{
		{"store down", func() func() { storeDown.Store(true); return func() { storeDown.Store(false) } }, "storage"},
		{"ports exhausted", func() func() {
			c, err := calls.NewCall(call.Correlation{})
			if err != nil {
				t.Fatal(err)
			}
			return func() { c.End(call.EndError) }
		}, "ports"},
		{"processor unusable", nil, "processor:psp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.break_ == nil {
				// The handler holds its own copy of the checks: serve
				// another with the processor's Ping failing.
				base := serve(t, AdminHandler(New("test"), nil, PortsCheck(calls), ProcessorCheck(pingProc{err: errors.New("unreachable")})))
				code, body := get(t, base+"/readyz")
				if code != 503 || !strings.Contains(body, `"processor:psp":"unreachable"`) {
					t.Fatalf("readyz %d %s", code, body)
				}
				return
			}
			restore := tc.break_()
			code, rb := ready()
			restore()
			if code != 503 || rb.Ready || rb.Checks[tc.failing] == "ok" {
				t.Fatalf("readyz %d %+v, want 503 naming %s", code, rb, tc.failing)
			}
			for name, v := range rb.Checks {
				if name != tc.failing && v != "ok" {
					t.Errorf("check %s = %q, want ok", name, v)
				}
			}
		})
	}
	t.Run("draining", func(t *testing.T) {
		draining.Store(true)
		defer draining.Store(false)
		code, rb := ready()
		if code != 503 || !rb.Draining {
			t.Fatalf("readyz while draining: %d %+v", code, rb)
		}
		// Still healthy: the process is up.
		if code, _ := get(t, base+"/healthz"); code != 200 {
			t.Fatalf("healthz while draining: %d", code)
		}
	})
}

func TestAdminRoutes(t *testing.T) {
	base := serve(t, AdminHandler(New("test"), nil))
	for _, tc := range []struct {
		path, want string
		code       int
	}{
		{"/healthz", "ok", 200},
		{"/readyz", `"ready":true`, 200},
		{"/metrics", "dtmfgw_build_info", 200},
		{"/metrics", "go_goroutines", 200},
		{"/metrics", "process_", 200},
		{"/debug/pprof/", "goroutine", 200},
		{"/debug/pprof/cmdline", "", 200},
		{"/nothing", "", 404},
	} {
		code, body := get(t, base+tc.path)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d, want %d with %q", tc.path, code, tc.code, tc.want)
		}
	}
	// pprof is only where the admin handler serves it: a mux of the
	// public kind (not http.DefaultServeMux, on which net/http/pprof
	// registers itself) does not have it.
	public := serve(t, http.NewServeMux())
	if code, _ := get(t, public+"/debug/pprof/"); code != 404 {
		t.Errorf("pprof on another listener: %d, want 404", code)
	}
}

func TestServeAdminReturnsListenerError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // Serve fails at once, without ctx ending
	if err := ServeAdmin(context.Background(), ln, http.NewServeMux()); err == nil {
		t.Fatal("ServeAdmin on a closed listener returned nil")
	}
}

func TestRegistrationFuncs(t *testing.T) {
	reg := New("test")
	var subs, pending float64 = 3, 2
	if err := reg.SSESubscribers(func() float64 { return subs }); err != nil {
		t.Fatal(err)
	}
	if err := reg.WebhookPending(func() float64 { return pending }); err != nil {
		t.Fatal(err)
	}
	if err := reg.WebhookDeliveries(func() (uint64, uint64, uint64) { return 5, 1, 0 }); err != nil {
		t.Fatal(err)
	}
	// HTTPS only: no series for SIP over TLS.
	expiry := time.Date(2027, 2, 24, 12, 0, 0, 0, time.UTC)
	if err := reg.TLSCertificateExpiry(func() [2]time.Time { return [2]time.Time{expiry, {}} }); err != nil {
		t.Fatal(err)
	}
	if err := reg.PaymentsUnresolved(func() (int, time.Duration) { return 2, 90 * time.Second }); err != nil {
		t.Fatal(err)
	}
	// A second registration of a series is an error, not a panic.
	if err := reg.SSESubscribers(func() float64 { return 0 }); err == nil {
		t.Error("a second dtmfgw_sse_subscribers registered")
	}
	mfs := scrape(t, reg)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"dtmfgw_sse_subscribers", nil, 3},
		{"dtmfgw_webhook_pending", nil, 2},
		{"dtmfgw_webhook_deliveries_total", []string{"outcome", "delivered"}, 5},
		{"dtmfgw_webhook_deliveries_total", []string{"outcome", "retry"}, 1},
		{"dtmfgw_webhook_deliveries_total", []string{"outcome", "gave_up"}, 0},
		{"dtmfgw_tls_certificate_expiry_timestamp_seconds", []string{"listener", "http"}, float64(expiry.Unix())},
		{"dtmfgw_payments_unresolved", nil, 2},
		{"dtmfgw_payments_unresolved_oldest_age_seconds", nil, 90},
	} {
		if v := value(mfs, c.name, c.labels...); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	if n := len(mfs["dtmfgw_tls_certificate_expiry_timestamp_seconds"].GetMetric()); n != 1 {
		t.Errorf("%d certificate expiry series, want one (a listener without TLS has none)", n)
	}
	checkScrape(t, reg)
}

package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"dtmfgw/call"
	"dtmfgw/processor"
	"dtmfgw/store"
)

// DefaultAdminListen is the admin listener's default address: loopback,
// since /debug/pprof/ and the metrics are for the operator only.
const DefaultAdminListen = "127.0.0.1:9464"

// readyTimeout bounds one /readyz: a readiness probe that hangs on a
// stuck database is worse than one that says no.
const readyTimeout = 2 * time.Second

// Check is one readiness check: Name labels it in /readyz's body; Check
// returns nil when the part is usable. Its error is shown to the operator:
// it must hold no card data (none of dtmfgw's parts put any in errors).
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// PortsCheck is ready while the port pool has a free pair for a call's
// two legs.
func PortsCheck(m *call.Manager) Check {
	return Check{Name: "ports", Check: func(context.Context) error {
		st := m.Stats()
		if free := st.PortPairs - st.PortPairsInUse; free < 2 {
			return fmt.Errorf("%d of %d RTP port pairs free, a call needs 2", max(free, 0), st.PortPairs)
		}
		return nil
	}}
}

// StoreCheck is ready while the store answers a ping.
func StoreCheck(s *store.Store) Check {
	return Check{Name: "storage", Check: s.Ping}
}

// Pinger is a processor that can say whether it is usable without
// charging anything. A processor without it is usable once configured.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ProcessorCheck is ready while p is usable: its Ping, if it has one.
func ProcessorCheck(p processor.Processor) Check {
	return Check{Name: "processor:" + p.Name(), Check: func(ctx context.Context) error {
		if pg, ok := p.(Pinger); ok {
			return pg.Ping(ctx)
		}
		return nil
	}}
}

// readyBody is /readyz's JSON: every check by name, "ok" or its error,
// and whether the gateway is draining.
type readyBody struct {
	Ready    bool              `json:"ready"`
	Draining bool              `json:"draining,omitempty"`
	Checks   map[string]string `json:"checks"`
}

// AdminHandler returns the admin listener's routes: /metrics (reg),
// /healthz (200 while the process serves HTTP at all), /readyz (200 when
// draining reports false and every check passes, else 503, with a JSON
// body naming each check) and /debug/pprof/. draining may be nil.
func AdminHandler(reg *Registry, draining func() bool, checks ...Check) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", reg.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		body := readyBody{Ready: true, Checks: make(map[string]string, len(checks))}
		if draining != nil && draining() {
			body.Ready, body.Draining = false, true
		}
		for _, c := range checks {
			if err := c.Check(ctx); err != nil {
				body.Ready = false
				body.Checks[c.Name] = err.Error()
			} else {
				body.Checks[c.Name] = "ok"
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if !body.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(body)
	})
	// pprof's handlers, on this mux only: net/http/pprof's init registers
	// them on http.DefaultServeMux too, which dtmfgw never serves.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// ServeAdmin serves h on ln until ctx ends, then shuts down within a
// second (a scrape in flight may finish) and returns; it closes ln. Like
// http.Server.Serve it returns the error that stopped it early, and nil
// after ctx ended.
func ServeAdmin(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	served, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-ctx.Done():
		case <-served: // stopped by itself: nothing to shut down
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if srv.Shutdown(sctx) != nil {
			srv.Close()
		}
	}()
	err := srv.Serve(ln)
	close(served)
	<-stopped
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

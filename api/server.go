package api

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"dtmfgw/call"
	"dtmfgw/cluster"
	"dtmfgw/internal/certfile"
	"dtmfgw/internal/httpstatus"
	"dtmfgw/payment"
	"dtmfgw/sms"
	"dtmfgw/store"
)

// DefaultKeepalive is how often an idle event stream gets a comment, so
// proxies and browsers do not time it out.
const DefaultKeepalive = 15 * time.Second

// shutdownTimeout bounds how long Serve waits for requests in flight
// once its context ends (event streams end at once).
const shutdownTimeout = 5 * time.Second

// Option changes how New builds a Server.
type Option func(*Server)

// WithClock makes the server judge form-token expiry and idempotency by
// now instead of time.Now (tests).
func WithClock(now func() time.Time) Option {
	return func(s *Server) {
		if now != nil {
			s.now = now
		}
	}
}

// WithKeepalive sets the event streams' keepalive interval (0:
// DefaultKeepalive).
func WithKeepalive(d time.Duration) Option {
	return func(s *Server) {
		if d > 0 {
			s.keepalive = d
		}
	}
}

// WithSMSOutbox lets GET /v1/sms/outbox read the embedded SMS outbox:
// the messages a developer or the demo reads instead of a phone.
func WithSMSOutbox(messages func() []sms.OutboxMessage) Option {
	return func(s *Server) { s.outbox = messages }
}

// WithCluster lets GET /v1/nodes list the nodes sharing the store.
func WithCluster(r *cluster.Registry) Option {
	return func(s *Server) { s.cluster = r }
}

// WithPage mounts the hosted payment page (package paypage) at /pay/.
func WithPage(h http.Handler) Option {
	return func(s *Server) { s.page = h }
}

// withStreamLimits sets the event streams' bounds (tests; New uses
// MaxStreamsPerCredential, MaxStreamsPerCall and MaxStreams).
func withStreamLimits(perCredential, perCall, total int) Option {
	return func(s *Server) { s.slots = newStreamRegistry(perCredential, perCall, total) }
}

// Server is the public listener's handler: the JSON API under /v1/ and
// the agent form under /form/. Safe for concurrent use.
type Server struct {
	cfg       Config
	calls     *call.Manager
	payments  *payment.Payments
	store     *store.Store
	log       *slog.Logger
	now       func() time.Time
	keepalive time.Duration
	keys      keyring
	secret    []byte
	mux       *http.ServeMux
	routes    []route
	// cert is the listener's certificate (nil: plain HTTP), loaded from
	// cfg.TLS by New.
	cert *certfile.Pair

	idem *idempotency

	// outbox reads the SMS outbox (nil: another provider); page is the
	// hosted payment page (nil: none).
	outbox  func() []sms.OutboxMessage
	page    http.Handler
	cluster *cluster.Registry // nil: GET /v1/nodes lists none

	// createMu serialises the creation of payments with their
	// idempotency keys: a key's lookup and its payment's creation are one
	// step.
	createMu sync.Mutex

	draining  atomic.Bool
	drainOnce sync.Once
	drained   chan struct{}

	// streams counts the event streams open now (metrics); slots bounds
	// them per credential, per call and in all.
	streams atomic.Int64
	slots   *streamRegistry
}

// Certificate returns the public listener's certificate, nil without TLS:
// its Reload renews it for the next handshakes (SIGHUP in dtmfgw serve).
func (s *Server) Certificate() *certfile.Pair { return s.cert }

// Streams returns how many event streams (SSE subscribers) are open.
func (s *Server) Streams() int64 { return s.streams.Load() }

// route is one endpoint: the mux pattern (method and path) and its
// handler. The OpenAPI document must list exactly these.
type route struct {
	method, path string
	handler      http.HandlerFunc
}

// New returns the server for cfg over the process's calls, payments and
// store. calls may be nil (no call is live: tests of the payment
// endpoints on PaymentSets made by hand); st may be nil (payments of
// ended calls are not found). The form tokens' secret is cfg's or random.
// With TLS configured, the certificate and key are read here (an error
// names the key of the file at fault).
func New(cfg Config, calls *call.Manager, payments *payment.Payments, st *store.Store, log *slog.Logger, opts ...Option) (*Server, error) {
	err := cfg.Validate()
	if err != nil {
		return nil, err
	}
	if payments == nil {
		return nil, errors.New("api: New needs the payments")
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{
		cfg: cfg, calls: calls, payments: payments, store: st, log: log,
		now: time.Now, keepalive: DefaultKeepalive, keys: newKeyring(cfg.APIKeys),
		drained: make(chan struct{}),
		slots:   newStreamRegistry(MaxStreamsPerCredential, MaxStreamsPerCall, MaxStreams),
	}
	for _, o := range opts {
		o(s)
	}
	s.idem = newIdempotency(s.now)
	if s.cert, err = cfg.TLS.Load(); err != nil {
		return nil, err
	}
	if cfg.FormTokenSecret != "" {
		s.secret = []byte(cfg.FormTokenSecret)
	} else {
		s.secret = make([]byte, 32)
		if _, err := rand.Read(s.secret); err != nil {
			return nil, fmt.Errorf("api: form token secret: %w", err)
		}
	}
	s.routes = []route{
		{"GET", "/v1/openapi.json", s.getOpenAPI},
		{"GET", "/v1/configurations", s.getConfigurations},
		{"GET", "/v1/calls", s.getCalls},
		{"POST", "/v1/payments", s.postPayment},
		{"GET", "/v1/payments/{id}", s.getPayment},
		{"PATCH", "/v1/payments/{id}", s.patchPayment},
		{"PUT", "/v1/payments/{id}/configuration", s.putConfiguration},
		{"POST", "/v1/payments/{id}/fields/{field}/arm", s.postArm},
		{"POST", "/v1/payments/{id}/fields/{field}/clear", s.postClear},
		{"POST", "/v1/payments/{id}/process", s.postProcess},
		{"POST", "/v1/payments/{id}/end", s.postEnd},
		{"POST", "/v1/payments/{id}/another", s.postAnother},
		{"PUT", "/v1/payments/{id}/digital", s.putDigital},
		{"POST", "/v1/payments/{id}/link/send", s.postSendLink},
		{"GET", "/v1/payments/{id}/events", s.getEvents},
		{"GET", "/v1/sms/outbox", s.getOutbox},
		{"GET", "/v1/nodes", s.getNodes},
	}
	s.mux = http.NewServeMux()
	for _, rt := range s.routes {
		s.mux.HandleFunc(rt.method+" "+rt.path, rt.handler)
	}
	s.mux.Handle("/form/", formHandler(cfg.FrameAncestors...))
	if s.page != nil {
		s.mux.Handle("/pay/", s.page)
	}
	return s, nil
}

// Handler returns the whole public handler (API and form). Requests no
// route takes get a JSON 404 or 405, never the mux's text.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if _, err := s.forwarded(r); err != nil {
		// It says another node handed it on, and cannot prove it.
		writeError(w, err)
		s.log.Warn("a request with a node's name and no valid signature refused", "method", r.Method)
		return
	}
	h, pattern := s.mux.Handler(r)
	sw := httpstatus.NewWriter(w)
	if pattern == "" {
		// No route: find out whether the mux would say 404 or 405 (and
		// its Allow header), and say it in JSON. Redirects (a path to
		// clean) go through as the mux writes them.
		probe := &probeWriter{header: http.Header{}}
		h.ServeHTTP(probe, r)
		switch probe.code {
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", probe.header.Get("Allow"))
			writeError(sw, errMethodNotAllowed)
		case http.StatusNotFound:
			writeError(sw, errNotFound)
		default:
			h.ServeHTTP(sw, r)
		}
	} else {
		// The mux itself, not h: it sets the request's path values.
		s.mux.ServeHTTP(sw, r)
	}
	// The route's pattern, not the URL: a URL can hold a token in its
	// query, and a client could put anything in a path.
	s.log.Debug("http request", "method", r.Method, "route", pattern, "status", sw.Status(), "duration", time.Since(start))
}

// Drain makes the server refuse changes (503 draining) and ends the
// event streams; reads go on. Serve calls it when its context ends; the
// process calls it first, at the start of its drain.
func (s *Server) Drain() {
	s.drainOnce.Do(func() {
		s.draining.Store(true)
		close(s.drained)
	})
}

// Serve serves the handler on l (TLS when configured) until ctx ends,
// then drains and shuts down, waiting a little for requests in flight.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	served := make(chan error, 1)
	go func() {
		if s.cert != nil {
			// The configuration takes the certificate from s.cert at each
			// handshake; ServeTLS adds the ALPN protocols (h2, http/1.1)
			// to a clone.
			srv.TLSConfig = s.cert.Config(MinTLSVersion)
			served <- srv.ServeTLS(l, "", "")
		} else {
			served <- srv.Serve(l)
		}
	}()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	s.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// probeWriter records what the mux's own 404/405 handler would answer.
type probeWriter struct {
	header http.Header
	code   int
}

func (p *probeWriter) Header() http.Header { return p.header }
func (p *probeWriter) WriteHeader(code int) {
	if p.code == 0 {
		p.code = code
	}
}
func (p *probeWriter) Write(b []byte) (int, error) {
	if p.code == 0 {
		p.code = http.StatusOK
	}
	return len(b), nil
}

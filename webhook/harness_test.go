package webhook

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
	"dtmfgw/internal/testkit/pgtest"
	"dtmfgw/payment"
	"dtmfgw/store"
)

// received is one request the receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is a loopback webhook endpoint that answers from a script:
// status(n) for the n-th request (from 1). A status of 0 hangs until the
// request is cancelled.
type receiver struct {
	srv    *httptest.Server
	status func(n int) int

	mu   sync.Mutex
	got  []received
	seen chan struct{} // a token per request, for tests that wait
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	t.Helper()
	r := &receiver{status: status, seen: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Clone(), body})
		n := len(r.got)
		r.mu.Unlock()
		select {
		case r.seen <- struct{}{}:
		default:
		}
		code := r.status(n)
		if code == 0 {
			<-req.Context().Done()
			return
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// paymentConfig is the built-in card configuration with a webhook to url.
func paymentConfig(url string, progress bool) payment.Config {
	c := payment.DefaultConfigs()[0]
	c.Currency = "GBP"
	if url != "" {
		c.Webhook = payment.WebhookConfig{URL: url, Secret: payment.Secret(testSecret), Progress: progress}
	}
	return c
}

// testConfig is the default dispatch configuration with a short attempt
// timeout.
func testConfig() Config {
	c := DefaultConfig()
	c.Timeout = 2 * time.Second
	return c
}

// env is a store with the outbox of configs and a dispatcher on it.
type env struct {
	t       *testing.T
	dsn     string
	clock   *testkit.Clock
	configs []payment.Config
	cfg     Config
	dir     *Directory
	st      *store.Store
	d       *Dispatcher
}

func newEnv(t *testing.T, cfg Config, configs ...payment.Config) *env {
	t.Helper()
	return newEnvOn(t, "sqlite:"+filepath.Join(t.TempDir(), "dtmfgw.db"), cfg, configs...)
}

// newEnvOn is newEnv on the database dsn.
func newEnvOn(t *testing.T, dsn string, cfg Config, configs ...payment.Config) *env {
	t.Helper()
	e := &env{t: t, dsn: dsn, clock: testkit.NewClock(testNow), configs: configs, cfg: cfg}
	e.open()
	return e
}

// eachDatabase runs f on a fresh SQLite database and on a fresh
// PostgreSQL schema (package pgtest's server).
func eachDatabase(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, "sqlite:"+filepath.Join(t.TempDir(), "dtmfgw.db")) })
	t.Run("postgres", func(t *testing.T) { f(t, pgtest.Fresh(t)) })
}

// open opens (or reopens) the store and makes a new dispatcher: a
// process start.
func (e *env) open() {
	e.t.Helper()
	e.dir = NewDirectory(e.configs)
	st, err := store.Open(context.Background(), e.dsn, store.WithClock(e.clock.Now), store.WithOutbox(e.dir.Outbox))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { st.Close() })
	e.st = st
	e.d, err = New(e.cfg, e.dir, st, WithClock(e.clock.Now), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		e.t.Fatal(err)
	}
}

// crash closes the store without letting anything finish.
func (e *env) crash() {
	e.t.Helper()
	if err := e.st.Close(); err != nil {
		e.t.Fatal(err)
	}
}

// approve stores a payment of configuration configID and commits an
// approved result: the outbox gets its payment.result delivery.
func (e *env) approve(configID string) store.Payment {
	e.t.Helper()
	ctx := context.Background()
	p, err := e.st.CreatePayment(ctx, store.Payment{CallID: "call-1", ConfigurationID: configID, State: store.StateReady,
		PrimaryCallID: "cc-1", AgentID: "agent-7", Reference: "order-7"}, store.Entry{Actor: store.ActorAPI, Action: "payment.created"})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.UpdateState(ctx, p.ID, store.Change{From: store.StateReady, To: store.StateProcessing,
		Entry: store.Entry{Actor: store.ActorAgent, Action: "payment.processing"}, Brand: "visa", Last4: "4242",
		Amount: 1999, Currency: "GBP", Processor: "sandbox", IdempotencyKey: "key-" + p.ID}); err != nil {
		e.t.Fatal(err)
	}
	p, err = e.st.CommitResult(ctx, p.ID, store.Result{From: store.StateProcessing, State: store.StateApproved,
		ProcessorReference: "ch_1", Entry: store.Entry{Actor: store.ActorSystem, Action: "payment.result"}})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// only returns the payment's one delivery.
func (e *env) only(paymentID string) store.Delivery {
	e.t.Helper()
	ds, err := e.st.Deliveries(context.Background(), paymentID)
	if err != nil || len(ds) != 1 {
		e.t.Fatalf("%d deliveries, %v; want 1", len(ds), err)
	}
	return ds[0]
}

// round runs DeliverDue at the clock's time and returns how many it tried.
func (e *env) round() int {
	e.t.Helper()
	n, err := e.d.DeliverDue(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"dtmfgw/call"
	"dtmfgw/dtmf"
	"dtmfgw/internal/testkit"
	"dtmfgw/payment"
	"dtmfgw/processor"
	"dtmfgw/store"
)

const testKey = "test-key-0123456789abcdef"

// exchange is one HTTP request and its answer, kept for the canary search.
type exchange struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
	sent         []byte // the request's body, if any
}

// sentTexts is a payment.Texter that keeps the SMS it is handed.
type sentTexts struct {
	mu   sync.Mutex
	sent []payment.TextMessage
}

func (s *sentTexts) Text(m payment.TextMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, m)
	return nil
}

func (s *sentTexts) Provider() string { return "outbox" }

func (s *sentTexts) all() []payment.TextMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]payment.TextMessage(nil), s.sent...)
}

// testEnv is a gateway without SIP: a Manager with payments, the sandbox
// processor (instant), SQLite in a temporary directory, and the API on a
// loopback httptest server.
type testEnv struct {
	t     testing.TB
	srv   *Server
	ts    *httptest.Server
	calls *call.Manager
	ps    *payment.Payments
	st    *store.Store
	db    string // the SQLite file (its -wal and -shm beside it)
	logs  *testkit.Buffer
	clock *testkit.Clock // real time plus an offset the test moves (form token expiry)

	mu        sync.Mutex
	exchanges []exchange
}

type envOptions struct {
	configs []payment.Config
	edit    func(*Config)
	opts    []Option
	// texter, when set, enables digital payments, their SMS going to it.
	texter payment.Texter
	// shared, when set, is the store, another env's: two nodes on one
	// database.
	shared *store.Store
	// hook, when set, gets every payment event (payment.WithEventHook).
	hook payment.EventHook
}

func newTestEnv(t testing.TB, o envOptions) *testEnv {
	t.Helper()
	e := &testEnv{t: t, logs: &testkit.Buffer{}, clock: testkit.NewWallClock()}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()
	var err error
	e.db = filepath.Join(t.TempDir(), "dtmfgw.db")
	if o.shared != nil {
		e.st = o.shared
	} else {
		e.st, err = store.Open(ctx, "sqlite:"+e.db)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.st.Close() })
	}
	procs, err := processor.NewAll(processor.Configs{"sandbox": {Type: processor.TypeSandbox, MinDelay: time.Microsecond, MaxDelay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	configs := o.configs
	if configs == nil {
		cfg := payment.DefaultConfigs()[0]
		cfg.Currency = "GBP"
		configs = []payment.Config{cfg}
	}
	popts := []payment.Option{payment.WithProcessors(procs["sandbox"]), payment.WithStore(payment.StorePayments(e.st)),
		payment.WithLogger(log)}
	if o.texter != nil {
		popts = append(popts, payment.WithDigital(e.st, "https://pay.example.com/pay/", o.texter))
	}
	if o.hook != nil {
		popts = append(popts, payment.WithEventHook(o.hook))
	}
	e.ps, err = payment.NewPayments(payment.Settings{Configurations: configs}, popts...)
	if err != nil {
		t.Fatal(err)
	}
	mc := call.DefaultMediaConfig()
	first := testkit.FreeRange(t, testkit.ZoneAPI, 16)
	mc.RTPPorts = call.PortRange{Min: first, Max: first + 31}
	mc.PortDrain = 0
	mc.Reactors = -1
	e.calls, err = call.NewManager(mc, call.WithLogger(log), call.WithNewCall(e.ps.TakeCall))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.calls.Close() })
	cfg := DefaultConfig()
	cfg.APIKeys = []string{testKey}
	cfg.PublicURL = "https://pay.example.com/"
	if o.edit != nil {
		o.edit(&cfg)
	}
	e.srv, err = New(cfg, e.calls, e.ps, e.st, log, append([]Option{WithClock(e.clock.Now)}, o.opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	return e
}

var callSeq struct {
	sync.Mutex
	n int
}

// newCall starts a call with corr (ids filled in when empty).
func (e *testEnv) newCall(corr call.Correlation) *call.Call {
	e.t.Helper()
	if corr.InboundCallID == "" {
		callSeq.Lock()
		callSeq.n++
		corr.InboundCallID = "in-" + strings.Repeat("x", callSeq.n) + "@caller.example"
		callSeq.Unlock()
	}
	c, err := e.calls.NewCall(corr)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// endCall ends the call and waits until its payments are closed.
func (e *testEnv) endCall(c *call.Call) {
	e.t.Helper()
	set := e.ps.Set(c.ID())
	c.End(call.EndCallerHangup)
	<-c.Done()
	for i := 0; set != nil && i < 1000 && e.ps.Set(c.ID()) != nil; i++ {
		// Consume closes the set once the digit queue is drained: an
		// event to wait for, through the bus's channel closing.
		sub, err := set.Events().Subscribe(0)
		if err != nil {
			break
		}
		for range sub.C() {
		}
		sub.Close()
	}
	if e.ps.Set(c.ID()) != nil {
		e.t.Fatal("the call's payments were not closed")
	}
}

// press types keys on the call as the caller's digit path would.
func (e *testEnv) press(c *call.Call, keys string) {
	e.t.Helper()
	set := e.ps.Set(c.ID())
	if set == nil {
		e.t.Fatal("no payments on the call")
	}
	for i := 0; i < len(keys); i++ {
		k, ok := dtmf.KeyFromChar(keys[i])
		if !ok {
			e.t.Fatalf("key %d is not a DTMF key", i)
		}
		set.HandleDigit(dtmf.Press{Key: k, Source: dtmf.SourceRFC4733, FirstSeen: time.Now()})
	}
}

// req sends a request. auth is the bearer credential ("" for none);
// body "" sends none; contentType "" means application/json when there
// is a body.
func (e *testEnv) req(method, path, auth, body string, hdr ...string) (int, []byte, http.Header) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		r.Header.Set("Authorization", "Bearer "+auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.ts.Client().Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.exchanges = append(e.exchanges, exchange{method, path, resp.StatusCode, resp.Header.Clone(), b, []byte(body)})
	e.mu.Unlock()
	return resp.StatusCode, b, resp.Header
}

// must sends a request that must answer want, and decodes its body into
// out (if not nil).
func (e *testEnv) must(want int, method, path, auth, body string, out any) {
	e.t.Helper()
	code, b, _ := e.req(method, path, auth, body)
	if code != want {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, code, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// created is a decoded createResponse.
type created struct {
	Payment          viewJSON  `json:"payment"`
	FormURL          string    `json:"form_url"`
	FormToken        string    `json:"form_token"`
	FormTokenExpires time.Time `json:"form_token_expires"`
	Link             *struct {
		URL     string    `json:"url"`
		Expires time.Time `json:"expires"`
	} `json:"link"`
}

// viewJSON is a decoded paymentView, as a client reads it.
type viewJSON struct {
	ID    string   `json:"id"`
	Type  string   `json:"type"`
	Types []string `json:"types"`
	Link  *struct {
		State          string `json:"state"`
		Phone          string `json:"phone"`
		FailedAttempts int    `json:"failed_attempts"`
		Messages       []struct {
			State string `json:"state"`
			To    string `json:"to"`
		} `json:"messages"`
	} `json:"link"`
	CallID   string `json:"call_id"`
	ConfigID string `json:"config_id"`
	State    string `json:"state"`
	Reason   string `json:"reason"`
	Fields   []struct {
		ID        string `json:"id"`
		Armed     bool   `json:"armed"`
		Length    int    `json:"length"`
		Complete  bool   `json:"complete"`
		Valid     bool   `json:"valid"`
		Brand     string `json:"brand"`
		MaskedPAN string `json:"masked_pan"`
	} `json:"fields"`
	Attributes struct {
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	} `json:"attributes"`
	Result *struct {
		State       string `json:"state"`
		DeclineCode string `json:"decline_code"`
		Brand       string `json:"brand"`
		Last4       string `json:"last4"`
		Amount      int64  `json:"amount"`
	} `json:"result"`
	Call *struct {
		ID              string `json:"id"`
		PrimaryCallID   string `json:"primary_call_id"`
		SecondaryCallID string `json:"secondary_call_id"`
	} `json:"call"`
	WebSessionID   string            `json:"web_session_id"`
	Configurations []json.RawMessage `json:"configurations"`
}

func (v viewJSON) field(id string) (i int) {
	for i := range v.Fields {
		if v.Fields[i].ID == id {
			return i
		}
	}
	return -1
}

// create makes a payment on the call with the API key.
func (e *testEnv) create(c *call.Call, extra string) created {
	e.t.Helper()
	var out created
	e.must(http.StatusCreated, "POST", "/v1/payments", testKey, `{"call_id":"`+c.ID()+`","prefill":{"amount":1999,"reference":"order-7"}`+extra+`}`, &out)
	return out
}

// errorCode returns the error code of an error body.
func errorCode(t *testing.T, b []byte) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not an error body: %s", b)
	}
	return e.Error.Code
}

func mustDecode(t *testing.T, b []byte, out any) {
	t.Helper()
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
}

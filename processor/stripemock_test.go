package processor

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"

	"dtmfgw/internal/testkit/stripemock"
)

// The Stripe adapter is tested against stripe-mock (testkit/stripemock):
// stripe-mock is stateless (every PaymentIntent the same fixture, status
// requires_payment_method, whatever the card; Idempotency-Key ignored;
// search fixtures that match no metadata). So the tests put a recording
// proxy in front of it that can change the outcome fields of an answer
// (status, metadata, an error body), hold a request (a timeout), or
// answer in its place.

var stripeMock struct {
	once sync.Once
	url  string
	err  error
	stop func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if stop := stripeMock.stop; stop != nil {
		stop()
	}
	os.Exit(code)
}

// stripeMockURL starts stripe-mock once per test binary and returns its
// base URL.
func stripeMockURL(t *testing.T) string {
	t.Helper()
	stripeMock.once.Do(func() { stripeMock.url, stripeMock.stop, stripeMock.err = stripemock.Start() })
	if stripeMock.err != nil {
		t.Fatalf("stripe-mock: %v", stripeMock.err)
	}
	return stripeMock.url
}

// recorded is one request the proxy saw.
type recorded struct {
	Method, Path, Query string
	Header              http.Header
	Body                string
}

// answer is what the proxy sends back: stripe-mock's answer, possibly
// rewritten, or one of the test's own.
type answer struct {
	status int
	header http.Header
	body   []byte
	// drop closes the connection instead of answering: a lost answer.
	drop bool
}

// mockProxy records every request and passes it to stripe-mock, unless
// the test's hooks say otherwise.
type mockProxy struct {
	t      *testing.T
	target string
	srv    *httptest.Server

	mu   sync.Mutex
	reqs []recorded

	// hold, if it says so, keeps a request open until the client gives
	// up, after sending it on held: a processor that never answers.
	hold func(r recorded) bool
	held chan recorded
	// rewrite, if set, may change stripe-mock's answer (a decoded JSON
	// object) or replace it.
	rewrite func(r recorded, a *answer)
}

func newMockProxy(t *testing.T) *mockProxy {
	p := &mockProxy{t: t, target: stripeMockURL(t), held: make(chan recorded, 16)}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *mockProxy) URL() string { return p.srv.URL }

// setHold and setRewrite change the hooks between requests.
func (p *mockProxy) setHold(f func(recorded) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold = f
}

func (p *mockProxy) setRewrite(f func(recorded, *answer)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rewrite = f
}

func (p *mockProxy) requests() []recorded {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]recorded(nil), p.reqs...)
}

func (p *mockProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	rec := recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(body)}
	p.mu.Lock()
	p.reqs = append(p.reqs, rec)
	hold, rewrite := p.hold, p.rewrite
	p.mu.Unlock()

	if hold != nil && hold(rec) {
		p.held <- rec
		<-r.Context().Done() // until the client hangs up
		return
	}
	fwd, err := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fwd.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(fwd)
	if err != nil {
		http.Error(w, "stripe-mock: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode, header: resp.Header.Clone()}
	if a.body, err = io.ReadAll(io.LimitReader(resp.Body, 4<<20)); err != nil {
		http.Error(w, "stripe-mock: "+err.Error(), http.StatusBadGateway)
		return
	}
	if rewrite != nil {
		rewrite(rec, &a)
	}
	if a.drop {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	for k, v := range a.header {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// editJSON decodes an answer's JSON object, lets edit change it and
// encodes it again.
func editJSON(t *testing.T, a *answer, edit func(obj map[string]any)) {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal(a.body, &obj); err != nil {
		t.Errorf("stripe-mock answered with no JSON object (%v): %.300s", err, a.body)
		return
	}
	edit(obj)
	b, err := json.Marshal(obj)
	if err != nil {
		t.Errorf("encode: %v", err)
		return
	}
	a.body = b
}

// replaceJSON makes the answer status and obj, keeping stripe-mock's
// headers (Request-Id).
func replaceJSON(t *testing.T, a *answer, status int, obj any) {
	t.Helper()
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	a.status, a.body = status, b
}

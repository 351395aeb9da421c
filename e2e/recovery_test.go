package e2e

// A gateway killed with SIGKILL while a processor has a card, restarted:
// it answers before the processor tells what became of the charge, and
// then settles the payment to what the processor says, without charging
// again. The gateway runs as a child process (this test binary, re-run to
// serve a configuration file: see TestMain); the processor is a
// Stripe-like server in the test that holds requests until the test lets
// them go.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"dtmfgw/internal/simcall"
	"dtmfgw/internal/testkit"
	"dtmfgw/internal/testkit/pgtest"
	"dtmfgw/processor"
)

// serveChildEnv, when set, makes the test binary serve the configuration
// file it names (serveFile, as `dtmfgw serve --config` does), logging to
// standard error, until a signal ends it.
const serveChildEnv = "DTMFGW_TEST_SERVE_CHILD_CONFIG"

func TestMain(m *testing.M) {
	if path := os.Getenv(serveChildEnv); path != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := serveFile(ctx, path, os.Stderr, nil, nil, nil)
		stop()
		if err != nil {
			fmt.Fprintf(os.Stderr, "dtmfgw serve: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// heldStripe is a Stripe-like processor: the card's PaymentMethod at once;
// the PaymentIntent (the charge) recorded as succeeded, then its answer
// held until the client goes away; a search by idempotency key held until
// the test releases it, then answered with the recorded charge. It logs
// every charge request.
type heldStripe struct {
	srv *httptest.Server
	// charged is sent the charge's idempotency key when a charge
	// arrives; searched the key of each search, when it arrives.
	charged, searched chan string
	// releaseSearch, closed by the test, lets searches answer.
	releaseSearch chan struct{}

	mu      sync.Mutex
	charges []string          // idempotency keys of the charge requests, in order
	methods int               // PaymentMethod requests
	intents map[string]string // idempotency key → PaymentIntent id
}

func newHeldStripe(t *testing.T) *heldStripe {
	t.Helper()
	h := &heldStripe{charged: make(chan string, 8), searched: make(chan string, 8),
		releaseSearch: make(chan struct{}), intents: make(map[string]string)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/payment_methods", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.methods++
		h.mu.Unlock()
		writeStripe(w, map[string]any{"id": "pm_recovery", "object": "payment_method", "type": "card"})
	})
	mux.HandleFunc("POST /v1/payment_intents", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		key := r.PostForm.Get("metadata[" + processor.MetadataIdempotencyKey + "]")
		h.mu.Lock()
		h.charges = append(h.charges, key)
		h.intents[key] = fmt.Sprintf("pi_recovery_%c", 'a'+len(h.charges)-1)
		h.mu.Unlock()
		h.charged <- key
		// The charge is taken; its answer never comes (the gateway dies
		// waiting for it).
		<-r.Context().Done()
	})
	mux.HandleFunc("GET /v1/payment_intents/search", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query().Get("query")
		_, key, _ := strings.Cut(q, ":'")
		key = strings.TrimSuffix(key, "'")
		h.searched <- key
		select {
		case <-h.releaseSearch:
		case <-r.Context().Done():
			return
		}
		h.mu.Lock()
		id, ok := h.intents[key]
		h.mu.Unlock()
		data := []any{}
		if ok {
			data = append(data, intentJSON(id, key))
		}
		writeStripe(w, map[string]any{"object": "search_result", "url": "/v1/payment_intents/search",
			"has_more": false, "data": data})
	})
	h.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		h.srv.CloseClientConnections()
		h.srv.Close()
	})
	return h
}

// intentJSON is a succeeded PaymentIntent of £19.99 carrying key.
func intentJSON(id, key string) map[string]any {
	return map[string]any{"id": id, "object": "payment_intent", "status": "succeeded", "amount": 1999,
		"currency": "gbp", "created": 1700000000, "metadata": map[string]string{processor.MetadataIdempotencyKey: key}}
}

func writeStripe(w http.ResponseWriter, body any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

func (h *heldStripe) log() (charges []string, methods int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.charges...), h.methods
}

// killDuringCharge asks base to process the payment id (the answer is
// never read: it does not come), waits for the held processor to get the
// charge, kills child with SIGKILL and waits for its output to end. It
// returns the charge's idempotency key.
func killDuringCharge(t *testing.T, ctx context.Context, base, id string, psp *heldStripe, child *serveChild) string {
	t.Helper()
	go func() {
		req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), "POST", base+"/v1/payments/"+id+"/process", nil)
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+e2eAPIKey)
		if res, err := http.DefaultClient.Do(req); err == nil {
			res.Body.Close()
		}
	}()
	var key string
	select {
	case key = <-psp.charged:
	case <-time.After(e2eWait):
		t.Fatal("the processor never got the charge")
	}
	if err := child.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-child.done
	return key
}

// serveChild is one `dtmfgw serve` process and its log lines.
type serveChild struct {
	cmd   *exec.Cmd
	lines chan string // every stderr line (JSON log), until it exits
	log   *testkit.Buffer
	done  chan struct{} // closed once stderr is read to its end
}

// startServeChild runs the test binary serving the configuration file at
// path.
func startServeChild(t *testing.T, path string) *serveChild {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), serveChildEnv+"="+path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &serveChild{cmd: cmd, lines: make(chan string, 4096), log: &testkit.Buffer{}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			c.log.Write(append(sc.Bytes(), '\n'))
			select {
			case c.lines <- sc.Text():
			default: // nobody is waiting for this many lines
			}
		}
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-c.done
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("child %d's log:\n%s", cmd.Process.Pid, c.log.String())
		}
	})
	return c
}

// waitLog returns the first log line from now on whose msg is msg and
// whose attributes include the pairs in with, waiting at most e2eWait.
func (c *serveChild) waitLog(t *testing.T, msg string, with map[string]string) map[string]any {
	t.Helper()
	deadline := time.NewTimer(e2eWait)
	defer deadline.Stop()
	for {
		select {
		case line := <-c.lines:
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != msg {
				continue
			}
			ok := true
			for k, v := range with {
				if fmt.Sprint(rec[k]) != v {
					ok = false
				}
			}
			if ok {
				return rec
			}
		case <-c.done:
			t.Fatalf("the gateway ended before logging %q", msg)
		case <-deadline.C:
			t.Fatalf("the gateway did not log %q within %v", msg, e2eWait)
		}
	}
}

// recoveryConfig writes a configuration for one run into dir: the
// database and the processor given, listeners and RTP ports of its own
// (the child logs where: serving).
func recoveryConfig(t *testing.T, dir, db, stripeURL, agentURI string) (path string) {
	t.Helper()
	g := &testGateway{path: filepath.Join(dir, "dtmfgw.yaml"), defaults: loopbackDefaults(t, dir)}
	g.writeConfig(t, fmt.Sprintf(`sip:
  default_target: %s
media:
  media_timeout: 0s
%sstorage:
  dsn: sqlite:%s
log:
  level: debug
`, agentURI, heldStripePayments(stripeURL), db))
	return g.path
}

// heldStripePayments is the configuration's payments and processors
// sections for a card configuration charged through the held Stripe at
// stripeURL, reconciled every second.
func heldStripePayments(stripeURL string) string {
	return fmt.Sprintf(`payments:
  configurations:
    - id: card
      name: Card payment
      processor: psp
      currency: GBP
      types: [agent_assist, digital]
      accepted_brands: [visa, mastercard, amex]
      fields:
        - {id: card_number, label: Card number, kind: card_number, required: true}
        - {id: expiry, label: Expiry date (MMYY), kind: expiry, required: true}
        - {id: security_code, label: Security code, kind: security_code, required: true}
  reconcile:
    concurrency: 2
    interval: 1s
processors:
  psp:
    type: stripe
    api_key: sk_test_held
    base_url: %s
    timeout: 2m
`, stripeURL)
}

// serving waits for the child's "dtmfgw serving" line and returns the
// addresses it logs: SIP, the public listener, the admin listener.
func (c *serveChild) serving(t *testing.T) (sipAddr, httpAddr, adminAddr string) {
	t.Helper()
	rec := c.waitLog(t, "dtmfgw serving", nil)
	sipAddr, _ = rec["sip"].(string)
	httpAddr, _ = rec["http"].(string)
	adminAddr, _ = rec["admin"].(string)
	if sipAddr == "" || httpAddr == "" || adminAddr == "" {
		t.Fatalf("the serving line lacks an address: %v", rec)
	}
	return sipAddr, httpAddr, adminAddr
}

// sipOptions sends an OPTIONS to addr over UDP and returns the answer's
// status line, retransmitting as RFC 3261 §17.1.2.1 does (T1 = 500 ms,
// doubling), a bounded number of times: so it also waits for a listener
// that is still starting. The socket is not connected: a connected one
// reports the ICMP port unreachable of a try before the listener is up as
// an immediate error.
func sipOptions(t *testing.T, addr string) string {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dst, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	msg := "OPTIONS sip:" + addr + " SIP/2.0\r\nVia: SIP/2.0/UDP " + conn.LocalAddr().String() + ";branch=z9hG4bK-recovery1\r\n" +
		"From: <sip:probe@127.0.0.1>;tag=r1\r\nTo: <sip:" + addr + ">\r\nCall-ID: recovery-1@probe\r\nCSeq: 1 OPTIONS\r\n" +
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	buf := make([]byte, 4096)
	wait := 500 * time.Millisecond
	for range 6 {
		if _, err := conn.WriteTo([]byte(msg), dst); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(wait))
		if n, _, err := conn.ReadFrom(buf); err == nil {
			return firstLine(string(buf[:n]))
		}
		wait = min(2*wait, 4*time.Second)
	}
	return ""
}

// httpGet GETs url (with the API key when key is set) and returns the
// status and body; an error fails the test.
func httpGet(t *testing.T, url, key string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := (&http.Client{Timeout: e2eWait}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	return res.StatusCode, string(body)
}

// metricLine returns the line of a scrape that starts with name and a
// space ("" if none).
func metricLine(scrape, name string) string {
	for line := range strings.Lines(scrape) {
		if strings.HasPrefix(line, name+" ") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// TestRestartAfterKillAnswersBeforeTheProcessorAndSettlesWithoutCharging:
// a payment is being charged (the processor took the charge and holds its
// answer) when the gateway is killed with SIGKILL. Restarted on the same
// database, the gateway asks the processor about the payment and — while
// the processor still holds that question — answers on the admin
// listener (/healthz, and /metrics showing one unresolved payment), on
// the API and to a SIP OPTIONS. Then the processor answers, the payment
// settles to what it said (approved, its PaymentIntent), and the
// processor saw exactly one charge request for the payment's idempotency
// key. The order is forced by the processor, not measured; neither run's
// log holds the card.
func TestRestartAfterKillAnswersBeforeTheProcessorAndSettlesWithoutCharging(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db := filepath.Join(t.TempDir(), "dtmfgw.db")
	psp := newHeldStripe(t)
	const card = cardApproved
	log := slog.New(slog.DiscardHandler)
	agent, err := simcall.NewAgent(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()

	// The first run: a call, a card keyed, Process; the processor takes
	// the charge and never answers.
	first := startServeChild(t, recoveryConfig(t, t.TempDir(), db, psp.srv.URL, agent.URI()))
	sipAddr, httpAddr, _ := first.serving(t)
	caller, err := simcall.NewCaller(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	const agentID = "recovery-agent"
	if err := caller.Call(ctx, netip.MustParseAddrPort(sipAddr), "1000", simcall.Header{Name: "X-Agent-Id", Value: agentID}); err != nil {
		t.Fatal(err)
	}
	api := &e2eAPI{t: t, base: "http://" + httpAddr, key: e2eAPIKey}
	call := api.findCall(ctx, agentID)
	pay := api.newPayment(ctx, call.ID, "recovery-1")
	id := pay.Payment.ID
	events := api.stream(ctx, id)
	api.must(ctx, 200, "POST", "/v1/payments/"+id+"/fields/card_number/arm", nil, nil)
	keys := []byte(card + cardExpiry + cardCVC)
	defer clear(keys)
	keyed := make(chan error, 1)
	go func() { keyed <- caller.KeyDigits(ctx, keys, 80*time.Millisecond, 80*time.Millisecond) }()
	if err := events.waitEvent(ctx, "state", "ready", keyed); err != nil {
		t.Fatal(err)
	}
	// Its answer never comes: the gateway is killed meanwhile.
	key := killDuringCharge(t, ctx, api.base, id, psp, first)
	werr := first.cmd.Wait()
	if ws, ok := first.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the first gateway was not killed by SIGKILL: %v", werr)
	}

	// The second run, on the same database: the processor holds the
	// question about the payment until the gateway has answered.
	started := time.Now()
	second := startServeChild(t, recoveryConfig(t, t.TempDir(), db, psp.srv.URL, agent.URI()))
	select {
	case asked := <-psp.searched:
		if asked != key {
			t.Fatalf("the restarted gateway asked about key %q, want the charge's %q", asked, key)
		}
	case <-second.done:
		t.Fatal("the restarted gateway exited")
	case <-time.After(e2eWait):
		t.Fatal("the restarted gateway never asked the processor about the payment")
	}
	sipAddr, httpAddr, adminAddr := second.serving(t)
	if code, body := httpGet(t, "http://"+adminAddr+"/healthz", ""); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("GET /healthz while the processor holds: %d %q", code, body)
	}
	if code, body := httpGet(t, "http://"+httpAddr+"/v1/configurations", e2eAPIKey); code != 200 || !strings.Contains(body, `"id":"card"`) {
		t.Errorf("GET /v1/configurations while the processor holds: %d %.200s", code, body)
	}
	if got := sipOptions(t, sipAddr); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Errorf("OPTIONS while the processor holds: %q, want 200", got)
	}
	_, scrape := httpGet(t, "http://"+adminAddr+"/metrics", "")
	if got := metricLine(scrape, "dtmfgw_payments_unresolved"); got != "dtmfgw_payments_unresolved 1" {
		t.Errorf("while the processor holds: %q, want dtmfgw_payments_unresolved 1", got)
	}
	if metricLine(scrape, "dtmfgw_payments_unresolved_oldest_age_seconds") == "" {
		t.Error("no dtmfgw_payments_unresolved_oldest_age_seconds in the scrape")
	}
	t.Logf("the restarted gateway answered /healthz, the API and OPTIONS %v after its start, the processor still holding", time.Since(started).Round(time.Millisecond))

	close(psp.releaseSearch)
	second.waitLog(t, "payment reconciled", map[string]string{"payment": id, "state": "approved"})
	var view struct {
		State  string `json:"state"`
		Result *struct {
			ProcessorReference string `json:"processor_reference"`
		} `json:"result"`
	}
	api.base = "http://" + httpAddr
	api.must(ctx, 200, "GET", "/v1/payments/"+id, nil, &view)
	if view.State != "approved" || view.Result == nil || view.Result.ProcessorReference != "pi_recovery_a" {
		t.Errorf("after the processor answered: the payment is %s (%+v), want approved with pi_recovery_a", view.State, view.Result)
	}
	_, scrape = httpGet(t, "http://"+adminAddr+"/metrics", "")
	if got := metricLine(scrape, "dtmfgw_payments_unresolved"); got != "dtmfgw_payments_unresolved 0" {
		t.Errorf("after settling: %q, want dtmfgw_payments_unresolved 0", got)
	}
	charges, methods := psp.log()
	if len(charges) != 1 || charges[0] != key || methods != 1 {
		t.Errorf("the processor saw charge requests for keys %q and %d card requests; want exactly one, for %q", charges, methods, key)
	}

	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-second.done
	if err := second.cmd.Wait(); err != nil {
		t.Errorf("the second gateway's exit after SIGTERM: %v", err)
	}
	// Both runs logged at debug level; neither log holds the card.
	checkNoCardDigits(t, map[string]string{"the first run's log": first.log.String(), "the second run's log": second.log.String()}, card)
}

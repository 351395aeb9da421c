package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"dtmfgw/call"
	"dtmfgw/cluster"
	"dtmfgw/internal/testkit"
	"dtmfgw/payment"
	"dtmfgw/store"
)

// Two nodes on one store: an idempotency key claimed through one is
// answered by the other (and after a restart), with the payment the first
// made; a different request under it is a conflict on either.
func TestIdempotencyKeysAcrossNodes(t *testing.T) {
	a := newTestEnv(t, envOptions{})
	b := newTestEnv(t, envOptions{shared: a.st})
	c := a.newCall(call.Correlation{AgentID: "agent-i"})
	body := `{"call_id":"` + c.ID() + `","idempotency_key":"crm-42","prefill":{"amount":500}}`
	var first, again created
	a.must(http.StatusCreated, "POST", "/v1/payments", testKey, body, &first)
	b.must(http.StatusOK, "POST", "/v1/payments", testKey, body, &again)
	if again.Payment.ID != first.Payment.ID || again.FormToken == "" {
		t.Fatalf("node B answered %+v, want node A's payment %s", again.Payment, first.Payment.ID)
	}
	for _, e := range []*testEnv{a, b} {
		code, got, _ := e.req("POST", "/v1/payments", testKey, strings.Replace(body, "500", "600", 1))
		if code != http.StatusConflict || errorCode(t, got) != "idempotency_conflict" {
			t.Fatalf("a different request under the key: %d %s", code, got)
		}
	}
	// A node started afresh on the store knows the key too.
	restarted := newTestEnv(t, envOptions{shared: a.st})
	restarted.must(http.StatusOK, "POST", "/v1/payments", testKey, body, &again)
	if again.Payment.ID != first.Payment.ID {
		t.Fatalf("after a restart: %s, want %s", again.Payment.ID, first.Payment.ID)
	}
	// A creation that fails lets its key go: the retry, where the call
	// is, makes the payment.
	body2 := strings.Replace(body, "crm-42", "crm-43", 1)
	code, got, _ := b.req("POST", "/v1/payments", testKey, body2)
	if code != http.StatusNotFound || errorCode(t, got) != "call_not_found" {
		t.Fatalf("a call node B does not hold: %d %s", code, got)
	}
	a.must(http.StatusOK, "POST", "/v1/payments/"+first.Payment.ID+"/end", testKey, "", nil)
	a.must(http.StatusCreated, "POST", "/v1/payments", testKey, body2, nil)
}

func TestNodesList(t *testing.T) {
	var regA, regB *cluster.Registry
	a := newTestEnv(t, envOptions{})
	var err error
	cfg := cluster.DefaultConfig()
	cfg.NodeID = "node-a"
	if regA, err = cluster.New(cfg, a.st, "http://127.0.0.2:8080", "127.0.0.2:5060"); err != nil {
		t.Fatal(err)
	}
	cfg.NodeID = "node-b"
	if regB, err = cluster.New(cfg, a.st, "http://127.0.0.3:8080", "127.0.0.3:5060"); err != nil {
		t.Fatal(err)
	}
	a.srv.cluster = regA
	for _, r := range []*cluster.Registry{regA, regB} {
		if err := r.Beat(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	var list struct {
		Nodes []struct {
			ID        string    `json:"id"`
			APIURL    string    `json:"api_url"`
			Alive     bool      `json:"alive"`
			Self      bool      `json:"self"`
			Heartbeat time.Time `json:"heartbeat"`
		} `json:"nodes"`
	}
	a.must(http.StatusOK, "GET", "/v1/nodes", testKey, "", &list)
	if len(list.Nodes) != 2 || list.Nodes[0].ID != "node-a" || !list.Nodes[0].Self || !list.Nodes[0].Alive ||
		list.Nodes[1].ID != "node-b" || list.Nodes[1].Self || list.Nodes[1].APIURL != "http://127.0.0.3:8080" {
		t.Fatalf("nodes %+v", list.Nodes)
	}
	for _, cred := range []string{"", "wrong-key-0123456789abcdef"} {
		if code, _, _ := a.req("GET", "/v1/nodes", cred, ""); code != http.StatusUnauthorized {
			t.Fatalf("GET /v1/nodes with %q: %d", cred, code)
		}
	}
}

// twoNodes is two API servers on one store, with one form token secret,
// each registered in the cluster as alive.
func twoNodes(t testing.TB) (a, b *testEnv) {
	t.Helper()
	secret := func(c *Config) { c.FormTokenSecret = strings.Repeat("s", 32) }
	a = newTestEnv(t, envOptions{edit: secret})
	b = newTestEnv(t, envOptions{shared: a.st, edit: secret})
	for _, n := range []struct {
		e  *testEnv
		id string
	}{{a, "node-a"}, {b, "node-b"}} {
		cfg := cluster.DefaultConfig()
		cfg.Enabled, cfg.NodeID = true, n.id
		reg, err := cluster.New(cfg, a.st, n.e.ts.URL, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.Beat(t.Context()); err != nil {
			t.Fatal(err)
		}
		n.e.srv.cluster = reg
	}
	return a, b
}

// A CRM and an agent's form reach node B; the call is node A's. Every
// command, and the event stream, is handed to A and answered as A
// answers; the stream resumes through the other node.
func TestCommandsReachTheCallsNode(t *testing.T) {
	a, b := twoNodes(t)
	c := a.newCall(call.Correlation{AgentID: "agent-x", PrimaryCallID: "pc-x"})
	if err := a.st.AddLiveCall(t.Context(), store.LiveCall{ID: c.ID(), NodeID: "node-a", AgentID: "agent-x", PrimaryCallID: "pc-x"}); err != nil {
		t.Fatal(err)
	}
	// Node B lists the call, saying which node holds it.
	code, got, _ := b.req("GET", "/v1/calls?agent_id=agent-x", testKey, "")
	if code != http.StatusOK || !strings.Contains(string(got), `"id":"`+c.ID()+`"`) || !strings.Contains(string(got), `"node":"node-a"`) {
		t.Fatalf("GET /v1/calls through B: %d %s", code, got)
	}
	var p created
	b.must(http.StatusCreated, "POST", "/v1/payments", testKey, `{"primary_call_id":"pc-x","type":"agent_assist","prefill":{"amount":1250,"currency":"GBP"},"idempotency_key":"x-1"}`, &p)
	if p.Payment.CallID != c.ID() || a.ps.Payment(p.Payment.ID) == nil || b.ps.Payment(p.Payment.ID) != nil {
		t.Fatalf("the payment %+v is not node A's", p.Payment)
	}
	// The same creation through A: the same payment.
	var again created
	a.must(http.StatusOK, "POST", "/v1/payments", testKey, `{"primary_call_id":"pc-x","type":"agent_assist","prefill":{"amount":1250,"currency":"GBP"},"idempotency_key":"x-1"}`, &again)
	if again.Payment.ID != p.Payment.ID {
		t.Fatalf("the repeat through A made %s, want %s", again.Payment.ID, p.Payment.ID)
	}
	s := b.openStream("/v1/payments/"+p.Payment.ID+"/events?access_token="+p.FormToken, "")
	if m := s.mustNext(); m.event != "snapshot" {
		t.Fatalf("first message through B: %+v", m)
	}
	b.must(http.StatusOK, "POST", "/v1/payments/"+p.Payment.ID+"/fields/card_number/arm", p.FormToken, "", nil)
	a.press(c, "4242424242424242"+"1230"+"123")
	msgs := s.until("state")
	var lastID string
	for _, m := range msgs {
		if m.id != "" {
			lastID = m.id
		}
	}
	// An unknown field, through B: A's own answer.
	code, got, _ = b.req("POST", "/v1/payments/"+p.Payment.ID+"/fields/nope/arm", p.FormToken, "")
	if code != http.StatusNotFound || errorCode(t, got) != "not_found" {
		t.Fatalf("an unknown field through B: %d %s", code, got)
	}
	// The stream resumes through A from the last event B passed on.
	resumed := a.openStream("/v1/payments/"+p.Payment.ID+"/events?access_token="+p.FormToken, "", "Last-Event-ID", lastID)
	var v viewJSON
	b.must(http.StatusOK, "POST", "/v1/payments/"+p.Payment.ID+"/process", p.FormToken, "", &v)
	if v.State != "approved" {
		t.Fatalf("processed through B: %s", v.State)
	}
	found := false
	for _, m := range resumed.until("result") {
		if m.event == "snapshot" || m.event == "reset" {
			t.Fatalf("the resumed stream started again (%s) rather than resuming", m.event)
		}
		found = found || m.event == "result"
	}
	if !found {
		t.Fatal("no result on the resumed stream")
	}
	// A node's name without its signature, or with another's: refused,
	// and nothing done.
	for _, hdr := range [][]string{
		{headerNode, "node-b"},
		{headerNode, "node-b", headerNodeAuth, "1.00"},
		{headerNode, "node-b", headerNodeAuth, b.srv.nodeSignature("node-b", time.Now().Add(-time.Hour).Unix(), "POST", "/v1/payments/"+p.Payment.ID+"/end")},
	} {
		code, got, _ := a.req("POST", "/v1/payments/"+p.Payment.ID+"/end", testKey, "", hdr...)
		if code != http.StatusUnauthorized {
			t.Fatalf("a forged node header %v: %d %s", hdr, code, got)
		}
	}
	if st := a.ps.Payment(p.Payment.ID); st != nil && st.State().String() != "approved" {
		t.Fatalf("the payment after forged requests: %s", st.State())
	}
}

// A read of a payment through the node that holds its call, and through
// another node that hands it on: the cost of the hand-off is the
// difference (make bench writes both).
func BenchmarkPaymentReadHandedOn(b *testing.B) {
	a, bn := twoNodes(b)
	c := a.newCall(call.Correlation{AgentID: "agent-bench"})
	var p created
	a.must(http.StatusCreated, "POST", "/v1/payments", testKey, `{"call_id":"`+c.ID()+`","type":"agent_assist","prefill":{"amount":500}}`, &p)
	if err := a.st.AddPaymentRoute(b.Context(), store.PaymentRoute{PaymentID: p.Payment.ID, NodeID: "node-a", CallID: c.ID()}); err != nil {
		b.Fatal(err)
	}
	for _, n := range []struct {
		name string
		e    *testEnv
	}{{"direct", a}, {"handed_on", bn}} {
		b.Run(n.name, func(b *testing.B) {
			client := n.e.ts.Client()
			url := n.e.ts.URL + "/v1/payments/" + p.Payment.ID
			for b.Loop() {
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Authorization", "Bearer "+testKey)
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Fatalf("status %d", res.StatusCode)
				}
			}
		})
	}
}

// The call's node dies while a form follows the payment through another
// node: the stream, resumed there with Last-Event-ID, gets the events it
// missed from the shared event log, then the payment as it stands.
func TestStreamResumesAfterTheCallsNodeDied(t *testing.T) {
	var evlog atomic.Pointer[cluster.EventLog]
	hook := func(configID string, e payment.Event) {
		if l := evlog.Load(); l != nil {
			l.Hook(configID, e)
		}
	}
	secret := func(c *Config) { c.FormTokenSecret = strings.Repeat("s", 32) }
	a := newTestEnv(t, envOptions{edit: secret, hook: hook})
	b := newTestEnv(t, envOptions{shared: a.st, edit: secret})
	l := cluster.NewEventLog(a.st, slog.New(slog.DiscardHandler))
	evlog.Store(l)
	logCtx, stopLog := context.WithCancel(t.Context())
	logged := make(chan struct{})
	go func() { l.Run(logCtx); close(logged) }()
	regs := map[string]*cluster.Registry{}
	for _, n := range []struct {
		e  *testEnv
		id string
	}{{a, "node-a"}, {b, "node-b"}} {
		cfg := cluster.Config{Enabled: true, NodeID: n.id, Heartbeat: 100 * time.Millisecond, DeadAfter: 200 * time.Millisecond}
		reg, err := cluster.New(cfg, a.st, n.e.ts.URL, "")
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.Beat(t.Context()); err != nil {
			t.Fatal(err)
		}
		n.e.srv.cluster, regs[n.id] = reg, reg
	}
	c := a.newCall(call.Correlation{AgentID: "agent-d"})
	var p created
	a.must(http.StatusCreated, "POST", "/v1/payments", testKey, `{"call_id":"`+c.ID()+`","type":"agent_assist","prefill":{"amount":500,"currency":"GBP"}}`, &p)
	if err := a.st.AddPaymentRoute(t.Context(), store.PaymentRoute{PaymentID: p.Payment.ID, NodeID: "node-a", CallID: c.ID()}); err != nil {
		t.Fatal(err)
	}
	s := b.openStream("/v1/payments/"+p.Payment.ID+"/events?access_token="+p.FormToken, "")
	if m := s.mustNext(); m.event != "snapshot" {
		t.Fatalf("first message: %+v", m)
	}
	b.must(http.StatusOK, "POST", "/v1/payments/"+p.Payment.ID+"/fields/card_number/arm", p.FormToken, "", nil)
	a.press(c, "4242424242424242"+"1230"+"123")
	var msgs []sseMsg
	for range 200 {
		m := s.mustNext()
		msgs = append(msgs, m)
		if m.event == "state" && strings.Contains(m.data, `"state":"ready"`) {
			break
		}
	}
	var resumeAt string
	var missed []string
	for i, m := range msgs {
		if m.id == "" {
			continue
		}
		if i < 3 {
			resumeAt = m.id
			continue
		}
		missed = append(missed, m.id+" "+m.event)
	}
	if resumeAt == "" || len(missed) < 10 {
		t.Fatalf("the stream through B: %d messages", len(msgs))
	}
	stopLog()
	<-logged // every event written

	// Node A stops beating: dead for B once its heartbeat is stale.
	testkit.WaitFor(t, "node A dead for node B", func() bool {
		_ = regs["node-b"].Beat(t.Context())
		_, err := regs["node-b"].Peer(t.Context(), "node-a")
		return errors.Is(err, cluster.ErrNoPeer)
	})
	resumed := b.openStream("/v1/payments/"+p.Payment.ID+"/events?access_token="+p.FormToken, "", "Last-Event-ID", resumeAt)
	var got []string
	for {
		m, ok := resumed.next(false)
		if !ok {
			break
		}
		if m.event == "snapshot" {
			if !strings.Contains(m.data, `"state":"`) {
				t.Fatalf("the closing snapshot: %s", m.data)
			}
			break
		}
		got = append(got, m.id+" "+m.event)
	}
	if strings.Join(got, ",") != strings.Join(missed, ",") {
		t.Fatalf("replayed after %s:\n%v\nwant what the first stream had:\n%v", resumeAt, got, missed)
	}
	// A client that had every event still gets the payment as it stands:
	// a stream that ended with nothing would be resumed again and again.
	lastSeen := strings.Fields(missed[len(missed)-1])[0]
	again := b.openStream("/v1/payments/"+p.Payment.ID+"/events?access_token="+p.FormToken, "", "Last-Event-ID", lastSeen)
	m, ok := again.next(false)
	if !ok || m.event != "snapshot" || m.id != lastSeen || !strings.Contains(m.data, `"state":"`) {
		t.Fatalf("resumed with nothing missed: %+v (%v), want the snapshot, id %s", m, ok, lastSeen)
	}
}

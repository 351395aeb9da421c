package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"dtmfgw/call"
	"dtmfgw/cluster"
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

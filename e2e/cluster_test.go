package e2e

// Three nodes on one PostgreSQL: A and B serve in this process, C in a
// child process (so that it can die by SIGKILL). Calls land on C; the CRM
// and the agent's form reach A and B, which hand every request on to C.
// C is killed while the processor has a card: a survivor settles the
// charge by asking (one node, under a lease; no second charge), and ends
// C's open payment as "call lost".

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"dtmfgw/internal/simcall"
	"dtmfgw/internal/testkit"
	"dtmfgw/internal/testkit/pgtest"
)

// clusterSecret is the nodes' shared form token secret.
const clusterSecret = "e2e-cluster-secret-0123456789abcdef"

// clusterYAML is one node's configuration: its listeners on ip, the
// shared store, the held Stripe, short heartbeats.
func clusterYAML(node, ip, dsn, stripeURL, agentURI string) string {
	return fmt.Sprintf(`sip:
  listen: %[2]s:0
  default_target: %[5]s
media:
  media_timeout: 0s
http:
  listen: %[2]s:0
  form_token_secret: %[6]s
admin:
  listen: %[2]s:0
%[4]sstorage:
  dsn: %[3]s
cluster:
  enabled: true
  node_id: %[1]s
  heartbeat: 200ms
  dead_after: 1500ms
log:
  level: debug
`, node, ip, dsn, heldStripePayments(stripeURL), agentURI, clusterSecret)
}

// clusterFixture is what every node of a cluster test shares: a fresh
// PostgreSQL schema, the held Stripe, an agent (closed when t ends), and a
// quiet logger for the simulated parties.
func clusterFixture(t *testing.T, ctx context.Context) (dsn string, psp *heldStripe, agent *simcall.Agent, log *slog.Logger) {
	t.Helper()
	log = slog.New(slog.DiscardHandler)
	agent, err := simcall.NewAgent(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Close() })
	return pgtest.Fresh(t), newHeldStripe(t), agent, log
}

func TestClusterHandsOnAndSurvivesANodesDeath(t *testing.T) {
	if testing.Short() {
		t.Skip("three nodes on PostgreSQL, one killed: make test runs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dsn, psp, agent, log := clusterFixture(t, ctx)

	a := startGateway(t, clusterYAML("node-a", "127.0.0.2", dsn, psp.srv.URL, agent.URI()))
	b := startGateway(t, clusterYAML("node-b", "127.0.0.3", dsn, psp.srv.URL, agent.URI()))
	cfgC := &testGateway{path: filepath.Join(t.TempDir(), "dtmfgw.yaml"), defaults: loopbackDefaults(t, t.TempDir())}
	cfgC.writeConfig(t, clusterYAML("node-c", "127.0.0.4", dsn, psp.srv.URL, agent.URI()))
	c := startServeChild(t, cfgC.path)
	sipC, httpC, _ := c.serving(t)
	apiA, apiB := a.api(t), b.api(t)
	apiC := &e2eAPI{t: t, base: "http://" + httpC, key: e2eAPIKey}

	var nodes struct {
		Nodes []struct {
			ID    string `json:"id"`
			Alive bool   `json:"alive"`
		} `json:"nodes"`
	}
	testkit.WaitFor(t, "node A sees the three nodes alive", func() bool {
		apiA.must(ctx, 200, "GET", "/v1/nodes", nil, &nodes)
		alive := 0
		for _, n := range nodes.Nodes {
			if n.Alive {
				alive++
			}
		}
		return alive == 3
	})

	// Three calls land on node C, to three agents (one answers one call).
	agents := []*simcall.Agent{agent}
	for range 2 {
		ag, err := simcall.NewAgent(ctx, log)
		if err != nil {
			t.Fatal(err)
		}
		defer ag.Close()
		agents = append(agents, ag)
	}
	callers := make([]*simcall.Caller, len(agents))
	for i, ag := range agents {
		target := ag.URI()
		var err error
		if callers[i], err = simcall.NewCaller(ctx, log); err != nil {
			t.Fatal(err)
		}
		defer callers[i].Close()
		if err := callers[i].Call(ctx, netip.MustParseAddrPort(sipC), "1000", simcall.Header{Name: "X-Agent-Id", Value: fmt.Sprintf("agent-%d", i)},
			simcall.Header{Name: "X-Dtmfgw-Target", Value: target}); err != nil {
			t.Fatal(err)
		}
	}

	// The CRM makes the payments through A and B; C makes them.
	create := func(api *e2eAPI, agentID, typ string) e2ePayment {
		var p e2ePayment
		body := map[string]any{"agent_id": agentID, "idempotency_key": "crm-" + agentID,
			"prefill": map[string]any{"amount": 1999, "currency": "GBP", "reference": "cluster-" + agentID}}
		if typ != "" {
			body["type"] = typ
		}
		testkit.WaitFor(t, "the call of "+agentID+" shared by node C", func() bool {
			code, out := api.do(ctx, "POST", "/v1/payments", body)
			if code == 201 || code == 200 {
				if err := json.Unmarshal(out, &p); err != nil {
					t.Fatal(err)
				}
				return true
			}
			return false
		})
		return p
	}
	pay := create(apiA, "agent-0", "agent_assist")
	open := create(apiB, "agent-1", "agent_assist")
	// The third waits for the agent to choose its type; every node reads
	// it (through B, from C).
	waiting := create(apiA, "agent-2", "")
	var wv struct {
		State string   `json:"state"`
		Types []string `json:"types"`
	}
	apiB.must(ctx, 200, "GET", "/v1/payments/"+waiting.Payment.ID, nil, &wv)
	if wv.State != "created" || len(wv.Types) != 2 {
		t.Fatalf("the payment made without a type: %+v, want one waiting for the agent's choice", wv)
	}
	id := pay.Payment.ID

	// The agent's form of the open payment, served by node B and following
	// the payment through it.
	form := newBrowser(t)
	_, fragment, _ := strings.Cut(open.FormURL, "#")
	form.run("open the form through node B", chromedp.Navigate(apiB.base+"/form/"+open.Payment.ID+"#"+fragment))
	form.until("the form, secure", `!!document.querySelector('#badge.secure') && !!document.querySelector('`+field("card_number")+`') && document.querySelector('#result').hidden`, e2eWait)

	// The form follows the payment through B; its commands go through B.
	events := apiB.stream(ctx, id)
	apiB.must(ctx, 200, "POST", "/v1/payments/"+id+"/fields/card_number/arm", nil, nil)
	keys := []byte(cardApproved + cardExpiry + cardCVC)
	defer clear(keys)
	keyed := make(chan error, 1)
	go func() { keyed <- callers[0].KeyDigits(ctx, keys, 80*time.Millisecond, 80*time.Millisecond) }()
	if err := events.waitEvent(ctx, "state", "ready", keyed); err != nil {
		t.Fatal(err)
	}
	// Process through A: C hands the card to the processor, which holds
	// its answer; C dies meanwhile.
	key := killDuringCharge(t, ctx, apiA.base, id, psp, c)
	died := time.Now()
	_ = c.cmd.Wait()

	// A survivor asks the processor about it (under a lease: one asks),
	// and settles it.
	select {
	case asked := <-psp.searched:
		if asked != key {
			t.Fatalf("a survivor asked about key %q, want the charge's %q", asked, key)
		}
	case <-time.After(e2eWait):
		t.Fatal("no survivor asked the processor about the dead node's charge")
	}
	close(psp.releaseSearch)
	var view struct {
		State string `json:"state"`
	}
	testkit.WaitFor(t, "the dead node's charge settled", func() bool {
		apiB.must(ctx, 200, "GET", "/v1/payments/"+id, nil, &view)
		return view.State == "approved"
	})
	if charges, _ := psp.log(); len(charges) != 1 {
		t.Fatalf("the processor got %d charges, want 1", len(charges))
	}
	// The dead node's open payment ends as the call's loss, seen through
	// either survivor.
	for _, p := range []e2ePayment{open, waiting} {
		testkit.WaitFor(t, "the dead node's open payment ended", func() bool {
			apiA.must(ctx, 200, "GET", "/v1/payments/"+p.Payment.ID, nil, &view)
			return view.State == "cancelled"
		})
	}
	// The form, whose stream went through B to C, shows it: its stream
	// resumed through B, which answers for the dead node.
	form.until("the form shows the payment ended", `document.querySelector('#result')?.dataset.state === 'cancelled'`, e2eWait)
	t.Logf("the form showed the lost call's payment ended %v after node C's death", time.Since(died).Round(100*time.Millisecond))
	form.shot("call-lost")
	apiA.must(ctx, 200, "GET", "/v1/nodes", nil, &nodes)
	for _, n := range nodes.Nodes {
		if n.ID == "node-c" && n.Alive {
			t.Error("node C is listed alive after its death")
		}
	}
	_, scrape := httpGet(t, "http://"+a.Admin+"/metrics", "")
	for _, want := range []string{`dtmfgw_cluster_nodes{state="alive"} 2`, `dtmfgw_cluster_nodes{state="dead"} 1`, `dtmfgw_cluster_events_dropped_total 0`} {
		if !strings.Contains(scrape, want+"\n") {
			t.Errorf("node A's metrics lack %q", want)
		}
	}

	artifacts := map[string]string{
		"node A log":   a.Log.String(),
		"node B log":   b.Log.String(),
		"node C log":   c.log.String(),
		"API bodies":   apiA.Transcript() + apiB.Transcript() + apiC.Transcript(),
		"SSE stream":   events.String(),
		"agent's form": eval[string](form, `document.body.innerText`),
		"the database": dumpDatabase(t, dsn),
	}
	checkNoCardDigits(t, artifacts, cardApproved)
	for name, text := range artifacts {
		if name != "the database" && strings.Contains(text, clusterSecret) {
			t.Errorf("the %s holds the nodes' shared secret", name)
		}
	}
}

// dumpDatabase returns every row of every table of the test's schema, as
// JSON text, for the search for card digits.
func dumpDatabase(t *testing.T, dsn string) string {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tables, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for tables.Next() {
		var n string
		if err := tables.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	tables.Close()
	var out strings.Builder
	for _, n := range names {
		rows, err := db.Query(`SELECT row_to_json(t)::text FROM "` + n + `" t`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			out.WriteString(n + ": " + line + "\n")
		}
		rows.Close()
	}
	if !strings.Contains(out.String(), "payments: ") {
		t.Fatal("the dump holds no payment: did it read the test's schema?")
	}
	return out.String()
}

package api

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"dtmfgw/call"
)

// eventsPath is the payment's event stream with tok in the query, as the
// form opens it.
func eventsPath(id, tok string) string { return "/v1/payments/" + id + "/events?access_token=" + tok }

// openAll opens n streams of path with auth, each read up to its snapshot
// (so each is admitted before the next is opened).
func (e *testEnv) openAll(n int, path, auth string) []*stream {
	e.t.Helper()
	var out []*stream
	for range n {
		s := e.openStream(path, auth)
		if m := s.mustNext(); m.event != "snapshot" {
			e.t.Fatalf("first message %q", m.event)
		}
		out = append(out, s)
	}
	return out
}

// mustBeReplaced reads the stream's end: event: replaced, then nothing.
func mustBeReplaced(t *testing.T, s *stream, which string) {
	t.Helper()
	m, ok := s.next(false)
	if !ok || m.event != "replaced" || m.data != `{"reason":"replaced"}` {
		t.Fatalf("%s: %+v (open %v), want event: replaced", which, m, ok)
	}
	if m, ok := s.next(false); ok {
		t.Fatalf("%s: %+v after replaced, want the end", which, m)
	}
}

// mustFollow reads the stream up to a field_armed event, which it must
// get without being replaced.
func mustFollow(t *testing.T, s *stream, which string) {
	t.Helper()
	for _, m := range s.until("field_armed") {
		if m.event == "replaced" {
			t.Fatalf("%s was replaced", which)
		}
	}
}

// agentToken mints a second form token of the payment: another
// credential, as a form opened anew would hold. (A token minted with the
// same expiry second would be the same token.)
func (e *testEnv) agentToken(id string) string {
	return mintFormToken(e.srv.secret, id, e.clock.Now().Add(2*time.Hour))
}

// TestStreamsPerCredentialReplaceTheOldest: one form token opens
// MaxStreamsPerCredential+2 streams of its payment; the two oldest end
// with event: replaced (and give their places on the call's bus back),
// the newest follow the payment, and the agent's own token (another
// credential) connects and follows it too, replacing none of them.
func TestStreamsPerCredentialReplaceTheOldest(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	c := e.newCall(call.Correlation{AgentID: "agent-s"})
	cr := e.create(c, "")
	id, tok := cr.Payment.ID, cr.FormToken
	greedy := e.openAll(MaxStreamsPerCredential+2, eventsPath(id, tok), "")
	mustBeReplaced(t, greedy[0], "the oldest stream")
	mustBeReplaced(t, greedy[1], "the second oldest stream")
	doc := loadOpenAPIDoc(t)
	for _, p := range check(doc.schema(t, "/components/schemas/StreamReplaced"), []byte(`{"reason":"replaced"}`)) {
		t.Errorf("event: replaced's data against the document: %s", p)
	}

	agentTok := e.agentToken(id)
	agent := e.openAll(1, eventsPath(id, agentTok), "")[0]
	keyed := e.openAll(1, "/v1/payments/"+id+"/events", testKey)[0] // a CRM, by its API key
	if n := e.ps.Set(c.ID()).Events().Stats().Subscribers; n != MaxStreamsPerCredential+2 {
		t.Errorf("%d subscribers on the call's bus, want %d: a replaced stream kept its place", n, MaxStreamsPerCredential+2)
	}
	e.must(http.StatusOK, "POST", "/v1/payments/"+id+"/fields/card_number/arm", agentTok, "", nil)
	for i, s := range greedy[2:] {
		mustFollow(t, s, "newer stream "+string(rune('a'+i)))
	}
	mustFollow(t, agent, "the agent's stream")
	mustFollow(t, keyed, "the API key's stream")
}

// TestStreamsFullCallReplaceTheGreediest: on a call holding its most
// streams, a new credential's stream replaces the oldest stream of the
// credential that holds the most there, and no other.
func TestStreamsFullCallReplaceTheGreediest(t *testing.T) {
	e := newTestEnv(t, envOptions{opts: []Option{withStreamLimits(4, 6, 100)}})
	c := e.newCall(call.Correlation{AgentID: "agent-g"})
	cr := e.create(c, "")
	id, tok := cr.Payment.ID, cr.FormToken
	// The token's streams are the call's oldest: the key's are replaced
	// because the key holds the most, not because they are older.
	byTok := e.openAll(2, eventsPath(id, tok), "")
	byKey := e.openAll(4, "/v1/payments/"+id+"/events", testKey)
	agentTok := e.agentToken(id)
	agent := e.openAll(1, eventsPath(id, agentTok), "")[0]
	mustBeReplaced(t, byKey[0], "the API key's oldest stream")
	e.must(http.StatusOK, "POST", "/v1/payments/"+id+"/fields/card_number/arm", agentTok, "", nil)
	for _, s := range append(append(byKey[1:], byTok...), agent) {
		mustFollow(t, s, "a stream")
	}
}

// TestStreamsGlobalBound: beyond the server's bound a new stream is
// refused with 503 too_many_streams.
func TestStreamsGlobalBound(t *testing.T) {
	e := newTestEnv(t, envOptions{opts: []Option{withStreamLimits(4, 48, 2)}})
	c := e.newCall(call.Correlation{AgentID: "agent-b"})
	cr := e.create(c, "")
	id, tok := cr.Payment.ID, cr.FormToken
	e.openAll(1, "/v1/payments/"+id+"/events", testKey)
	e.openAll(1, eventsPath(id, tok), "")
	agentTok := e.agentToken(id)
	code, b, _ := e.req("GET", eventsPath(id, agentTok), "", "")
	if code != http.StatusServiceUnavailable || errorCode(t, b) != "too_many_streams" {
		t.Fatalf("third stream: %d %s, want 503 too_many_streams", code, b)
	}
}

// getBounded is a GET that gives up after 5 s (a stream that opened
// instead of being refused answers 0 then, and the test fails rather than
// waits).
func (e *testEnv) getBounded(path, auth string) (int, []byte) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", e.ts.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, b
	}
	return resp.StatusCode, b
}

// TestAPIKeyNeverInURL: a valid API key in the query string is refused
// with 401, on the event stream and on every other path, even beside a
// valid Authorization header; the same key in the header opens the
// stream, and the form token in the query still does; the refusal is
// logged without the key.
func TestAPIKeyNeverInURL(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	theCall := e.newCall(call.Correlation{AgentID: "agent-u"})
	cr := e.create(theCall, "")
	id, tok := cr.Payment.ID, cr.FormToken
	for _, c := range []struct{ path, auth string }{
		{eventsPath(id, testKey), ""},
		{eventsPath(id, testKey), testKey},
		{eventsPath(id, testKey), tok},
		{"/v1/payments/" + id + "?access_token=" + testKey, testKey},
		{"/v1/configurations?access_token=" + testKey, testKey},
		{"/v1/calls?agent_id=x&access_token=" + testKey, testKey},
	} {
		code, b := e.getBounded(c.path, c.auth)
		if code != http.StatusUnauthorized || !strings.Contains(string(b), `"code":"unauthorized"`) || !strings.Contains(string(b), "Authorization") {
			t.Errorf("GET %s (header %v): %d %s, want 401", strings.ReplaceAll(c.path, testKey, "KEY"), c.auth != "", code, b)
		}
	}
	e.openAll(1, "/v1/payments/"+id+"/events", testKey) // the key in the header
	e.openAll(1, eventsPath(id, tok), "")               // the form token in the query
	if code, b, _ := e.req("GET", "/v1/payments/"+id+"?access_token=not-a-key", testKey, ""); code != http.StatusOK {
		t.Errorf("a query that holds no key: %d %s", code, b)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "API key in a URL refused") || strings.Contains(logs, testKey) {
		t.Errorf("the refusal is not logged, or the log holds the key:\n%s", logs)
	}
}

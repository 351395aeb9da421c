package api

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"dtmfgw/session"
)

// openAPIDoc is the served document, decoded, for checking answers
// against its schemas.
type openAPIDoc struct {
	root map[string]any
}

func loadOpenAPIDoc(t *testing.T) openAPIDoc {
	t.Helper()
	b, err := openAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	return openAPIDoc{root}
}

// ref follows a local reference ("#/components/schemas/Payment").
func (d openAPIDoc) ref(ref string) map[string]any {
	var node any = d.root
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, _ := node.(map[string]any)
		node = m[part]
	}
	m, _ := node.(map[string]any)
	return m
}

// resolve returns s with its $ref followed (bounded: no loops).
func (d openAPIDoc) resolve(s map[string]any) map[string]any {
	for range 8 {
		r, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		s = d.ref(r)
	}
	return s
}

// responseSchema is the application/json schema the document gives for
// the answer status to method on the concrete path, or nil; documented
// says whether the document has the path and method at all.
func (d openAPIDoc) responseSchema(method, path string, status int) (schema map[string]any, documented bool) {
	paths, _ := d.root["paths"].(map[string]any)
	for tmpl, ops := range paths {
		if !pathMatches(tmpl, path) {
			continue
		}
		op, _ := ops.(map[string]any)[strings.ToLower(method)].(map[string]any)
		if op == nil {
			return nil, false
		}
		responses, _ := op["responses"].(map[string]any)
		resp, _ := responses[strconv.Itoa(status)].(map[string]any)
		if resp == nil {
			return nil, true
		}
		resp = d.resolve(resp)
		content, _ := resp["content"].(map[string]any)
		media, _ := content["application/json"].(map[string]any)
		s, _ := media["schema"].(map[string]any)
		return s, true
	}
	return nil, false
}

// pathMatches reports whether path is an instance of the template
// ("/v1/payments/{id}").
func pathMatches(tmpl, path string) bool {
	ts, ps := strings.Split(tmpl, "/"), strings.Split(path, "/")
	if len(ts) != len(ps) {
		return false
	}
	for i := range ts {
		if !strings.HasPrefix(ts[i], "{") && ts[i] != ps[i] {
			return false
		}
	}
	return true
}

// check reports every member of v the schema s does not list (where s
// lists properties), every required member v lacks, and every value whose
// JSON type is not the schema's, recursively; at is v's place.
func (d openAPIDoc) check(at string, v any, s map[string]any) []string {
	s = d.resolve(s)
	if s == nil {
		return []string{at + ": no schema"}
	}
	var bad []string
	if typ, ok := s["type"].(string); ok && !jsonTypeIs(v, typ) {
		return []string{fmt.Sprintf("%s: %T, the schema says %s", at, v, typ)}
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asList(s["required"]) {
			if _, ok := v[r.(string)]; !ok {
				bad = append(bad, at+"."+r.(string)+": required, absent")
			}
		}
		if props == nil {
			return bad // a free-form object
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ps, ok := props[k].(map[string]any)
			if !ok {
				bad = append(bad, at+"."+k+": not in the schema")
				continue
			}
			bad = append(bad, d.check(at+"."+k, v[k], ps)...)
		}
	case []any:
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range v {
				bad = append(bad, d.check(fmt.Sprintf("%s[%d]", at, i), e, items)...)
			}
		}
	}
	return bad
}

func asList(v any) []any { l, _ := v.([]any); return l }

// jsonTypeIs reports whether the decoded JSON value v is of the schema
// type typ.
func jsonTypeIs(v any, typ string) bool {
	switch v := v.(type) {
	case map[string]any:
		return typ == "object"
	case []any:
		return typ == "array"
	case string:
		return typ == "string"
	case bool:
		return typ == "boolean"
	case float64:
		return typ == "number" || (typ == "integer" && v == math.Trunc(v))
	case nil:
		return typ == "null"
	}
	return false
}

// TestResponsesMatchTheSchemas runs a payment's life (a configuration with
// a webhook; a payment waiting for its configuration; armed, typed,
// cleared, processed; another; ended; read from the store; errors) and
// checks every JSON answer against the schema the document gives for its
// path, method and status, and every event-stream message against Payment
// (the snapshot) or Event.
func TestResponsesMatchTheSchemas(t *testing.T) {
	const secret = "webhook-secret-0123456789abcdef"
	card := session.DefaultPaymentConfigs()[0]
	card.Currency = "GBP"
	card.Webhook = session.WebhookConfig{URL: "https://crm.example.com/hook", Secret: secret, Progress: true,
		Events: []session.EventType{session.EventState, session.EventFieldComplete}}
	other := session.DefaultPaymentConfigs()[0]
	other.ID, other.Name = "card-2", "Card 2"
	other.Fields = append(other.Fields, session.FieldConfig{ID: "account", Label: "Account", Kind: session.FieldDigits, MinLen: 4, MaxLen: 8})
	e := newTestEnv(t, envOptions{configs: []session.PaymentConfig{card, other}})
	doc := loadOpenAPIDoc(t)

	code, b, _ := e.req("GET", "/v1/configurations", testKey, "")
	if code != http.StatusOK || !strings.Contains(string(b), `"webhook":{"url":"https://crm.example.com/hook"`) {
		t.Fatalf("configurations: %d %s", code, b)
	}
	if strings.Contains(string(b), secret) || strings.Contains(string(b), "secret") {
		t.Fatalf("the webhook secret is shown: %s", b)
	}
	e.req("GET", "/v1/configurations", "", "")
	call := e.newCall(session.Correlation{AgentID: "agent-s", PrimaryCallID: "pc-s", CallerNumber: "447700900123", CalledNumber: "441134960000"})
	e.req("GET", "/v1/calls?agent_id=agent-s", testKey, "")
	e.req("GET", "/v1/calls?agent_id="+strings.Repeat("a", 300), testKey, "")
	// No configuration named: the payment waits, listing them.
	cr := e.create(call, "")
	id, tok := cr.Payment.ID, cr.FormToken
	if len(cr.Payment.Configurations) != 2 {
		t.Fatalf("pending payment %+v", cr.Payment)
	}
	s := e.openStream("/v1/payments/"+id+"/events?access_token="+tok, "")
	e.must(http.StatusOK, "PUT", "/v1/payments/"+id+"/configuration", tok, `{"configuration":"card"}`, nil)
	e.must(http.StatusOK, "PATCH", "/v1/payments/"+id, tok, `{"amount":2500,"cardholder_name":"A Person"}`, nil)
	e.must(http.StatusOK, "POST", "/v1/payments/"+id+"/fields/card_number/arm", tok, "", nil)
	e.press(call, "4242424242424242"+"1230"+"123")
	e.must(http.StatusOK, "POST", "/v1/payments/"+id+"/fields/security_code/clear", tok, "", nil)
	e.press(call, "321")
	e.req("POST", "/v1/payments/"+id+"/fields/nope/arm", tok, "")
	e.must(http.StatusOK, "POST", "/v1/payments/"+id+"/process", tok, "", nil)
	e.req("POST", "/v1/payments/"+id+"/process", tok, "")
	e.req("GET", "/v1/calls?primary_call_id=pc-s", testKey, "")
	msgs := s.until("result")
	var next created
	e.must(http.StatusCreated, "POST", "/v1/payments/"+id+"/another", tok, "", &next)
	e.req("POST", "/v1/payments/"+next.Payment.ID+"/process", next.FormToken, "")
	e.must(http.StatusOK, "POST", "/v1/payments/"+next.Payment.ID+"/end", next.FormToken, "", nil)
	e.endCall(call)
	e.must(http.StatusOK, "GET", "/v1/payments/"+id, testKey, "", nil)
	e.req("GET", "/v1/payments/pay_unknown", testKey, "")
	e.req("POST", "/v1/payments", testKey, `{"call_id":`)
	e.req("POST", "/v1/payments", testKey, `{"call_id":"x","colour":"red"}`)

	e.mu.Lock()
	exchanges := slices.Clone(e.exchanges)
	e.mu.Unlock()
	checked := map[string]bool{}
	for _, x := range exchanges {
		if len(x.body) == 0 || !strings.HasPrefix(x.header.Get("Content-Type"), "application/json") {
			continue
		}
		path, _, _ := strings.Cut(x.path, "?")
		schema, documented := doc.responseSchema(x.method, path, x.status)
		where := fmt.Sprintf("%s %s %d", x.method, x.path, x.status)
		if !documented || schema == nil {
			t.Errorf("%s: the document has no JSON answer for it", where)
			continue
		}
		var v any
		if err := json.Unmarshal(x.body, &v); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		for _, p := range doc.check("body", v, schema) {
			t.Errorf("%s: %s", where, p)
		}
		checked[strconv.Itoa(x.status)] = true
	}
	for _, st := range []string{"200", "201", "400", "401", "404", "409"} {
		if !checked[st] {
			t.Errorf("no %s answer checked", st)
		}
	}
	events := doc.ref("#/components/schemas/Event")
	payment := doc.ref("#/components/schemas/Payment")
	types := map[string]bool{}
	for _, m := range msgs {
		var v any
		if err := json.Unmarshal([]byte(m.data), &v); err != nil {
			t.Fatalf("event %s: %v", m.event, err)
		}
		schema := events
		if m.event == "snapshot" {
			schema = payment
		}
		for _, p := range doc.check("event "+m.event, v, schema) {
			t.Error(p)
		}
		types[m.event] = true
	}
	for _, typ := range []string{"snapshot", "field_armed", "field_length", "field_complete", "state", "result"} {
		if !types[typ] {
			t.Errorf("no %s event checked (saw %v)", typ, types)
		}
	}
}

// The checker itself finds a member the schema lacks, a wrong type and
// a required member absent.
func TestSchemaCheckFindsGaps(t *testing.T) {
	doc := loadOpenAPIDoc(t)
	for _, c := range []struct {
		name, schema, body, want string
	}{
		{"fine", "Error", `{"error":{"code":"x","message":"y"}}`, ""},
		{"extra member", "Call", `{"id":"c","colour":"red"}`, "body.colour: not in the schema"},
		{"nested extra", "Payment", `{"result":{"state":"approved","pin":"1"}}`, "body.result.pin: not in the schema"},
		{"in an array", "Configuration", `{"fields":[{"id":"a","secret":"s"}]}`, "body.fields[0].secret: not in the schema"},
		{"wrong type", "Event", `{"seq":"1","at":"t","type":"state"}`, "body.seq: string"},
		{"required absent", "Error", `{"error":{"code":"x"}}`, "body.error.message: required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(c.body), &v); err != nil {
				t.Fatal(err)
			}
			got := strings.Join(doc.check("body", v, doc.ref("#/components/schemas/"+c.schema)), "\n")
			if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

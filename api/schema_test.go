package api

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"dtmfgw/call"
	"dtmfgw/payment"
)

// openAPIDoc is the served document, decoded, and a JSON Schema compiler
// holding it: OpenAPI 3.1's schemas are JSON Schema 2020-12, so a
// validator checks answers against them (types, required members, enums,
// formats) instead of a checker of our own.
type openAPIDoc struct {
	root map[string]any
	c    *jsonschema.Compiler
}

// docURL is where the compiler holds the document: schema locations are
// this plus a JSON pointer ("#/components/schemas/Payment").
const docURL = "file:///openapi.json"

func loadOpenAPIDoc(t *testing.T) openAPIDoc {
	t.Helper()
	b, err := openAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	root, _ := raw.(map[string]any)
	if root == nil {
		t.Fatal("the document is not a JSON object")
	}
	// The document's objects are open, as a client's view of an API that
	// grows should be; the server's own answers must hold nothing the
	// document does not name, so the tests read every object schema that
	// lists properties as closed.
	closeObjects(root)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, root); err != nil {
		t.Fatal(err)
	}
	return openAPIDoc{root: root, c: c}
}

// closeObjects gives every schema in v that lists properties, and says
// nothing of other members, unevaluatedProperties: false (JSON Schema
// 2020-12 §11.3: unlike additionalProperties, it sees through allOf).
func closeObjects(v any) {
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["properties"].(map[string]any); ok {
			_, add := v["additionalProperties"]
			_, uneval := v["unevaluatedProperties"]
			if !add && !uneval {
				v["unevaluatedProperties"] = false
			}
		}
		for _, c := range v {
			closeObjects(c)
		}
	case []any:
		for _, c := range v {
			closeObjects(c)
		}
	}
}

// schema compiles the schema at the document's JSON pointer ptr.
func (d openAPIDoc) schema(t *testing.T, ptr string) *jsonschema.Schema {
	t.Helper()
	s, err := d.c.Compile(docURL + "#" + ptr)
	if err != nil {
		t.Fatalf("schema %s: %v", ptr, err)
	}
	return s
}

// responseSchema is the JSON pointer of the application/json schema the
// document gives for the answer status to method on the concrete path,
// or ""; documented says whether the document has the path and method at
// all.
func (d openAPIDoc) responseSchema(method, path string, status int) (ptr string, documented bool) {
	paths, _ := d.root["paths"].(map[string]any)
	for tmpl, ops := range paths {
		if !pathMatches(tmpl, path) {
			continue
		}
		m := strings.ToLower(method)
		op, _ := ops.(map[string]any)[m].(map[string]any)
		if op == nil {
			return "", false
		}
		responses, _ := op["responses"].(map[string]any)
		code := strconv.Itoa(status)
		resp, _ := responses[code].(map[string]any)
		if resp == nil {
			return "", true
		}
		at := "/paths/" + pointerEscape(tmpl) + "/" + m + "/responses/" + code
		if ref, ok := resp["$ref"].(string); ok { // a shared response ("#/components/responses/Error")
			at = strings.TrimPrefix(ref, "#")
			resp = d.at(at)
		}
		content, _ := resp["content"].(map[string]any)
		if media, _ := content["application/json"].(map[string]any); media["schema"] == nil {
			return "", true
		}
		return at + "/content/application~1json/schema", true
	}
	return "", false
}

// requestSchema is the JSON pointer of the application/json request body
// schema the document gives for method on the concrete path, or "".
func (d openAPIDoc) requestSchema(method, path string) string {
	paths, _ := d.root["paths"].(map[string]any)
	for tmpl := range paths {
		if !pathMatches(tmpl, path) {
			continue
		}
		m := strings.ToLower(method)
		at := "/paths/" + pointerEscape(tmpl) + "/" + m + "/requestBody/content/application~1json/schema"
		if d.at(at) == nil {
			return ""
		}
		return at
	}
	return ""
}

// at returns the object at the document's JSON pointer ptr.
func (d openAPIDoc) at(ptr string) map[string]any {
	var node any = d.root
	for _, part := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, _ := node.(map[string]any)
		node = m[part]
	}
	m, _ := node.(map[string]any)
	return m
}

// pointerEscape escapes a JSON pointer reference token (RFC 6901 §3).
func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
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

// check validates the JSON body against s and returns each failure as
// "INSTANCE: message (KEYWORD)": JSON pointers to the value at fault ("" for
// the whole body) and to the schema keyword it broke.
func check(s *jsonschema.Schema, body []byte) []string {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	err = s.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return []string{err.Error()}
	}
	var bad []string
	for _, u := range ve.BasicOutput().Errors {
		if u.Error != nil {
			bad = append(bad, u.InstanceLocation+": "+u.Error.String()+" ("+u.KeywordLocation+")")
		}
	}
	if len(bad) == 0 {
		bad = append(bad, ve.Error())
	}
	return bad
}

// TestResponsesMatchTheSchemas runs a payment's life (a configuration with
// a webhook; a payment waiting for its configuration; armed, typed,
// cleared, processed; another; ended; read from the store; errors) and
// checks every JSON answer against the schema the document gives for its
// path, method and status, and every event-stream message against Payment
// (the snapshot) or Event.
func TestResponsesMatchTheSchemas(t *testing.T) {
	const secret = "webhook-secret-0123456789abcdef"
	card := payment.DefaultConfigs()[0]
	card.Currency = "GBP"
	card.Types = []payment.PaymentType{payment.TypeAgentAssist, payment.TypeDigital}
	card.Webhook = payment.WebhookConfig{URL: "https://crm.example.com/hook", Secret: secret, Progress: true,
		Events: []payment.EventType{payment.EventState, payment.EventFieldComplete}}
	other := payment.DefaultConfigs()[0]
	other.ID, other.Name = "card-2", "Card 2"
	other.Fields = append(other.Fields, payment.FieldConfig{ID: "account", Label: "Account", Kind: payment.FieldDigits, MinLen: 4, MaxLen: 8})
	e := newTestEnv(t, envOptions{configs: []payment.Config{card, other}, texter: &sentTexts{}})
	doc := loadOpenAPIDoc(t)

	code, b, _ := e.req("GET", "/v1/configurations", testKey, "")
	if code != http.StatusOK || !strings.Contains(string(b), `"webhook":{"url":"https://crm.example.com/hook"`) {
		t.Fatalf("configurations: %d %s", code, b)
	}
	if strings.Contains(string(b), secret) || strings.Contains(string(b), "secret") {
		t.Fatalf("the webhook secret is shown: %s", b)
	}
	e.req("GET", "/v1/configurations", "", "")
	e.req("GET", "/v1/nodes", testKey, "")
	c := e.newCall(call.Correlation{AgentID: "agent-s", PrimaryCallID: "pc-s", CallerNumber: "447700900123", CalledNumber: "441134960000"})
	e.req("GET", "/v1/calls?agent_id=agent-s", testKey, "")
	e.req("GET", "/v1/calls?agent_id="+strings.Repeat("a", 300), testKey, "")
	// No configuration named: the payment waits, listing them.
	cr := e.create(c, "")
	id, tok := cr.Payment.ID, cr.FormToken
	if len(cr.Payment.Configurations) != 2 {
		t.Fatalf("pending payment %+v", cr.Payment)
	}
	s := e.openStream("/v1/payments/"+id+"/events?access_token="+tok, "")
	e.must(http.StatusOK, "PUT", "/v1/payments/"+id+"/configuration", tok, `{"configuration":"card"}`, nil)
	e.must(http.StatusOK, "PATCH", "/v1/payments/"+id, testKey, `{"amount":2500}`, nil)
	e.must(http.StatusOK, "PATCH", "/v1/payments/"+id, tok, `{"cardholder_name":"A Person"}`, nil)
	e.req("PATCH", "/v1/payments/"+id, tok, `{"amount":1}`)                            // field_not_editable
	e.req("PATCH", "/v1/payments/"+id, testKey, `{"reference":"4111 1111 1111 1111"}`) // card_number_in_text
	e.must(http.StatusOK, "POST", "/v1/payments/"+id+"/fields/card_number/arm", tok, "", nil)
	e.press(c, "4242424242424242"+"1230"+"123")
	e.must(http.StatusOK, "POST", "/v1/payments/"+id+"/fields/security_code/clear", tok, "", nil)
	e.press(c, "321")
	e.req("POST", "/v1/payments/"+id+"/fields/nope/arm", tok, "")
	e.must(http.StatusOK, "POST", "/v1/payments/"+id+"/process", tok, "", nil)
	e.req("POST", "/v1/payments/"+id+"/process", tok, "")
	e.req("GET", "/v1/calls?primary_call_id=pc-s", testKey, "")
	msgs := s.until("result")
	var next created
	e.must(http.StatusCreated, "POST", "/v1/payments/"+id+"/another", tok, "", &next)
	e.req("POST", "/v1/payments/"+next.Payment.ID+"/process", next.FormToken, "")
	e.must(http.StatusOK, "POST", "/v1/payments/"+next.Payment.ID+"/end", next.FormToken, "", nil)
	// Digital: one with no call, sent, cancelled; one the form makes
	// digital.
	var d created
	e.must(http.StatusCreated, "POST", "/v1/payments", testKey, `{"type":"digital","configuration":"card","prefill":{"amount":1250},"phone":"+447700900123"}`, &d)
	e.must(http.StatusOK, "POST", "/v1/payments/"+d.Payment.ID+"/link/send", testKey, `{}`, nil)
	e.req("POST", "/v1/payments/"+d.Payment.ID+"/link/send", testKey, `{"phone":"0770"}`)
	e.must(http.StatusOK, "GET", "/v1/payments/"+d.Payment.ID, testKey, "", nil)
	e.must(http.StatusOK, "POST", "/v1/payments/"+d.Payment.ID+"/end", testKey, "", nil)
	e.req("POST", "/v1/payments/"+d.Payment.ID+"/link/send", testKey, "")
	var w created
	e.must(http.StatusCreated, "POST", "/v1/payments", testKey, `{"call_id":"`+c.ID()+`","configuration":"card","prefill":{"amount":700}}`, &w)
	if len(w.Payment.Types) != 2 || w.Payment.Type != "" {
		t.Fatalf("a payment whose configuration allows both types: %+v", w.Payment)
	}
	e.must(http.StatusOK, "PUT", "/v1/payments/"+w.Payment.ID+"/digital", w.FormToken, `{"phone":"+447700900123"}`, nil)
	e.req("PUT", "/v1/payments/"+w.Payment.ID+"/digital", w.FormToken, `{}`)
	e.endCall(c)
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
		ptr, documented := doc.responseSchema(x.method, path, x.status)
		where := fmt.Sprintf("%s %s %d", x.method, x.path, x.status)
		if !documented || ptr == "" {
			t.Errorf("%s: the document has no JSON answer for it", where)
			continue
		}
		for _, p := range check(doc.schema(t, ptr), x.body) {
			t.Errorf("%s: body%s", where, p)
		}
		checked[strconv.Itoa(x.status)] = true
	}
	// Every request body the server accepted is one the document allows:
	// a client built from the document can send what the tests send.
	accepted := 0
	for _, x := range exchanges {
		if len(x.sent) == 0 || x.status < 200 || x.status > 299 {
			continue
		}
		path, _, _ := strings.Cut(x.path, "?")
		ptr := doc.requestSchema(x.method, path)
		where := fmt.Sprintf("%s %s %d, request", x.method, x.path, x.status)
		if ptr == "" {
			t.Errorf("%s: the document has no JSON request body for it", where)
			continue
		}
		for _, p := range check(doc.schema(t, ptr), x.sent) {
			t.Errorf("%s: body%s", where, p)
		}
		accepted++
	}
	if accepted < 3 {
		t.Errorf("%d accepted request bodies checked, want the create, configuration and attributes requests", accepted)
	}
	for _, st := range []string{"200", "201", "400", "401", "403", "404", "409"} {
		if !checked[st] {
			t.Errorf("no %s answer checked", st)
		}
	}
	events := doc.schema(t, "/components/schemas/Event")
	payment := doc.schema(t, "/components/schemas/Payment")
	types := map[string]bool{}
	for _, m := range msgs {
		schema := events
		if m.event == "snapshot" {
			schema = payment
		}
		for _, p := range check(schema, []byte(m.data)) {
			t.Errorf("event %s%s", m.event, p)
		}
		types[m.event] = true
	}
	for _, typ := range []string{"snapshot", "field_armed", "field_length", "field_complete", "state", "result"} {
		if !types[typ] {
			t.Errorf("no %s event checked (saw %v)", typ, types)
		}
	}
}

// The check finds a member the schema lacks, a wrong type, a required
// member absent, a value outside its enum or against its pattern, and a
// malformed date-time.
func TestSchemaCheckFindsGaps(t *testing.T) {
	doc := loadOpenAPIDoc(t)
	for _, c := range []struct {
		name, schema, body, want string
	}{
		{"fine", "Error", `{"error":{"code":"x","message":"y"}}`, ""},
		{"extra member", "Call", `{"id":"c","colour":"red"}`, "colour"},
		{"nested extra", "Payment", `{"result":{"state":"approved","pin":"1"}}`, "/result/pin: "},
		{"in an array", "Configuration", `{"fields":[{"id":"a","secret":"s"}]}`, "/fields/0/secret: "},
		{"against a pattern", "Attributes", `{"currency":""}`, "/currency: "},
		{"wrong type", "Event", `{"seq":"1","at":"2026-11-26T03:00:00Z","type":"state"}`, "/seq: "},
		{"required absent", "Error", `{"error":{"code":"x"}}`, "/error: "},
		{"outside the enum", "Event", `{"seq":1,"at":"2026-11-26T03:00:00Z","type":"card_number"}`, "/type: "},
		{"not a date-time", "Event", `{"seq":1,"at":"yesterday","type":"state"}`, "/at: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := strings.Join(check(doc.schema(t, "/components/schemas/"+c.schema), []byte(c.body)), "\n")
			if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

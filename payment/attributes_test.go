package payment

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/synctest"

	"go.yaml.in/yaml/v3"
)

func ptr[T any](v T) *T { return &v }

// TestAttributesPatchApply: the back end may change anything and fixes
// what it gives a value; the agent fills in what the back end left empty,
// may not change a fixed value unless it is editable, may send a fixed
// value unchanged, and a refusal changes nothing.
func TestAttributesPatchApply(t *testing.T) {
	prefill := Attributes{Amount: 1999, Currency: "GBP", Reference: "order-7"}
	fixed := prefill.Given()
	if want := AttributeSetOf(AttrAmount, AttrCurrency, AttrReference); fixed != want {
		t.Fatalf("Given %v, want %v", fixed.List(), want.List())
	}
	for _, tc := range []struct {
		name      string
		editor    Editor
		patch     AttributesPatch
		editable  AttributeSet
		want      Attributes
		wantFixed AttributeSet
		refused   Attribute
	}{
		{"agent fills the empty name", EditorAgent, AttributesPatch{CardholderName: ptr("J Smith")}, 0,
			Attributes{Amount: 1999, Currency: "GBP", Reference: "order-7", CardholderName: "J Smith"}, fixed, ""},
		{"agent changes the amount", EditorAgent, AttributesPatch{Amount: ptr(int64(1))}, 0, prefill, fixed, AttrAmount},
		{"agent changes the reference", EditorAgent, AttributesPatch{Reference: ptr("mine")}, 0, prefill, fixed, AttrReference},
		{"agent empties the currency", EditorAgent, AttributesPatch{Currency: ptr("")}, 0, prefill, fixed, AttrCurrency},
		{"agent changes a fixed one with an allowed one", EditorAgent,
			AttributesPatch{CardholderName: ptr("J Smith"), Reference: ptr("mine")}, 0, prefill, fixed, AttrReference},
		{"agent sends the fixed values unchanged", EditorAgent,
			AttributesPatch{Amount: ptr(int64(1999)), Reference: ptr("order-7"), CardholderName: ptr("J")}, 0,
			Attributes{Amount: 1999, Currency: "GBP", Reference: "order-7", CardholderName: "J"}, fixed, ""},
		{"agent changes an editable amount", EditorAgent, AttributesPatch{Amount: ptr(int64(500))}, AttributeSetOf(AttrAmount),
			Attributes{Amount: 500, Currency: "GBP", Reference: "order-7", CardholderName: ""}, fixed, ""},
		{"editable amount does not open the reference", EditorAgent, AttributesPatch{Reference: ptr("x")}, AttributeSetOf(AttrAmount),
			prefill, fixed, AttrReference},
		{"back end changes the amount", EditorBackEnd, AttributesPatch{Amount: ptr(int64(5))}, 0,
			Attributes{Amount: 5, Currency: "GBP", Reference: "order-7", CardholderName: ""}, fixed, ""},
		{"back end sets the name: fixed", EditorBackEnd, AttributesPatch{CardholderName: ptr("J")}, 0,
			Attributes{Amount: 1999, Currency: "GBP", Reference: "order-7", CardholderName: "J"}, fixed | AttributeSetOf(AttrCardholderName), ""},
		{"back end withdraws the reference: the agent's", EditorBackEnd, AttributesPatch{Reference: ptr("")}, 0,
			Attributes{Amount: 1999, Currency: "GBP", Reference: "", CardholderName: ""}, AttributeSetOf(AttrAmount, AttrCurrency), ""},
		{"back end withdraws the currency: the default, not fixed", EditorBackEnd, AttributesPatch{Currency: ptr("")}, 0,
			Attributes{Amount: 1999, Currency: "EUR", Reference: "order-7", CardholderName: ""}, AttributeSetOf(AttrAmount, AttrReference), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, gotFixed, err := tc.patch.Apply(tc.editor, prefill, fixed, tc.editable, "EUR")
			var ne *NotEditableError
			switch {
			case tc.refused != "" && (!errors.As(err, &ne) || ne.Attribute != tc.refused || !errors.Is(err, ErrNotEditable)):
				t.Fatalf("error %v, want %s not editable", err, tc.refused)
			case tc.refused == "" && err != nil:
				t.Fatal(err)
			}
			if got != tc.want || gotFixed != tc.wantFixed {
				t.Errorf("got %+v fixed %v, want %+v fixed %v", got, gotFixed.List(), tc.want, tc.wantFixed.List())
			}
		})
	}
}

// TestAgentEditable: the form is told it may change what the back end
// did not set and what the configuration opens.
func TestAgentEditable(t *testing.T) {
	fixed := AttributeSetOf(AttrAmount, AttrReference)
	got := AgentEditable(fixed, AttributeSetOf(AttrReference))
	if want := AttributeSetOf(AttrCurrency, AttrReference, AttrCardholderName); got != want {
		t.Errorf("%v, want %v", got.List(), want.List())
	}
	b, _ := json.Marshal(AttributeSet(0))
	if string(b) != "[]" {
		t.Errorf("empty set marshals as %s", b)
	}
}

// TestPaymentPatchAttributes: a payment made with a back end's prefill
// refuses the agent's change of it and is unchanged afterwards, while
// its view tells the form what it may edit; a payment with no prefill
// lets the agent fill everything.
func TestPaymentPatchAttributes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		cfg := e.ps.Configs()[0].ID
		prefill := Attributes{Amount: 1999, Reference: "order-7"}
		p, err := e.set.NewWithFixed("", cfg, prefill, prefill.Given())
		if err != nil {
			t.Fatal(err)
		}
		before := p.Attributes()
		if _, err := p.PatchAttributes(EditorAgent, AttributesPatch{Amount: ptr(int64(1))}); !errors.Is(err, ErrNotEditable) {
			t.Fatalf("agent's amount: %v", err)
		}
		if p.Attributes() != before || p.FixedAttributes() != prefill.Given() {
			t.Fatalf("a refused change changed the payment: %+v", p.Attributes())
		}
		v := p.View()
		if want := AttributeSetOf(AttrCurrency, AttrCardholderName); v.AgentEditable != want {
			t.Errorf("view: agent may edit %v, want %v", v.AgentEditable.List(), want.List())
		}
		if a, err := p.PatchAttributes(EditorAgent, AttributesPatch{CardholderName: ptr("J Smith"), Currency: ptr("EUR")}); err != nil ||
			a.CardholderName != "J Smith" || a.Currency != "EUR" {
			t.Fatalf("agent's name and currency: %+v %v", a, err)
		}
		if err := p.End(); err != nil {
			t.Fatal(err)
		}
		if v := p.View(); v.AgentEditable != 0 {
			t.Errorf("an ended payment's view offers %v", v.AgentEditable.List())
		}

		q, err := e.set.New(cfg, Attributes{}) // the form's own payment
		if err != nil {
			t.Fatal(err)
		}
		if a, err := q.PatchAttributes(EditorAgent, AttributesPatch{Amount: ptr(int64(250)), Reference: ptr("r")}); err != nil || a.Amount != 250 {
			t.Fatalf("agent fills an empty payment: %+v %v", a, err)
		}
		if a, err := q.PatchAttributes(EditorAgent, AttributesPatch{Amount: ptr(int64(300))}); err != nil || a.Amount != 300 {
			t.Fatalf("agent changes its own amount: %+v %v", a, err)
		}
		_ = q.End()
		e.set.Close("")
	})
}

// TestAttributesRefuseCardNumber: a reference or name holding a card
// number is refused, by prefill and by patch, from either editor, and the
// error does not repeat it.
func TestAttributesRefuseCardNumber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		cfg := e.ps.Configs()[0].ID
		const canary = "4111 1111 1111 1111"
		for _, a := range []Attributes{{Reference: canary}, {CardholderName: "J " + strings.ReplaceAll(canary, " ", "-")}} {
			_, err := e.set.New(cfg, a)
			if !errors.Is(err, ErrCardNumberInText) || strings.Contains(err.Error(), "1111") {
				t.Fatalf("prefill %+v: %v", a, err)
			}
		}
		p, err := e.set.New(cfg, Attributes{Amount: 5})
		if err != nil {
			t.Fatal(err)
		}
		for _, ed := range []Editor{EditorBackEnd, EditorAgent} {
			for _, ch := range []AttributesPatch{{Reference: ptr(canary)}, {CardholderName: ptr(canary)}} {
				if _, err := p.PatchAttributes(ed, ch); !errors.Is(err, ErrCardNumberInText) || strings.Contains(err.Error(), "1111") {
					t.Fatalf("patch by %d: %v", ed, err)
				}
			}
		}
		if a := p.Attributes(); a.Reference != "" || a.CardholderName != "" {
			t.Fatalf("refused text kept: %+v", a)
		}
		_ = p.End()
		e.set.Close("")
	})
}

// TestPaymentConfigRefusesCardNumber: a card number in any text of a
// configuration is refused naming the key, never the value; so is a card
// number given where an id, a kind or a brand goes, through YAML.
func TestPaymentConfigRefusesCardNumber(t *testing.T) {
	const canary = "4111-1111-1111-1111"
	for key, edit := range map[string]func(*Config){
		"id":                func(c *Config) { c.ID = "4111111111111111" },
		"name":              func(c *Config) { c.Name = "Card " + canary },
		"processor":         func(c *Config) { c.Processor = "p4111111111111111" },
		"currency":          func(c *Config) { c.Currency = canary },
		"webhook.url":       func(c *Config) { c.Webhook.URL = "https://crm.example/hook?pan=" + canary },
		"fields[1].id":      func(c *Config) { c.Fields[1].ID = "4111111111111111" },
		"fields[2].label":   func(c *Config) { c.Fields[2].Label = "CVV for " + canary },
		"agent_editable[0]": func(c *Config) { c.AgentEditable = []Attribute{canary} },
	} {
		c := DefaultSettings()
		edit(&c.Configurations[0])
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "payments.configurations[0]."+key+":") {
			t.Errorf("%s: %v", key, err)
			continue
		}
		if strings.Contains(strings.NewReplacer("-", "", " ", "").Replace(err.Error()), "4111111111111111") {
			t.Errorf("%s: the error repeats the value: %v", key, err)
		}
	}
	for _, doc := range []string{
		"configurations:\n  - id: x\n    fields:\n      - {id: a, kind: " + canary + "}\n",
		"configurations:\n  - id: x\n    accepted_brands: [visa, '" + canary + "']\n",
	} {
		err := decodePaymentsYAML(doc)
		if err == nil || strings.Contains(strings.ReplaceAll(err.Error(), "-", ""), "4111111111111111") {
			t.Errorf("decoding %q: %v", doc, err)
		}
	}
}

// TestPaymentConfigAgentEditable: agent_editable takes the attribute
// names, once each, and an error names the key of a bad one.
func TestPaymentConfigAgentEditable(t *testing.T) {
	for _, tc := range []struct {
		list []Attribute
		key  string
	}{
		{nil, ""},
		{[]Attribute{AttrAmount, AttrCardholderName}, ""},
		{[]Attribute{AttrAmount, "colour"}, "payments.configurations[0].agent_editable[1]: \"colour\" is not an attribute"},
		{[]Attribute{AttrReference, AttrReference}, "payments.configurations[0].agent_editable[1]: reference is listed twice"},
	} {
		c := DefaultSettings()
		c.Configurations[0].AgentEditable = tc.list
		err := c.Validate()
		if tc.key == "" && err != nil || tc.key != "" && (err == nil || !strings.Contains(err.Error(), tc.key)) {
			t.Errorf("%v: %v, want %q", tc.list, err, tc.key)
		}
	}
	var c Settings
	if err := decodeInto("configurations:\n  - id: x\n    agent_editable: [amount, reference]\n", &c); err != nil {
		t.Fatal(err)
	}
	if got := c.Configurations[0].agentEditable(); got != AttributeSetOf(AttrAmount, AttrReference) {
		t.Errorf("decoded %v", got.List())
	}
	b, _ := json.Marshal(DefaultConfigs()[0])
	if !strings.Contains(string(b), `"agent_editable":[]`) {
		t.Errorf("JSON %s", b)
	}
}

// decodeInto decodes a "payments:" section strictly, as the file is read.
func decodeInto(doc string, c *Settings) error {
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	return dec.Decode(c)
}

// decodePaymentsYAML decodes and validates a "payments:" section.
func decodePaymentsYAML(doc string) error {
	var c Settings
	if err := decodeInto(doc, &c); err != nil {
		return err
	}
	return c.Validate()
}

package payment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"dtmfgw/processor"
)

func TestDefaultPaymentConfigs(t *testing.T) {
	c := DefaultSettings()
	if err := c.Validate(); err != nil {
		t.Fatalf("the built-in configuration is invalid: %v", err)
	}
	if len(c.Configurations) != 1 {
		t.Fatalf("%d built-in configurations", len(c.Configurations))
	}
	card := c.Configurations[0]
	if card.ID != "card" || card.Processor != "sandbox" || !card.AutoAdvance || !card.HashEndsField || !card.StarClearsField ||
		card.sessionTimeout() != DefaultSessionTimeout || len(card.AcceptedBrands) != len(AllBrands()) {
		t.Errorf("built-in %+v", card)
	}
	kinds := []FieldKind{}
	for _, f := range card.Fields {
		kinds = append(kinds, f.Kind)
	}
	if len(kinds) != 3 || kinds[0] != FieldCardNumber || kinds[1] != FieldExpiry || kinds[2] != FieldSecurityCode {
		t.Errorf("fields %v", kinds)
	}
}

func TestPaymentConfigValidateNamesTheKey(t *testing.T) {
	postcode := FieldConfig{ID: "postcode", Kind: FieldDigits, MinLen: 4, MaxLen: 8}
	cases := []struct {
		key  string
		edit func(*Settings)
	}{
		{"payments.configurations", func(c *Settings) { c.Configurations = nil }},
		{"payments.configurations[1].id", func(c *Settings) {
			c.Configurations = append(c.Configurations, c.Configurations[0])
		}},
		{"payments.configurations[0].id", func(c *Settings) { c.Configurations[0].ID = "" }},
		{"payments.configurations[0].id", func(c *Settings) { c.Configurations[0].ID = "Card Payment" }},
		{"payments.configurations[0].id", func(c *Settings) { c.Configurations[0].ID = strings.Repeat("a", 65) }},
		{"payments.configurations[0].name", func(c *Settings) { c.Configurations[0].Name = "" }},
		{"payments.configurations[0].name", func(c *Settings) { c.Configurations[0].Name = "a\nb" }},
		{"payments.configurations[0].fields", func(c *Settings) { c.Configurations[0].Fields = nil }},
		{"payments.configurations[0].fields", func(c *Settings) {
			c.Configurations[0].Fields = c.Configurations[0].Fields[:2]
		}},
		{"payments.configurations[0].fields", func(c *Settings) {
			for range MaxFields {
				c.Configurations[0].Fields = append(c.Configurations[0].Fields, postcode)
			}
		}},
		{"payments.configurations[0].fields[0].kind", func(c *Settings) { c.Configurations[0].Fields[0].Kind = 0 }},
		{"payments.configurations[0].fields[0].kind", func(c *Settings) { c.Configurations[0].Fields[0].Kind = 9 }},
		{"payments.configurations[0].fields[1].kind", func(c *Settings) { c.Configurations[0].Fields[1].Kind = FieldCardNumber }},
		{"payments.configurations[0].fields[2].id", func(c *Settings) { c.Configurations[0].Fields[2].ID = "expiry" }},
		{"payments.configurations[0].fields[2].id", func(c *Settings) { c.Configurations[0].Fields[2].ID = "cvv?" }},
		{"payments.configurations[0].fields[0].label", func(c *Settings) { c.Configurations[0].Fields[0].Label = "a\x00" }},
		{"payments.configurations[0].fields[0].min_len", func(c *Settings) { c.Configurations[0].Fields[0].MinLen = 12 }},
		{"payments.configurations[0].fields[1].max_len", func(c *Settings) { c.Configurations[0].Fields[1].MaxLen = 4 }},
		{"payments.configurations[0].fields[3].min_len", func(c *Settings) {
			p := postcode
			p.MinLen = 0
			c.Configurations[0].Fields = append(c.Configurations[0].Fields, p)
		}},
		{"payments.configurations[0].fields[3].max_len", func(c *Settings) {
			p := postcode
			p.MaxLen = 3
			c.Configurations[0].Fields = append(c.Configurations[0].Fields, p)
		}},
		{"payments.configurations[0].fields[3].max_len", func(c *Settings) {
			p := postcode
			p.MaxLen = MaxDigitsLen + 1
			c.Configurations[0].Fields = append(c.Configurations[0].Fields, p)
		}},
		{"payments.configurations[0].fields[4].kind", func(c *Settings) {
			zip := FieldConfig{ID: "zip", Kind: FieldPostalCode, MinLen: 5, MaxLen: 5}
			zip2 := zip
			zip2.ID = "zip2"
			c.Configurations[0].Fields = append(c.Configurations[0].Fields, zip, zip2)
		}},
		{"payments.configurations[0].fields[3].max_len", func(c *Settings) {
			c.Configurations[0].Fields = append(c.Configurations[0].Fields, FieldConfig{ID: "zip", Kind: FieldPostalCode, MinLen: 5, MaxLen: 17})
		}},
		{"payments.configurations[0].accepted_brands", func(c *Settings) { c.Configurations[0].AcceptedBrands = nil }},
		{"payments.configurations[0].accepted_brands[1]", func(c *Settings) {
			c.Configurations[0].AcceptedBrands = []Brand{BrandVisa, BrandUnknown}
		}},
		{"payments.configurations[0].accepted_brands[1]", func(c *Settings) {
			c.Configurations[0].AcceptedBrands = []Brand{BrandVisa, BrandVisa}
		}},
		{"payments.configurations[0].processor", func(c *Settings) { c.Configurations[0].Processor = "" }},
		{"payments.configurations[0].currency", func(c *Settings) { c.Configurations[0].Currency = "gbp" }},
		{"payments.configurations[0].session_timeout", func(c *Settings) { c.Configurations[0].SessionTimeout = time.Second }},
		{"payments.configurations[0].session_timeout", func(c *Settings) { c.Configurations[0].SessionTimeout = -time.Minute }},
		{"payments.configurations[0].session_timeout", func(c *Settings) { c.Configurations[0].SessionTimeout = 2 * time.Hour }},
	}
	for _, tc := range cases {
		c := DefaultSettings()
		tc.edit(&c)
		err := c.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.key+":") {
			t.Errorf("want ErrConfig naming %s, got %v", tc.key, err)
		}
	}

	good := []func(*Settings){
		func(c *Settings) {
			c.Configurations[0].Fields = append(c.Configurations[0].Fields, postcode)
		},
		func(c *Settings) { c.Configurations[0].SessionTimeout = 0 },
		func(c *Settings) { c.Configurations[0].Currency = "GBP" },
		func(c *Settings) { c.Configurations[0].AcceptedBrands = []Brand{BrandAmex} },
		func(c *Settings) {
			second := c.Configurations[0]
			second.ID = "donation"
			c.Configurations = append(c.Configurations, second)
		},
	}
	for i, edit := range good {
		c := DefaultSettings()
		edit(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("good configuration %d: %v", i, err)
		}
	}
	// Config.Validate names keys within the configuration.
	pc := DefaultConfigs()[0]
	pc.Fields[0].Kind = 0
	if err := pc.Validate(); err == nil || !strings.Contains(err.Error(), ": fields[0].kind:") {
		t.Errorf("Config.Validate = %v", err)
	}
}

// TestPaymentsConfigYAML decodes the section as cmd/dtmfgw does: strict
// about unknown keys, and the defaults kept for what an element leaves out.
func TestPaymentsConfigYAML(t *testing.T) {
	const doc = `
configurations:
  - id: donation
    name: Donation
    fields:
      - {id: card_number, kind: card_number}
      - {id: expiry, kind: expiry}
      - {id: security_code, kind: security_code}
      - {id: postcode, label: Postcode digits, kind: digits, min_len: 4, max_len: 8, required: true}
    accepted_brands: [visa, Mastercard]
    processor: sandbox
    currency: GBP
  - id: quick
    name: Quick
    fields:
      - {id: pan, kind: card_number}
      - {id: exp, kind: expiry}
      - {id: cvc, kind: security_code}
    accepted_brands: [amex]
    processor: stripe
    session_timeout: 2m
    auto_advance: false
    hash_ends_field: false
    star_clears_field: false
`
	var c Settings
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	d, q := c.Configurations[0], c.Configurations[1]
	if !d.AutoAdvance || !d.HashEndsField || !d.StarClearsField || d.SessionTimeout != DefaultSessionTimeout {
		t.Errorf("defaults lost: %+v", d)
	}
	if len(d.AcceptedBrands) != 2 || d.AcceptedBrands[1] != BrandMastercard || d.Fields[3].Kind != FieldDigits ||
		d.Fields[3].MaxLen != 8 || !d.Fields[3].Required || d.Currency != "GBP" {
		t.Errorf("donation %+v", d)
	}
	if q.AutoAdvance || q.HashEndsField || q.StarClearsField || q.SessionTimeout != 2*time.Minute || q.Processor != "stripe" {
		t.Errorf("quick %+v", q)
	}

	for _, bad := range []string{
		"configurations:\n  - id: x\n    colour: red\n",
		"configurations:\n  - id: x\n    fields:\n      - {id: a, kind: pan}\n",
		"configurations:\n  - id: x\n    accepted_brands: [visa, diners-club]\n",
		"configurations:\n  - id: x\n    session_timeout: soon\n",
	} {
		var c Settings
		dec := yaml.NewDecoder(strings.NewReader(bad))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err == nil {
			t.Errorf("decoded %q", bad)
		}
	}

	// And back: the built-in configuration marshals to what decodes to it.
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(DefaultSettings()); err != nil {
		t.Fatal(err)
	}
	var back Settings
	if err := yaml.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if err := back.Validate(); err != nil || back.Configurations[0].ID != "card" || len(back.Configurations[0].AcceptedBrands) != len(AllBrands()) {
		t.Errorf("round trip: %v %+v", err, back)
	}
}

func TestFieldKindText(t *testing.T) {
	for k := FieldCardNumber; k < numFieldKinds; k++ {
		txt, err := k.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back FieldKind
		if err := back.UnmarshalText(txt); err != nil || back != k {
			t.Errorf("%v: %v %v", k, back, err)
		}
	}
	var k FieldKind
	if err := k.UnmarshalText([]byte("pan")); err == nil {
		t.Error("accepted pan")
	}
	if _, err := FieldKind(0).MarshalText(); err == nil {
		t.Error("marshalled kind 0")
	}
}

// FuzzPaymentConfigText: the text forms of brands and field kinds parse
// without panicking, and what parses writes back to the same value.
func FuzzPaymentConfigText(f *testing.F) {
	for _, s := range []string{"visa", "AMEX", "unionpay", "unknown", "card_number", "Security_Code", "digits", "", "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var br Brand
		if br.UnmarshalText(b) == nil {
			txt, err := br.MarshalText()
			if err != nil || !strings.EqualFold(string(txt), string(b)) {
				t.Fatalf("brand %q wrote back %q, %v", b, txt, err)
			}
		}
		var k FieldKind
		if k.UnmarshalText(b) == nil {
			txt, err := k.MarshalText()
			if err != nil || !strings.EqualFold(string(txt), string(b)) {
				t.Fatalf("kind %q wrote back %q, %v", b, txt, err)
			}
		}
	})
}

// FuzzPaymentsConfigYAML decodes any "payments:" section as the
// configuration file is read (strictly), then validates it: no panic, and
// a section that validates makes working Payments.
func FuzzPaymentsConfigYAML(f *testing.F) {
	f.Add([]byte("configurations:\n  - id: card\n    name: Card\n    fields:\n      - {id: pan, kind: card_number}\n      - {id: exp, kind: expiry}\n      - {id: cvc, kind: security_code}\n    accepted_brands: [visa]\n    processor: sandbox\n"))
	f.Add([]byte("configurations: []\n"))
	f.Add([]byte("configurations:\n  - id: x\n    session_timeout: 1m\n    auto_advance: false\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) > 4096 {
			return
		}
		var c Settings
		dec := yaml.NewDecoder(bytes.NewReader(doc))
		dec.KnownFields(true)
		if dec.Decode(&c) != nil {
			return
		}
		if c.Validate() != nil {
			return
		}
		procs := []processor.Processor{}
		for _, pc := range c.Configurations {
			procs = append(procs, namedProc(pc.Processor))
		}
		ps, err := NewPayments(c, WithProcessors(procs...))
		if err != nil {
			t.Fatalf("a valid section made no Payments: %v", err)
		}
		for _, pc := range c.Configurations {
			if _, ok := ps.Config(pc.ID); !ok {
				t.Fatalf("configuration %q lost", pc.ID)
			}
		}
	})
}

// namedProc is a Processor with a name and nothing else.
type namedProc string

func (n namedProc) Name() string { return string(n) }
func (namedProc) Charge(context.Context, *processor.Request) (processor.Result, error) {
	return processor.Result{Status: processor.Failed}, nil
}
func (namedProc) Reconcile(context.Context, string) (processor.Result, error) {
	return processor.Result{Status: processor.Failed}, nil
}

// TestPaymentConfigJSONTimeoutInSeconds: the API shows the session
// timeout in whole seconds, the default filled in, and no nanoseconds.
func TestPaymentConfigJSONTimeoutInSeconds(t *testing.T) {
	for _, c := range []struct {
		timeout time.Duration
		want    string
	}{
		{0, `"session_timeout_seconds":300`},
		{90 * time.Second, `"session_timeout_seconds":90`},
	} {
		cfg := DefaultConfigs()[0]
		cfg.SessionTimeout = c.timeout
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), c.want) || strings.Contains(string(b), `"session_timeout":`) || !strings.Contains(string(b), `"id":"card"`) {
			t.Errorf("timeout %v: %s", c.timeout, b)
		}
	}
}

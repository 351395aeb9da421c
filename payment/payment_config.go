package payment

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"dtmfgw/internal/enumtext"
	"dtmfgw/processor"
)

// ErrConfig is wrapped by Settings.Validate and
// Config.Validate. The message names the configuration key.
var ErrConfig = errors.New("payment: bad payment configuration")

// Defaults and limits of Config.
const (
	// DefaultSessionTimeout is how long a payment may take from its
	// creation to the processor hand-off before it ends by itself, its
	// digits zeroed: long enough to read a card out slowly, short enough
	// that a forgotten payment screen does not hold card data.
	DefaultSessionTimeout = 5 * time.Minute
	// MinSessionTimeout and MaxSessionTimeout bound SessionTimeout.
	MinSessionTimeout = 30 * time.Second
	MaxSessionTimeout = time.Hour
	// MaxFields bounds the fields of a configuration: the three card
	// fields and a few more digit fields (a postcode, a customer number).
	MaxFields = 8
	// MaxDigitsLen bounds a digits field's MaxLen.
	MaxDigitsLen = 32
	// maxIDLen bounds configuration and field ids, which appear in URLs
	// and events.
	maxIDLen = 64
	// maxLabelLen bounds labels and names shown on the agent form.
	maxLabelLen = 128
)

// PostcodeFieldID is the id of a digits field that is handed to the
// processor as the billing postcode (for address verification), as a
// postal_code field is.
const PostcodeFieldID = "postcode"

// FieldKind says what a field captures and so how it is checked.
type FieldKind uint8

// The field kinds. A configuration has exactly one card number, one expiry
// and one security code, and any digits fields.
const (
	// FieldCardNumber is the card number (PAN): its brand from the IIN,
	// its length per brand, the Luhn check, an accepted brand.
	FieldCardNumber FieldKind = iota + 1
	// FieldExpiry is the expiry date as MMYY, not in the past.
	FieldExpiry
	// FieldSecurityCode is the security code: 4 digits for American
	// Express, 3 for the others.
	FieldSecurityCode
	// FieldDigits is any other run of digits (a customer number, an
	// account number), MinLen to MaxLen long.
	FieldDigits
	// FieldPostalCode is the billing postal code, handed to the processor
	// for address verification: digits only, as a keypad types them (a
	// US ZIP code, 5 digits; postal codes with letters cannot be keyed),
	// MinLen to MaxLen long. At most one per configuration.
	FieldPostalCode

	numFieldKinds
)

var fieldKindText = enumtext.Table[FieldKind]{What: "payment: field kind", Invalid: "invalid", FoldCase: true, Names: []string{
	FieldCardNumber: "card_number", FieldExpiry: "expiry", FieldSecurityCode: "security_code", FieldDigits: "digits",
	FieldPostalCode: "postal_code",
}}

// String returns the kind's configuration name.
func (k FieldKind) String() string { return fieldKindText.String(k) }

// MarshalText writes the kind's configuration name.
func (k FieldKind) MarshalText() ([]byte, error) { return fieldKindText.MarshalText(k) }

// UnmarshalText reads "card_number", "expiry", "security_code",
// "digits" or "postal_code" (ASCII case ignored).
func (k *FieldKind) UnmarshalText(t []byte) error {
	return unmarshalName(fieldKindText, k, t, "field kind", "want card_number, expiry, security_code, digits or postal_code")
}

// postcode reports whether a field's digits go to the processor as the
// billing postal code.
func (f FieldConfig) postcode() bool { return f.Kind == FieldPostalCode || f.ID == PostcodeFieldID }

// card reports whether the kind is one of the three card fields, whose
// lengths the card rules set and which are always required.
func (k FieldKind) card() bool {
	return k == FieldCardNumber || k == FieldExpiry || k == FieldSecurityCode
}

// FieldConfig is one field of the agent form the caller types into.
type FieldConfig struct {
	// ID names the field in the API and in events: lower-case letters,
	// digits, '_' and '-'.
	ID string `yaml:"id" json:"id"`
	// Label is what the agent form shows; empty means one from the kind.
	Label string `yaml:"label" json:"label"`
	// Kind says what the field holds.
	Kind FieldKind `yaml:"kind" json:"kind"`
	// MinLen and MaxLen bound a digits field (1 ≤ MinLen ≤ MaxLen ≤
	// MaxDigitsLen). The card fields take their lengths from the card
	// rules and leave these zero.
	MinLen int `yaml:"min_len" json:"min_len,omitempty"`
	MaxLen int `yaml:"max_len" json:"max_len,omitempty"`
	// Required says a digits field must be complete and valid before the
	// payment can be processed. The card fields are always required.
	Required bool `yaml:"required" json:"required"`
	// Confirm makes the caller key the field twice: once entered, the
	// field waits for the same digits again, and is complete only when
	// both entries match; a mismatch clears it for the caller to start
	// over (a slip of one key is caught before the processor sees it).
	Confirm bool `yaml:"confirm" json:"confirm,omitempty"`
}

// required reports whether the field must be filled in.
func (f FieldConfig) required() bool { return f.Required || f.Kind.card() }

// capacity is the most digits the field's buffer holds.
func (f FieldConfig) capacity() int {
	switch f.Kind {
	case FieldCardNumber:
		return MaxPANLen
	case FieldExpiry:
		return 4
	case FieldSecurityCode:
		return 4
	}
	return f.MaxLen
}

// fixedLen reports whether the field has one length only, so `#` has
// nothing to end.
func (f FieldConfig) fixedLen() bool {
	return f.Kind == FieldExpiry || (!f.Kind.card() && f.MinLen == f.MaxLen)
}

// label returns Label, or a default from the kind.
func (f FieldConfig) label() string {
	if f.Label != "" {
		return f.Label
	}
	switch f.Kind {
	case FieldCardNumber:
		return "Card number"
	case FieldExpiry:
		return "Expiry date (MMYY)"
	case FieldSecurityCode:
		return "Security code"
	}
	return f.ID
}

// Config is one kind of payment an agent can take: the fields the
// caller types, the brands accepted, the processor, and how keys behave.
// Amount, currency and reference are not fields: they are the payment's
// Attributes, prefilled by the API or entered by the agent.
//
// A Config built in Go should start from DefaultConfigs or
// NewConfig: AutoAdvance, HashEndsField and StarClearsField default
// to true, which a zero value cannot say. Decoding YAML sets those
// defaults before it reads the element (UnmarshalYAML).
type Config struct {
	// ID names the configuration in the API: lower-case letters, digits,
	// '_' and '-'.
	ID string `yaml:"id" json:"id"`
	// Name is what the agent and the CRM see.
	Name string `yaml:"name" json:"name"`
	// Fields are the form's fields, in the order the caller is asked for
	// them (and AutoAdvance moves through them).
	Fields []FieldConfig `yaml:"fields" json:"fields"`
	// AcceptedBrands are the card brands the merchant takes; a card of
	// another brand is complete but invalid.
	AcceptedBrands []Brand `yaml:"accepted_brands" json:"accepted_brands"`
	// Processor names the payment processor the card is handed to
	// ("sandbox", "stripe", …).
	Processor string `yaml:"processor" json:"processor"`
	// Currency is the ISO 4217 code a new payment starts with, unless the
	// API or the agent gives one; empty means none.
	Currency string `yaml:"currency" json:"currency,omitempty"`
	// SessionTimeout is how long a payment may last, from creation to
	// processing, before it ends as timed out with its digits zeroed.
	// Zero means DefaultSessionTimeout.
	SessionTimeout time.Duration `yaml:"session_timeout" json:"-"`
	// AutoAdvance arms the next unfinished field when one is complete.
	AutoAdvance bool `yaml:"auto_advance" json:"auto_advance"`
	// HashEndsField lets `#` end a variable-length field (the card number,
	// the security code, a digits field), and skip an empty optional one.
	HashEndsField bool `yaml:"hash_ends_field" json:"hash_ends_field"`
	// StarClearsField lets `*` clear the armed field.
	StarClearsField bool `yaml:"star_clears_field" json:"star_clears_field"`
	// AgentEditable lists the attributes ("amount", "currency",
	// "reference", "cardholder_name") the agent's form may change even
	// when the back end set them. An attribute the back end left empty is
	// the agent's to fill in whatever this says; empty means the agent may
	// change none that the back end set.
	AgentEditable []Attribute `yaml:"agent_editable" json:"agent_editable"`
	// Webhook is where this configuration's results are POSTed, signed
	// (package webhook); zero means none.
	Webhook WebhookConfig `yaml:"webhook" json:"webhook,omitzero"`
	// Types are the payment types the configuration allows: agent_assist
	// (the caller keys the card on the call) and digital (a link by SMS to
	// the hosted payment page). Empty means agent_assist only. When both
	// are allowed, the agent's form asks which.
	Types []PaymentType `yaml:"types" json:"types"`
	// LinkTTL is how long a digital payment's link can be paid with, from
	// its creation (DefaultLinkTTL when zero): long after the call.
	LinkTTL time.Duration `yaml:"link_ttl" json:"-"`
	// LinkMaxAttempts is how many failed attempts (declines, failures,
	// cards the checks refused) lock a link (DefaultLinkMaxAttempts when
	// zero).
	LinkMaxAttempts int `yaml:"link_max_attempts" json:"link_max_attempts,omitempty"`
	// AskCardholderName makes the hosted payment page ask for the name
	// on the card.
	AskCardholderName bool `yaml:"ask_cardholder_name" json:"ask_cardholder_name,omitempty"`
	// Intent is what the configuration's payments do with the card:
	// charge it (the default) or save it for later charges, answering the
	// processor's reusable token ("card saved"; no amount). The API may
	// ask either of a payment.
	Intent Intent `yaml:"intent" json:"intent,omitempty"`
}

// Intent is what a payment does with the card.
type Intent string

// The intents.
const (
	// IntentCharge takes the payment's amount from the card.
	IntentCharge Intent = "charge"
	// IntentTokenize saves the card with the processor for later charges
	// and takes nothing: the result is the processor's reusable token
	// (Result.Token), with the card's brand and last four.
	IntentTokenize Intent = "tokenize"
)

// orCharge is i, or IntentCharge when i is empty.
func (i Intent) orCharge() Intent {
	if i == "" {
		return IntentCharge
	}
	return i
}

// valid reports whether i is empty or an intent.
func (i Intent) valid() bool { return i == "" || i == IntentCharge || i == IntentTokenize }

// PaymentType is how a payment's card is taken.
type PaymentType string

// The payment types.
const (
	// TypeAgentAssist: the caller keys the card on the telephone keypad
	// while on the call with the agent.
	TypeAgentAssist PaymentType = "agent_assist"
	// TypeDigital: the caller types the card into the hosted payment page,
	// reached through a single-use link sent by SMS.
	TypeDigital PaymentType = "digital"
)

// Defaults and limits of a configuration's digital payments.
const (
	// DefaultLinkTTL is how long a payment link lasts: the caller may pay
	// up to three days after the call.
	DefaultLinkTTL = 72 * time.Hour
	// MinLinkTTL and MaxLinkTTL bound LinkTTL.
	MinLinkTTL = 5 * time.Minute
	MaxLinkTTL = 30 * 24 * time.Hour
	// DefaultLinkMaxAttempts is how many failed attempts lock a link.
	DefaultLinkMaxAttempts = 3
	// MaxLinkMaxAttempts bounds LinkMaxAttempts.
	MaxLinkMaxAttempts = 10
)

// Allows reports whether the configuration allows payments of type t.
func (c Config) Allows(t PaymentType) bool {
	if len(c.Types) == 0 {
		return t == TypeAgentAssist
	}
	for _, x := range c.Types {
		if x == t {
			return true
		}
	}
	return false
}

// linkTTL returns LinkTTL or its default.
func (c Config) linkTTL() time.Duration {
	if c.LinkTTL == 0 {
		return DefaultLinkTTL
	}
	return c.LinkTTL
}

// linkMaxAttempts returns LinkMaxAttempts or its default.
func (c Config) linkMaxAttempts() int {
	if c.LinkMaxAttempts == 0 {
		return DefaultLinkMaxAttempts
	}
	return c.LinkMaxAttempts
}

// NewConfig returns a configuration with the given id, name,
// fields, brands and processor and the defaults of everything else.
func NewConfig(id, name string, fields []FieldConfig, brands []Brand, processor string) Config {
	return Config{
		ID: id, Name: name, Fields: fields, AcceptedBrands: brands, Processor: processor,
		SessionTimeout:  DefaultSessionTimeout,
		AutoAdvance:     true,
		HashEndsField:   true,
		StarClearsField: true,
	}
}

// UnmarshalYAML sets the defaults, then decodes the element over them, so
// a configuration in the file that leaves out auto_advance gets true.
// (It uses the decoder's older interface, which needs no import of a YAML
// package here; the decoder's strictness about unknown keys carries over.)
func (c *Config) UnmarshalYAML(unmarshal func(any) error) error {
	type plain Config // no methods: no recursion
	p := plain(NewConfig("", "", nil, nil, ""))
	if err := unmarshal(&p); err != nil {
		return err
	}
	*c = Config(p)
	return nil
}

// agentEditable returns AgentEditable as a set.
func (c Config) agentEditable() AttributeSet { return AttributeSetOf(c.AgentEditable...) }

// sessionTimeout returns SessionTimeout or its default.
func (c Config) sessionTimeout() time.Duration {
	if c.SessionTimeout == 0 {
		return DefaultSessionTimeout
	}
	return c.SessionTimeout
}

// field returns the index of the field with the id, or -1.
func (c Config) field(id string) int {
	for i, f := range c.Fields {
		if f.ID == id {
			return i
		}
	}
	return -1
}

// DefaultConfigs returns the built-in configurations `make run`
// uses when the file has none: "card", a card number, an expiry date and a
// security code, the common brands, the sandbox processor.
func DefaultConfigs() []Config {
	return []Config{NewConfig("card", "Card payment", []FieldConfig{
		{ID: "card_number", Label: "Card number", Kind: FieldCardNumber, Required: true},
		{ID: "expiry", Label: "Expiry date (MMYY)", Kind: FieldExpiry, Required: true},
		{ID: "security_code", Label: "Security code", Kind: FieldSecurityCode, Required: true},
	}, AllBrands(), "sandbox")}
}

// Settings is the "payments:" section of the configuration file.
type Settings struct {
	// Configurations are the kinds of payment agents can take. A file
	// that lists any replaces the built-in ones.
	Configurations []Config `yaml:"configurations" json:"configurations"`
	// Reconcile is how payments whose outcome a processor has not told
	// are settled in the background (Reconciler).
	Reconcile ReconcileConfig `yaml:"reconcile" json:"reconcile"`
}

// DefaultSettings returns the section with DefaultConfigs
// and the reconciliation defaults.
func DefaultSettings() Settings {
	return Settings{Configurations: DefaultConfigs(), Reconcile: ReconcileConfig{}.withDefaults()}
}

// Validate reports the first unusable setting, naming its key as the
// file writes it ("payments.configurations[1].fields[0].kind").
func (c Settings) Validate() error {
	const key = "payments.configurations"
	if len(c.Configurations) == 0 {
		return fmt.Errorf("%w: %s: at least one configuration is required", ErrConfig, key)
	}
	seen := make(map[string]int, len(c.Configurations))
	for i, pc := range c.Configurations {
		prefix := fmt.Sprintf("%s[%d]", key, i)
		if err := pc.validate(prefix); err != nil {
			return err
		}
		if j, dup := seen[pc.ID]; dup {
			return fmt.Errorf("%w: %s.id: %q is also configurations[%d]'s", ErrConfig, prefix, pc.ID, j)
		}
		seen[pc.ID] = i
	}
	return c.Reconcile.validate()
}

// Validate reports the first unusable setting, naming its key within the
// configuration ("fields[0].kind").
func (c Config) Validate() error { return c.validate("") }

func (c Config) validate(prefix string) error {
	bad := func(key, format string, args ...any) error {
		if prefix != "" {
			key = prefix + "." + key
		}
		return fmt.Errorf("%w: %s: %s", ErrConfig, key, fmt.Sprintf(format, args...))
	}
	// Checked first, so that no message below quotes such a value.
	for _, t := range c.texts() {
		if HoldsCardNumber(t.value) {
			return bad(t.key, "holds what looks like a card number: card numbers are keyed by the caller, never written into the configuration")
		}
	}
	if err := checkID(c.ID); err != nil {
		return bad("id", "%v", err)
	}
	if err := checkText(c.Name); err != nil {
		return bad("name", "%v", err)
	}
	if len(c.Fields) == 0 || len(c.Fields) > MaxFields {
		return bad("fields", "%d fields: want 3 (card number, expiry, security code) to %d", len(c.Fields), MaxFields)
	}
	var count [numFieldKinds]int
	ids := make(map[string]bool, len(c.Fields))
	for i, f := range c.Fields {
		fk := func(k string) string { return fmt.Sprintf("fields[%d].%s", i, k) }
		if err := checkID(f.ID); err != nil {
			return bad(fk("id"), "%v", err)
		}
		if ids[f.ID] {
			return bad(fk("id"), "%q is used by another field", f.ID)
		}
		ids[f.ID] = true
		if f.Label != "" {
			if err := checkText(f.Label); err != nil {
				return bad(fk("label"), "%v", err)
			}
		}
		if f.Kind == 0 || f.Kind >= numFieldKinds {
			return bad(fk("kind"), "required: card_number, expiry, security_code, digits or postal_code")
		}
		count[f.Kind]++
		if f.Kind.card() {
			if f.MinLen != 0 {
				return bad(fk("min_len"), "a %s's length is set by the card rules: leave it out", f.Kind)
			}
			if f.MaxLen != 0 {
				return bad(fk("max_len"), "a %s's length is set by the card rules: leave it out", f.Kind)
			}
			if count[f.Kind] > 1 {
				return bad(fk("kind"), "a second %s", f.Kind)
			}
			continue
		}
		if f.Kind == FieldPostalCode && count[f.Kind] > 1 {
			return bad(fk("kind"), "a second postal_code")
		}
		if f.Kind == FieldPostalCode && f.MaxLen > processor.MaxPostcodeLen {
			return bad(fk("max_len"), "%d: a postal code is at most %d digits", f.MaxLen, processor.MaxPostcodeLen)
		}
		if f.MinLen < 1 || f.MinLen > MaxDigitsLen {
			return bad(fk("min_len"), "%d outside 1 … %d", f.MinLen, MaxDigitsLen)
		}
		if f.MaxLen < f.MinLen || f.MaxLen > MaxDigitsLen {
			return bad(fk("max_len"), "%d outside min_len %d … %d", f.MaxLen, f.MinLen, MaxDigitsLen)
		}
	}
	for _, k := range []FieldKind{FieldCardNumber, FieldExpiry, FieldSecurityCode} {
		if count[k] == 0 {
			return bad("fields", "no %s field: a card number, an expiry and a security code are required", k)
		}
	}
	if len(c.AcceptedBrands) == 0 {
		return bad("accepted_brands", "at least one brand is required")
	}
	var brands [numBrands]bool
	for i, b := range c.AcceptedBrands {
		if b == BrandUnknown || b >= numBrands {
			return bad(fmt.Sprintf("accepted_brands[%d]", i), "brand %d: unknown", uint8(b))
		}
		if brands[b] {
			return bad(fmt.Sprintf("accepted_brands[%d]", i), "%s is listed twice", b)
		}
		brands[b] = true
	}
	if err := checkID(c.Processor); err != nil {
		return bad("processor", "%v", err)
	}
	if c.Currency != "" && !ValidCurrency(c.Currency) {
		return bad("currency", "%q is not an ISO 4217 code (three capital letters)", clip([]byte(c.Currency), 16))
	}
	var editable AttributeSet
	for i, a := range c.AgentEditable {
		key := fmt.Sprintf("agent_editable[%d]", i)
		switch {
		case a.index() < 0:
			return bad(key, "%q is not an attribute: want amount, currency, reference or cardholder_name", clip([]byte(a), 32))
		case editable.Has(a):
			return bad(key, "%s is listed twice", a)
		}
		editable |= AttributeSetOf(a)
	}
	if c.SessionTimeout != 0 && (c.SessionTimeout < MinSessionTimeout || c.SessionTimeout > MaxSessionTimeout) {
		return bad("session_timeout", "%v outside %v … %v (0 means %v)", c.SessionTimeout, MinSessionTimeout, MaxSessionTimeout, DefaultSessionTimeout)
	}
	for i, t := range c.Types {
		key := fmt.Sprintf("types[%d]", i)
		switch {
		case t != TypeAgentAssist && t != TypeDigital:
			return bad(key, "%q is not a payment type: want agent_assist or digital", clip([]byte(t), 32))
		case slices.Index(c.Types, t) < i:
			return bad(key, "%s is listed twice", t)
		}
	}
	if c.LinkTTL != 0 && (c.LinkTTL < MinLinkTTL || c.LinkTTL > MaxLinkTTL) {
		return bad("link_ttl", "%v outside %v … %v (0 means %v)", c.LinkTTL, MinLinkTTL, MaxLinkTTL, DefaultLinkTTL)
	}
	if c.LinkMaxAttempts < 0 || c.LinkMaxAttempts > MaxLinkMaxAttempts {
		return bad("link_max_attempts", "%d outside 1 … %d (0 means %d)", c.LinkMaxAttempts, MaxLinkMaxAttempts, DefaultLinkMaxAttempts)
	}
	switch {
	case !c.Intent.valid():
		return bad("intent", "%q is not an intent: want charge or tokenize", clip([]byte(c.Intent), 32))
	case c.Intent == IntentTokenize && c.Allows(TypeDigital):
		return bad("intent", "tokenize is for agent_assist payments only: the hosted payment page charges")
	}
	return c.Webhook.validate(bad)
}

// keyedText is a text value of a configuration and its key.
type keyedText struct{ key, value string }

// texts returns every text value of the configuration that is shown,
// sent or logged: ids, names, labels, the processor's name, the currency
// and the webhook's URL.
func (c Config) texts() []keyedText {
	t := []keyedText{{"id", c.ID}, {"name", c.Name}, {"processor", c.Processor}, {"currency", c.Currency}, {"webhook.url", c.Webhook.URL}}
	for i, f := range c.Fields {
		t = append(t, keyedText{fmt.Sprintf("fields[%d].id", i), f.ID}, keyedText{fmt.Sprintf("fields[%d].label", i), f.Label})
	}
	return t
}

// checkID accepts 1 to maxIDLen lower-case letters, digits, '_' and '-':
// ids go into URLs, events and metric labels unescaped.
func checkID(s string) error {
	if err := checkLength(s, maxIDLen, "characters"); err != nil {
		return err
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%q: only a–z, 0–9, '_' and '-'", s)
		}
	}
	return nil
}

// checkText accepts 1 to maxLabelLen bytes of text without control
// characters.
func checkText(s string) error {
	if err := checkLength(s, maxLabelLen, "bytes"); err != nil {
		return err
	}
	if hasControl(s) {
		return errors.New("holds a control character")
	}
	return nil
}

// checkLength refuses s empty or longer than limit bytes; unit is how
// the error counts them ("characters" for ids, which are ASCII).
func checkLength(s string, limit int, unit string) error {
	if s == "" {
		return errors.New("required")
	}
	if len(s) > limit {
		return fmt.Errorf("%d %s, at most %d", len(s), unit, limit)
	}
	return nil
}

// hasControl reports whether s holds a C0 control character or DEL.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// ValidCurrency reports whether s looks like an ISO 4217 alphabetic code:
// three capital letters. Whether the processor knows it is the
// processor's to say.
func ValidCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range 3 {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// MarshalJSON writes the configuration as the API shows it: the session
// timeout as whole seconds (session_timeout_seconds, the default filled
// in) rather than a Go duration's nanoseconds, which no client should
// have to know about.
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config // without this method
	timeout := c.SessionTimeout
	if timeout == 0 {
		timeout = DefaultSessionTimeout
	}
	if c.AgentEditable == nil {
		c.AgentEditable = []Attribute{} // [], not null: a list to read
	}
	if len(c.Types) == 0 {
		c.Types = []PaymentType{TypeAgentAssist}
	}
	var linkTTL int64
	if c.Allows(TypeDigital) {
		linkTTL = int64(c.linkTTL() / time.Second)
		c.LinkMaxAttempts = c.linkMaxAttempts()
	}
	return json.Marshal(struct {
		plain
		SessionTimeoutSeconds int64 `json:"session_timeout_seconds"`
		LinkTTLSeconds        int64 `json:"link_ttl_seconds,omitempty"`
	}{plain(c), int64(timeout / time.Second), linkTTL})
}

package webhook

import (
	"bytes"
	"context"
	"flag"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/internal/testkit"
	"dtmfgw/payment"
	"dtmfgw/store"
)

// update rewrites testdata/golden from what the tests produce:
// go test ./webhook/ -run Golden -update
var update = flag.Bool("update", false, "rewrite testdata/golden/*.txt from the callbacks the tests make")

// The ids of the golden payment: a payment id as dtmfgw makes them, and
// a call id.
const (
	goldenPayment = "pay_hxqvtnbkeiwrjzmsalopdcfu"
	goldenCall    = "c-7f3a"
)

// compatibleConfig is the card configuration with a compatible webhook
// to url, progress on, and a postcode field.
func compatibleConfig(url string) payment.Config {
	c := paymentConfig(url, true)
	c.Webhook.Format = payment.FormatCompatible
	c.Fields = append(c.Fields, payment.FieldConfig{ID: payment.PostcodeFieldID, Kind: payment.FieldDigits, MinLen: 5, MaxLen: 5, Required: true})
	return c
}

// storeGoldenPayment stores the golden payment, ready.
func (e *env) storeGoldenPayment() store.Payment {
	e.t.Helper()
	p, err := e.st.CreatePayment(context.Background(), store.Payment{ID: goldenPayment, CallID: goldenCall, ConfigurationID: "card",
		State: store.StateReady, Reference: "order-7"}, store.Entry{Actor: store.ActorAPI, Action: "payment.created"})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// finish takes the golden payment through processing to the processor's
// answer st; the outbox writes its result.
func (e *env) finish(st store.State, reference, declineCode string) store.Payment {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.st.UpdateState(ctx, goldenPayment, store.Change{From: store.StateReady, To: store.StateProcessing,
		Entry: store.Entry{Actor: store.ActorAgent, Action: "payment.processing"}, Brand: "visa", Last4: "4242",
		Amount: 1999, Currency: "GBP", Processor: "sandbox", IdempotencyKey: "key-1"}); err != nil {
		e.t.Fatal(err)
	}
	p, err := e.st.CommitResult(ctx, goldenPayment, store.Result{From: store.StateProcessing, State: st,
		ProcessorReference: reference, DeclineCode: declineCode, Entry: store.Entry{Actor: store.ActorSystem, Action: "payment.result"}})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// deliverOne runs one round and returns the one request the receiver got.
func (e *env) deliverOne(rcv *receiver) received {
	e.t.Helper()
	if n := e.round(); n != 1 {
		e.t.Fatalf("a round attempted %d deliveries, want 1", n)
	}
	got := rcv.requests()
	if len(got) != 1 {
		e.t.Fatalf("the receiver got %d requests, want 1", len(got))
	}
	return got[0]
}

// golden checks a request against testdata/golden/name.txt (the relevant
// headers, a blank line, the body byte for byte, a newline), or writes
// it with -update; and checks its signature and other headers.
func golden(t *testing.T, name string, r received, event string) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type %q", ct)
	}
	if ev := r.header.Get(EventHeader); ev != event {
		t.Errorf("%s %q, want %q", EventHeader, ev, event)
	}
	if id := r.header.Get(DeliveryHeader); !strings.HasPrefix(id, "whd_") {
		t.Errorf("%s %q", DeliveryHeader, id)
	}
	if err := Verify(testSecret, r.header.Get(SignatureHeader), r.body, testNow, time.Second); err != nil {
		t.Errorf("signature: %v", err)
	}
	if err := Verify([]byte("another-secret-0123456789"), r.header.Get(SignatureHeader), r.body, testNow, time.Second); err == nil {
		t.Error("a signature verified with another secret")
	}
	var b bytes.Buffer
	for _, h := range []string{"Content-Type", EventHeader, SignatureHeader} {
		b.WriteString(h + ": " + r.header.Get(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(r.body)
	b.WriteString("\n")
	path := filepath.Join("testdata", "golden", name+".txt")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", path, b.Bytes(), want)
	}
}

// goldenEvent is a payment event of the golden payment, as package
// payment publishes it to the hook.
func goldenEvent(seq uint64, e payment.Event) payment.Event {
	e.Seq, e.CallID, e.PaymentID = seq, goldenCall, goldenPayment
	e.At = testNow.Add(-time.Duration(100-seq) * 1500 * time.Millisecond)
	return e
}

// allFields are the golden configuration's required fields, all left.
var allFields = []string{"card_number", "expiry", "security_code", "postcode"}

// TestGoldenCompatibleProgress: each kind of progress callback, as the
// receiver gets it, byte for byte, signed.
func TestGoldenCompatibleProgress(t *testing.T) {
	for _, tc := range []struct {
		name string
		// sent is the Required value already sent for the payment ("":
		// none yet).
		sent  string
		e     payment.Event
		count int    // the callbacks e makes
		pick  string // the parameter of the one compared
	}{
		{"capture_started", "payment-card-number,expiration-date,security-code,postal-code",
			payment.Event{Type: payment.EventFieldArmed, Field: "card_number", Kind: payment.FieldCardNumber, Missing: allFields}, 1, "Capture"},
		{"partial_result", "payment-card-number,expiration-date,security-code,postal-code",
			payment.Event{Type: payment.EventFieldLength, Field: "card_number", Kind: payment.FieldCardNumber, Length: 6, Brand: payment.BrandVisa, Missing: allFields}, 1, "PartialResult"},
		{"partial_result_card_complete", "payment-card-number,expiration-date,security-code,postal-code",
			payment.Event{Type: payment.EventFieldComplete, Field: "card_number", Kind: payment.FieldCardNumber, Length: 16, Complete: true, Valid: true,
				Brand: payment.BrandVisa, MaskedPAN: "•••• 4242", Missing: allFields[1:]}, 2, "PartialResult"},
		{"partial_result_expiry", "expiration-date,security-code,postal-code",
			payment.Event{Type: payment.EventFieldLength, Field: "expiry", Kind: payment.FieldExpiry, Length: 2, Missing: allFields[1:]}, 1, "PartialResult"},
		{"required_remaining", "expiration-date,security-code,postal-code",
			payment.Event{Type: payment.EventFieldComplete, Field: "expiry", Kind: payment.FieldExpiry, Length: 4, Complete: true, Valid: true,
				Missing: allFields[2:]}, 2, "Required"},
		{"required_none_left", "postal-code",
			payment.Event{Type: payment.EventFieldComplete, Field: "postcode", Kind: payment.FieldDigits, Length: 5, Complete: true, Valid: true,
				Missing: []string{}}, 2, "Required"},
		{"error_invalid_card_number", "payment-card-number,expiration-date,security-code,postal-code",
			payment.Event{Type: payment.EventFieldComplete, Field: "card_number", Kind: payment.FieldCardNumber, Length: 16, Complete: true,
				Brand: payment.BrandVisa, Missing: allFields}, 1, "ErrorType"},
		{"error_invalid_card_type", "payment-card-number,expiration-date,security-code,postal-code",
			payment.Event{Type: payment.EventFieldComplete, Field: "card_number", Kind: payment.FieldCardNumber, Length: 15, Complete: true,
				Brand: payment.BrandAmex, BrandRefused: true, Missing: allFields}, 1, "ErrorType"},
		{"error_invalid_date", "expiration-date,security-code,postal-code",
			payment.Event{Type: payment.EventFieldComplete, Field: "expiry", Kind: payment.FieldExpiry, Length: 4, Complete: true, Missing: allFields[1:]}, 1, "ErrorType"},
		{"error_invalid_security_code", "security-code,postal-code",
			payment.Event{Type: payment.EventFieldComplete, Field: "security_code", Kind: payment.FieldSecurityCode, Length: 2, Complete: true, Missing: allFields[2:]}, 1, "ErrorType"},
		{"error_invalid_postal_code", "postal-code",
			payment.Event{Type: payment.EventFieldComplete, Field: "postcode", Kind: payment.FieldDigits, Length: 5, Complete: true, Missing: allFields[3:]}, 1, "ErrorType"},
		{"error_input_timeout", "postal-code",
			payment.Event{Type: payment.EventState, State: payment.StateTimedOut, Reason: payment.ReasonSessionTimeout}, 1, "ErrorType"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := newReceiver(t, func(int) int { return http.StatusNoContent })
			e := newEnv(t, testConfig(), compatibleConfig(rcv.srv.URL+"/hook"))
			e.storeGoldenPayment()
			if tc.sent != "" {
				e.d.required.change(goldenPayment, tc.sent)
			}
			ev := goldenEvent(21, tc.e)
			e.d.HandleEvent("card", ev)
			var picked *progressEvent
			for n := len(e.d.progress); n > 0; n-- {
				pe := <-e.d.progress
				if tc.count--; pe.form.Has(tc.pick) && picked == nil {
					picked = &pe
				}
			}
			if tc.count != 0 || picked == nil {
				t.Fatalf("the event made the wrong callbacks (%d more than expected), or none with %s", -tc.count, tc.pick)
			}
			if err := e.d.enqueueProgress(context.Background(), *picked); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, e.deliverOne(rcv), EventProgress)
		})
	}
}

// TestGoldenCompatibleResult: the result callback, which replaces the
// JSON payment.result of a compatible webhook: written by the outbox in
// the transaction that ends the payment (a charge, a decline), or from
// the same record with the token of a saved card.
func TestGoldenCompatibleResult(t *testing.T) {
	for _, tc := range []struct {
		name   string
		state  store.State
		decl   string
		token  string
		result string
	}{
		{"result_success_charge", store.StateApproved, "", "", ResultSuccess},
		{"result_success_tokenize", store.StateApproved, "", "pm_1Q0PsIJvEtkwdCNY", ResultSuccess},
		{"result_failure", store.StateDeclined, "insufficient_funds", "", ResultConnectorError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := newReceiver(t, func(int) int { return http.StatusNoContent })
			e := newEnv(t, testConfig(), compatibleConfig(rcv.srv.URL+"/hook"))
			e.storeGoldenPayment()
			ref := "ch_3PqL2c"
			if tc.token != "" {
				ref = "seti_1Q0PsI"
			}
			p := e.finish(tc.state, ref, tc.decl)
			d := e.only(goldenPayment)
			if d.Event != EventResult || contentType(d.Body) != contentTypeForm {
				t.Fatalf("the outbox wrote %s %q", d.Event, d.Body)
			}
			if tc.token != "" {
				// The record does not hold a token (savedCardToken): the
				// outbox's body is replaced by the one written with it.
				if err := e.st.FinishDelivery(context.Background(), d.ID, 0, store.Outcome{Status: "replaced", GaveUp: true}); err != nil {
					t.Fatal(err)
				}
				body := []byte(compatibleResult(p, "", tc.token).Encode())
				if _, err := e.st.EnqueueDelivery(context.Background(), store.Delivery{PaymentID: goldenPayment, ConfigurationID: "card",
					Event: EventResult, Body: body}); err != nil {
					t.Fatal(err)
				}
			}
			r := e.deliverOne(rcv)
			golden(t, tc.name, r, EventResult)
			v, err := url.ParseQuery(string(r.body))
			if err != nil || v.Get("Result") != tc.result {
				t.Errorf("Result %q, %v", v.Get("Result"), err)
			}
		})
	}
}

// TestCompatibleResultValues: how each way a payment ends maps onto
// Result, and what else the callback says.
func TestCompatibleResultValues(t *testing.T) {
	base := store.Payment{ID: goldenPayment, CallID: goldenCall, Type: store.TypeAgentAssist, Amount: 1999, Currency: "GBP", UpdatedAt: testNow}
	for _, tc := range []struct {
		name   string
		edit   func(*store.Payment)
		reason string
		want   map[string]string // "" = absent
	}{
		{"approved", func(p *store.Payment) {
			p.State, p.ProcessorReference, p.Brand, p.Last4 = store.StateApproved, "ch_1", "amex", "0005"
		},
			"", map[string]string{"Result": "success", "PaymentConfirmationCode": "ch_1", "PaymentCardType": "amex", "SecurityCode": "xxxx",
				"PaymentCardNumber": "xxxxxxxxxxxx0005", "PaymentError": ""}},
		{"declined", func(p *store.Payment) { p.State, p.DeclineCode = store.StateDeclined, "do_not_honor" },
			"", map[string]string{"Result": "payment-connector-error", "PaymentError": "do_not_honor", "PaymentConfirmationCode": ""}},
		{"failed, not charged", func(p *store.Payment) { p.State = store.StateFailed },
			payment.ReasonNotCharged, map[string]string{"Result": "payment-connector-error", "PaymentError": payment.ReasonNotCharged}},
		{"digital, locked", func(p *store.Payment) { p.State, p.Type = store.StateFailed, store.TypeDigital },
			"", map[string]string{"Result": "too-many-failed-attempts"}},
		{"timed out", func(p *store.Payment) { p.State = store.StateTimedOut },
			payment.ReasonSessionTimeout, map[string]string{"Result": "input-timeout", "ExpirationDate": "", "PaymentCardNumber": ""}},
		{"link expired", func(p *store.Payment) { p.State = store.StateCancelled },
			payment.ReasonLinkExpired, map[string]string{"Result": "input-timeout"}},
		{"call ended", func(p *store.Payment) { p.State = store.StateCancelled },
			payment.ReasonCallEnded, map[string]string{"Result": "caller-hung-up"}},
		{"agent ended", func(p *store.Payment) { p.State = store.StateCancelled },
			payment.ReasonAgentEnded, map[string]string{"Result": "agent-cancelled", "PaymentError": "agent ended"}},
		{"yen", func(p *store.Payment) { p.State, p.Amount, p.Currency = store.StateApproved, 1250, "JPY" },
			"", map[string]string{"ChargeAmount": "1250", "Currency": "jpy"}},
		{"dinar", func(p *store.Payment) { p.State, p.Amount, p.Currency = store.StateApproved, 1005, "BHD" },
			"", map[string]string{"ChargeAmount": "1.005", "Currency": "bhd"}},
		{"pence", func(p *store.Payment) { p.State, p.Amount = store.StateApproved, 5 },
			"", map[string]string{"ChargeAmount": "0.05"}},
		{"diners", func(p *store.Payment) { p.State, p.Brand = store.StateApproved, "diners" },
			"", map[string]string{"PaymentCardType": "diners-club"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := base
			tc.edit(&p)
			v := compatibleResult(p, tc.reason, "")
			for k, want := range tc.want {
				if got := v.Get(k); got != want || (want == "" && v.Has(k)) {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// TestCompatibleFormatSwitch: the Content-Type follows each delivery's
// body, so a reload that changes a configuration's format leaves the
// deliveries already waiting correctly headed; a dtmfgw webhook still
// gets JSON.
func TestCompatibleFormatSwitch(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	dtmfgwCfg := paymentConfig(rcv.srv.URL+"/hook", false)
	e := newEnv(t, testConfig(), dtmfgwCfg)
	e.approve("card")
	e.dir.SetConfigs([]payment.Config{compatibleConfig(rcv.srv.URL + "/hook")})
	p := e.approve("card") // another payment, now compatible
	if got := e.only(p.ID); contentType(got.Body) != contentTypeForm {
		t.Fatalf("the second result is %q", got.Body)
	}
	if n := e.round(); n != 2 {
		t.Fatalf("%d attempted", n)
	}
	types := map[string]bool{}
	for _, r := range rcv.requests() {
		types[r.header.Get("Content-Type")] = true
		if err := Verify(testSecret, r.header.Get(SignatureHeader), r.body, testNow, time.Second); err != nil {
			t.Error(err)
		}
	}
	if !types["application/json"] || !types["application/x-www-form-urlencoded"] {
		t.Errorf("content types %v", types)
	}
	for _, tc := range []struct {
		body string
		want string
	}{{`{"id":"whd_x"}`, contentTypeJSON}, {"CallSid=c&Sid=p", contentTypeForm}, {"", contentTypeForm}} {
		if got := contentType([]byte(tc.body)); got != tc.want {
			t.Errorf("contentType(%q) = %q", tc.body, got)
		}
	}
}

// TestCompatibleProgressFilter: without progress a compatible webhook
// sends results only; its events list filters by the payment event's
// type; a digital payment's field events, which do not describe their
// field, are named from the configuration.
func TestCompatibleProgressFilter(t *testing.T) {
	cfg := compatibleConfig("https://crm.example.com/hook")
	dir := NewDirectory([]payment.Config{cfg})
	d := &Dispatcher{dir: dir}
	armed := goldenEvent(1, payment.Event{Type: payment.EventFieldArmed, Field: "card_number", Kind: payment.FieldCardNumber, Missing: allFields})
	if got := d.compatibleProgress("card", cfg.Webhook, armed); len(got) != 2 || got[0].Get("Capture") != CaptureCardNumber ||
		got[1].Get("Required") != "payment-card-number,expiration-date,security-code,postal-code" {
		t.Errorf("armed: %v", got)
	}
	noProgress := cfg.Webhook
	noProgress.Progress = false
	if got := d.compatibleProgress("card", noProgress, armed); got != nil {
		t.Errorf("without progress: %v", got)
	}
	onlyComplete := cfg.Webhook
	onlyComplete.Events = []payment.EventType{payment.EventFieldComplete}
	if got := d.compatibleProgress("card", onlyComplete, goldenEvent(2, armed)); got != nil {
		t.Errorf("field_armed filtered out: %v", got)
	}
	digital := goldenEvent(3, payment.Event{Type: payment.EventFieldLength, Field: "security_code", Length: 2})
	if got := d.compatibleProgress("card", cfg.Webhook, digital); len(got) != 1 || got[0].Get("For") != CaptureSecurityCode ||
		got[0].Get("SecurityCode") != "xx" {
		t.Errorf("digital: %v", got)
	}
	other := goldenEvent(4, payment.Event{Type: payment.EventFieldLength, Field: "cardholder_name", Length: 3})
	if got := d.compatibleProgress("card", cfg.Webhook, other); got != nil {
		t.Errorf("a field the configuration does not have: %v", got)
	}
	own := captureOf(payment.FieldDigits, "customer_number")
	if own.name != "dtmfgw-customer_number" || own.invalid != "invalid-dtmfgw-customer_number" || own.param != "DtmfgwDigits" {
		t.Errorf("own capture %+v", own)
	}
	// Required goes out when it changes; the final result forgets the
	// payment, and a later one starts afresh.
	if got := d.compatibleProgress("card", cfg.Webhook, armed); len(got) != 1 {
		t.Errorf("Required unchanged, yet: %v", got)
	}
	d.HandleEvent("card", goldenEvent(5, payment.Event{Type: payment.EventResult, State: payment.StateApproved}))
	if got := d.compatibleProgress("card", cfg.Webhook, armed); len(got) != 2 {
		t.Errorf("after the result: %v", got)
	}
}

// TestCompatibleCanary: a payment taken through package payment with a
// canary card, mistakes and clears included, to a compatible webhook:
// every kind of callback comes, each verifies, and no parameter holds a
// digit of the card's but the last four of the complete, valid number.
func TestCompatibleCanary(t *testing.T) {
	canary := withCheckDigit("491761384927503")
	wrong := canary[:15] + string('0'+(canary[15]-'0'+1)%10) // the check digit off by one
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	configs := []payment.Config{compatibleConfig(rcv.srv.URL + "/hook")}
	ctx := context.Background()
	st, d, ps, logs := dispatchedPayments(t, configs)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- d.Run(runCtx) }()

	set := ps.ForCall(fakeCall{"call-1"})
	defer set.Close("")
	p, err := set.New("card", payment.Attributes{Amount: 1999, Reference: "order-7"})
	if err != nil {
		t.Fatal(err)
	}
	number := uint64(0)
	press := func(keys string) {
		for i := range len(keys) {
			number++
			set.HandleDigit(dtmf.Press{Key: dtmf.Key(keys[i]), Source: dtmf.SourceRFC4733, FirstSeen: time.Now(), Number: number})
		}
	}
	clear := func(field string) {
		if err := p.Clear(field); err != nil {
			t.Fatal(err)
		}
	}
	// A mistyped number ended with '#', cleared, the right one (each
	// completion arms the next field); an impossible month, cleared, the
	// right one; a short security code ended with '#', cleared, the right
	// one; the postcode.
	if err := p.Arm("card_number"); err != nil {
		t.Fatal(err)
	}
	press(wrong + "#")
	clear("card_number")
	press(canary + "1399")
	clear("expiry")
	press("1230" + "32#")
	clear("security_code")
	press("321" + "90210")
	res, err := p.Process(ctx)
	if err != nil || res.State != payment.StateApproved {
		t.Fatalf("Process = %+v, %v", res, err)
	}
	wanted := []string{"Capture=payment-card-number", "Capture=expiration-date", "Capture=security-code", "Capture=postal-code",
		"PartialResult=true", "ErrorType=invalid-card-number", "ErrorType=invalid-date", "ErrorType=invalid-security-code",
		"Required=payment-card-number,expiration-date,security-code,postal-code", "Required=postal-code", "Required=", "Result=success"}
	seenAll := func() (map[string]bool, bool) {
		seen := map[string]bool{}
		for _, r := range rcv.requests() {
			v, _ := url.ParseQuery(string(r.body))
			for _, k := range []string{"Capture", "PartialResult", "Required", "ErrorType", "Result"} {
				if v.Has(k) {
					seen[k+"="+v.Get(k)] = true
				}
			}
		}
		for _, w := range wanted {
			if !seen[w] {
				return seen, false
			}
		}
		return seen, true
	}
	delivered := testkit.Poll(func() bool {
		n, err := st.PendingDeliveries(ctx)
		_, all := seenAll()
		return all && err == nil && n == 0 && len(d.progress) == 0
	})
	if seen, _ := seenAll(); !delivered {
		t.Fatalf("not every kind of callback came within %v; saw %v", testkit.WaitLimit, seen)
	}
	stop()
	if err := <-ran; err != nil {
		t.Error(err)
	}

	// Parameters that are no card data: ids, times, order, amounts,
	// names. Every other value holds no digit, but a complete valid card
	// number's last four.
	notCard := map[string]bool{"Sid": true, "CallSid": true, "DateUpdated": true, "SequenceNumber": true, "ChargeAmount": true,
		"PaymentConfirmationCode": true}
	maskedNumber := regexp.MustCompile(`^x*$|^x{12}` + canary[12:] + `$`)
	var all strings.Builder
	for _, r := range rcv.requests() {
		if err := Verify(testSecret, r.header.Get(SignatureHeader), r.body, time.Now(), 0); err != nil {
			t.Errorf("%s: %v", r.body, err)
		}
		if ct := r.header.Get("Content-Type"); ct != contentTypeForm {
			t.Errorf("Content-Type %q", ct)
		}
		v, err := url.ParseQuery(string(r.body))
		if err != nil {
			t.Fatalf("%q: %v", r.body, err)
		}
		for k, vals := range v {
			for _, val := range vals {
				switch {
				case k == "PaymentCardNumber":
					if !maskedNumber.MatchString(val) {
						t.Errorf("PaymentCardNumber %q", val)
					}
				case !notCard[k] && strings.ContainsAny(val, "0123456789"):
					t.Errorf("%s=%q holds a digit", k, val)
				}
			}
		}
		all.Write(r.body)
		for k, vs := range r.header {
			all.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
		}
	}
	if l := leaks(all.String()+logs.String(), canary); len(l) > 0 {
		t.Errorf("the canary leaked: %v", l)
	}
	if !strings.Contains(all.String(), "xxxxxxxxxxxx"+canary[12:]) {
		t.Error("the canary search saw no masked card number: it searched the wrong text")
	}
}

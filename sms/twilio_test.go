package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.yaml.in/yaml/v3"
)

func newTestTwilio(t *testing.T, cfg TwilioConfig, opts ...Option) *Twilio {
	t.Helper()
	tw, err := NewTwilio(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tw
}

// TestTwilioRequestShape: each way of configuring the sender and the
// credentials makes the request Twilio documents; the fake checks it and
// the test checks what the fake recorded.
func TestTwilioRequestShape(t *testing.T) {
	for _, tc := range []struct {
		name    string
		edit    func(*TwilioConfig, *fakeTwilio)
		user    string
		from    string
		service string
	}{
		{name: "from", user: testAccountSID, from: testFrom},
		{name: "messaging service", edit: func(c *TwilioConfig, _ *fakeTwilio) { c.From, c.MessagingServiceSID = "", testServiceSID },
			user: testAccountSID, service: testServiceSID},
		{name: "from and messaging service", edit: func(c *TwilioConfig, _ *fakeTwilio) { c.MessagingServiceSID = testServiceSID },
			user: testAccountSID, from: testFrom, service: testServiceSID},
		{name: "alphanumeric sender", edit: func(c *TwilioConfig, _ *fakeTwilio) { c.From = "ExamplePay" },
			user: testAccountSID, from: "ExamplePay"},
		{name: "api key", edit: func(c *TwilioConfig, f *fakeTwilio) { c.APIKeySID, f.user = testAPIKeySID, testAPIKeySID },
			user: testAPIKeySID, from: testFrom},
		{name: "base url with a slash", edit: func(c *TwilioConfig, _ *fakeTwilio) { c.BaseURL += "/" },
			user: testAccountSID, from: testFrom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTwilio(t)
			cfg := f.config(f.start())
			if tc.edit != nil {
				tc.edit(&cfg, f)
			}
			tw := newTestTwilio(t, cfg)
			m := linkMessage(t, "pay_1", "tok_shape_0123456789")
			m.Body += " ünïcödé & = + %20" // characters the form must escape
			rc, err := tw.Send(t.Context(), m)
			if err != nil {
				t.Fatal(err)
			}
			if !twilioMessageSID(rc.ProviderID) || rc.Status != "queued" {
				t.Errorf("Receipt = %+v", rc)
			}
			got := f.requests()
			if len(got) != 1 {
				t.Fatalf("the fake got %d requests", len(got))
			}
			r := got[0]
			if r.User != tc.user || r.To != testTo || r.Body != m.Body || r.From != tc.from || r.MessagingServiceSid != tc.service {
				t.Errorf("request: user %q to %q from %q service %q body %q", r.User, r.To, r.From, r.MessagingServiceSid, r.Body)
			}
		})
	}
}

// TestTwilioLongestBody: the longest body, in 4-byte characters, arrives
// whole.
func TestTwilioLongestBody(t *testing.T) {
	f := newFakeTwilio(t)
	tw := newTestTwilio(t, f.config(f.start()))
	m := linkMessage(t, "pay_1", "tok_long_0123456789")
	m.Body = strings.Repeat("😀", MaxBodyLen)
	if _, err := tw.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if got := f.requests(); len(got) != 1 || got[0].Body != m.Body {
		t.Errorf("the body did not arrive whole")
	}
}

// TestTwilioAnswers: each kind of answer becomes the right Receipt or
// *Error, in one request (the adapter itself never retries).
func TestTwilioAnswers(t *testing.T) {
	echo := "The 'To' number " + testTo + " is not a valid phone number."
	for _, tc := range []struct {
		name      string
		answer    fakeAnswer
		status    int
		code      string
		transient bool
		message   string // a part of Error.Message
	}{
		{name: "invalid to", answer: fakeAnswer{status: 400, code: 21211, message: echo},
			status: 400, code: "21211", message: "The 'To' number +************ is not a valid phone number."},
		{name: "unsubscribed", answer: fakeAnswer{status: 400, code: 21610, message: "Attempt to send to unsubscribed recipient"},
			status: 400, code: "21610", message: "unsubscribed"},
		{name: "region not enabled", answer: fakeAnswer{status: 400, code: 21408, message: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: " + testTo},
			status: 400, code: "21408", message: "region"},
		{name: "too many requests", answer: fakeAnswer{status: 429, code: 20429, message: "Too Many Requests"},
			status: 429, code: "20429", transient: true, message: "Too Many Requests"},
		{name: "429 without an error object", answer: fakeAnswer{status: 429, raw: "Too Many Requests"},
			status: 429, transient: true, message: "without a Twilio error object"},
		{name: "20429 behind another status", answer: fakeAnswer{status: 400, code: 20429, message: "Too Many Requests"},
			status: 400, code: "20429", transient: true},
		{name: "server error", answer: fakeAnswer{status: 500, code: 20500, message: "Internal Server Error"},
			status: 500, code: "20500", transient: true},
		{name: "bad gateway as html", answer: fakeAnswer{status: 502, raw: "<html><body>502 Bad Gateway</body></html>"},
			status: 502, transient: true, message: "without a Twilio error object"},
		{name: "forbidden as html", answer: fakeAnswer{status: 403, raw: "<html>Forbidden</html>"},
			status: 403, message: "without a Twilio error object"},
		{name: "created but not json", answer: fakeAnswer{status: 201, raw: "<html>OK</html>"},
			status: 201, code: CodeBadResponse, message: "not a JSON Message resource"},
		{name: "created without a sid", answer: fakeAnswer{status: 201, sid: "SM-not-a-sid"},
			status: 201, code: CodeBadResponse, message: "no message sid"},
		{name: "created, cut off", answer: fakeAnswer{status: 201, raw: `{"sid": "SM01`, cut: true},
			status: 201, code: CodeBadResponse, message: "cut off"},
		{name: "unavailable, cut off", answer: fakeAnswer{status: 503, raw: `{"code": 20`, cut: true},
			status: 503, code: CodeNetwork, transient: true},
		{name: "created, too large", answer: fakeAnswer{status: 201, raw: strings.Repeat("x", maxTwilioAnswer+1)},
			status: 201, code: CodeBadResponse, message: "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTwilio(t)
			tw := newTestTwilio(t, f.config(f.start()))
			f.push(tc.answer)
			rc, err := tw.Send(t.Context(), linkMessage(t, "pay_1", "tok_answers_0123456789"))
			if rc != (Receipt{}) {
				t.Errorf("Receipt = %+v with an error", rc)
			}
			e, ok := errors.AsType[*Error](err)
			if !ok {
				t.Fatalf("error %v (%T), want *Error", err, err)
			}
			if e.Provider != TwilioName || e.Status != tc.status || e.Code != tc.code || e.Transient != tc.transient ||
				!strings.Contains(e.Message, tc.message) {
				t.Errorf("Error = %+v, want status %d code %q transient %v message with %q", *e, tc.status, tc.code, tc.transient, tc.message)
			}
			if errors.Is(err, ErrTransient) != tc.transient || errors.Is(err, ErrPermanent) == tc.transient {
				t.Errorf("errors.Is classes of %v", err)
			}
			if longestDigitRun(err.Error()) >= minNumberRun || strings.Contains(err.Error(), "7700900123") {
				t.Errorf("the error echoes a number: %v", err)
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// TestTwilioWrongCredentials: Twilio answers 401 with code 20003; the
// error is permanent and quotes neither token.
func TestTwilioWrongCredentials(t *testing.T) {
	f := newFakeTwilio(t)
	cfg := f.config(f.start())
	const wrong = "wrong-token-c0ffee-never-printed"
	cfg.AuthToken = wrong
	tw := newTestTwilio(t, cfg)
	_, err := tw.Send(t.Context(), linkMessage(t, "pay_1", "tok_auth_0123456789"))
	e, ok := errors.AsType[*Error](err)
	if !ok || e.Status != http.StatusUnauthorized || e.Code != "20003" || e.Transient || !errors.Is(err, ErrPermanent) {
		t.Fatalf("error %#v, want a permanent 401 with code 20003", err)
	}
	if s := err.Error(); strings.Contains(s, wrong) || strings.Contains(s, testAuthToken) {
		t.Errorf("the error quotes a token: %s", s)
	}
}

// TestTwilioTimeout: a Twilio that never answers: Send gives up at the
// configured timeout with a transient error.
func TestTwilioTimeout(t *testing.T) {
	for _, timeout := range []time.Duration{0, 3 * time.Second} {
		t.Run(fmt.Sprint(timeout), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeTwilio(t)
				cfg := f.config(fakeBase)
				cfg.Timeout = timeout
				tw := newTestTwilio(t, cfg, WithHTTPClient(f.client()))
				f.push(fakeAnswer{hang: true})
				start := time.Now()
				_, err := tw.Send(t.Context(), linkMessage(t, "pay_1", "tok_timeout_0123456789"))
				want := cmp(timeout, DefaultTwilioTimeout)
				if took := time.Since(start); took != want {
					t.Errorf("Send took %v, want %v", took, want)
				}
				e, ok := errors.AsType[*Error](err)
				if !ok || e.Code != CodeTimeout || !errors.Is(err, ErrTransient) || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("error %v, want a transient timeout", err)
				}
			})
		})
	}
}

// cmp returns d, or def when d is zero.
func cmp(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// TestTwilioConnectionRefused: nobody listens: a transient network error
// whose text does not quote the URL.
func TestTwilioConnectionRefused(t *testing.T) {
	f := newFakeTwilio(t)
	srv := httptest.NewServer(f)
	base := srv.URL
	srv.Close() // its address now refuses connections
	tw := newTestTwilio(t, f.config(base))
	_, err := tw.Send(t.Context(), linkMessage(t, "pay_1", "tok_refused_0123456789"))
	e, ok := errors.AsType[*Error](err)
	if !ok || e.Code != CodeNetwork || e.Status != 0 || !errors.Is(err, ErrTransient) {
		t.Fatalf("error %v, want a transient network error", err)
	}
	if strings.Contains(err.Error(), base) || strings.Contains(err.Error(), testAccountSID) {
		t.Errorf("the error quotes the URL: %v", err)
	}
}

// TestTwilioCancelled: the caller's context ends the request.
func TestTwilioCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTwilio(t)
		tw := newTestTwilio(t, f.config(fakeBase), WithHTTPClient(f.client()))
		f.push(fakeAnswer{hang: true})
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := tw.Send(ctx, linkMessage(t, "pay_1", "tok_cancel_0123456789"))
		if !errors.Is(err, ErrTransient) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v", err)
		}
	})
}

// TestTwilioRefusesInvalidMessage: nothing is sent for a message that
// fails Validate.
func TestTwilioRefusesInvalidMessage(t *testing.T) {
	f := newFakeTwilio(t)
	tw := newTestTwilio(t, f.config(f.start()))
	m := linkMessage(t, "pay_1", "tok_invalid_0123456789")
	m.To = "07700900123"
	if _, err := tw.Send(t.Context(), m); !errors.Is(err, ErrInvalidMessage) || !errors.Is(err, ErrPermanent) {
		t.Errorf("error %v, want ErrInvalidMessage", err)
	}
	if n := len(f.requests()); n != 0 {
		t.Errorf("%d requests for an invalid message", n)
	}
}

// TestTwilioThroughSender500Then201: the Sender retries a 500 after the
// backoff and reports queued, then sent at the second attempt.
func TestTwilioThroughSender500Then201(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTwilio(t)
		tw := newTestTwilio(t, f.config(fakeBase), WithHTTPClient(f.client()))
		f.push(fakeAnswer{status: 500, code: 20500, message: "Internal Server Error"})
		rep := newReports()
		s := newTestSender(t, tw, WithReport(rep.add))
		m := linkMessage(t, "pay_1", "tok_retry_0123456789")
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
		final := rep.final(t, m.ID)
		got := rep.of(m.ID)
		if len(got) != 2 || got[0].State != StateQueued || got[0].Attempts != 0 ||
			final.State != StateSent || final.Attempts != 2 || !twilioMessageSID(final.ProviderID) || final.ErrorCode != "" {
			t.Errorf("statuses %+v; want queued, then sent at attempt 2", got)
		}
		reqs := f.requests()
		if len(reqs) != 2 {
			t.Fatalf("%d requests, want 2", len(reqs))
		}
		if gap := reqs[1].At.Sub(reqs[0].At); gap != DefaultBackoff {
			t.Errorf("the retry came %v after the first attempt, want %v", gap, DefaultBackoff)
		}
		if reqs[0].Body != m.Body || reqs[1].Body != m.Body {
			t.Error("the retry's body differs")
		}
	})
}

// TestTwilioThroughSenderPermanent: a 400 with 21211 fails the message
// at once, with the code, and is never tried again.
func TestTwilioThroughSenderPermanent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeTwilio(t)
		tw := newTestTwilio(t, f.config(fakeBase), WithHTTPClient(f.client()))
		f.push(fakeAnswer{status: 400, code: 21211, message: "The 'To' number " + testTo + " is not a valid phone number."})
		rep := newReports()
		s := newTestSender(t, tw, WithReport(rep.add))
		m := linkMessage(t, "pay_1", "tok_perm_0123456789")
		if err := s.Send(m); err != nil {
			t.Fatal(err)
		}
		final := rep.final(t, m.ID)
		if final.State != StateFailed || final.Attempts != 1 || final.ErrorCode != "21211" {
			t.Errorf("final status %+v; want failed at attempt 1 with 21211", final)
		}
		// Well past every backoff: still one request.
		time.Sleep(time.Hour)
		synctest.Wait()
		if n := len(f.requests()); n != 1 {
			t.Errorf("%d requests, want 1", n)
		}
	})
}

func TestTwilioConfigValidate(t *testing.T) {
	good := TwilioConfig{AccountSID: testAccountSID, AuthToken: testAuthToken, From: testFrom}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key  string
		edit func(*TwilioConfig)
	}{
		{"account_sid", func(c *TwilioConfig) { c.AccountSID = "" }},
		{"account_sid", func(c *TwilioConfig) { c.AccountSID = "SK0123456789abcdef0123456789abcdef" }},
		{"account_sid", func(c *TwilioConfig) { c.AccountSID = "AC0123456789abcdef0123456789abcdeg" }},
		{"api_key_sid", func(c *TwilioConfig) { c.APIKeySID = testAccountSID }},
		{"auth_token", func(c *TwilioConfig) { c.AuthToken = "" }},
		{"auth_token", func(c *TwilioConfig) { c.AuthToken = "has space" }},
		{"auth_token", func(c *TwilioConfig) { c.AuthToken = "[redacted]" }},
		{"auth_token_env", func(c *TwilioConfig) { c.AuthToken, c.AuthTokenEnv = "", "TWILIO_AUTH_TOKEN" }},
		{"from", func(c *TwilioConfig) { c.From = "" }},
		{"from", func(c *TwilioConfig) { c.From = "07700900000" }},
		{"from", func(c *TwilioConfig) { c.From = "Way Too Long Name" }},
		{"from", func(c *TwilioConfig) { c.From = "12" }},
		{"messaging_service_sid", func(c *TwilioConfig) { c.MessagingServiceSID = "MG123" }},
		{"base_url", func(c *TwilioConfig) { c.BaseURL = "http://api.twilio.com" }},
		{"base_url", func(c *TwilioConfig) { c.BaseURL = "https://user:pw@api.twilio.com" }},
		{"base_url", func(c *TwilioConfig) { c.BaseURL = "ftp://127.0.0.1" }},
		{"timeout", func(c *TwilioConfig) { c.Timeout = time.Millisecond }},
		{"timeout", func(c *TwilioConfig) { c.Timeout = time.Hour }},
	} {
		c := good
		tc.edit(&c)
		err := c.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "sms.twilio."+tc.key+":") {
			t.Errorf("%s: Validate = %v", tc.key, err)
		}
		if err != nil && strings.Contains(err.Error(), testAuthToken) {
			t.Errorf("%s: the error quotes the token: %v", tc.key, err)
		}
		if _, nerr := NewTwilio(c); nerr == nil {
			t.Errorf("%s: NewTwilio took a bad configuration", tc.key)
		}
	}
	for _, ok := range []func(*TwilioConfig){
		func(c *TwilioConfig) { c.From = ""; c.MessagingServiceSID = testServiceSID },
		func(c *TwilioConfig) { c.From = "12345" },
		func(c *TwilioConfig) { c.From = "Example Pay" },
		func(c *TwilioConfig) { c.BaseURL = "http://localhost:8080/twilio" },
		func(c *TwilioConfig) { c.BaseURL = "http://[::1]:8080" },
		func(c *TwilioConfig) { c.Timeout = MaxTwilioTimeout },
	} {
		c := good
		ok(&c)
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestTwilioConfigResolve(t *testing.T) {
	env := map[string]string{"TWILIO_AUTH_TOKEN": testAuthToken, "EMPTY": ""}
	getenv := func(k string) string { return env[k] }

	c := Config{Provider: TwilioName, Twilio: TwilioConfig{AccountSID: testAccountSID, AuthTokenEnv: "TWILIO_AUTH_TOKEN", From: testFrom}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "auth_token_env: not resolved") {
		t.Errorf("Validate before Resolve = %v", err)
	}
	if err := c.Resolve(getenv); err != nil || string(c.Twilio.AuthToken) != testAuthToken {
		t.Fatalf("Resolve = %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate after Resolve = %v", err)
	}
	p, err := New(c)
	if err != nil || p.Name() != TwilioName {
		t.Errorf("New = %v, %v", p, err)
	}

	for _, tc := range []struct {
		name, env, token, want string
	}{
		{"unset", "MISSING", "", "sms.twilio.auth_token_env: MISSING is not set"},
		{"empty", "EMPTY", "", "sms.twilio.auth_token_env: EMPTY is not set"},
		{"both", "TWILIO_AUTH_TOKEN", "inline", "sms.twilio.auth_token: set together with auth_token_env"},
		{"bad name", "TWILIO AUTH", "", "sms.twilio.auth_token_env: not an environment variable name"},
	} {
		tc := TwilioConfig{AuthTokenEnv: tc.env, AuthToken: Secret(tc.token)}
		err := tc.Resolve(getenv)
		if !errors.Is(err, ErrConfig) {
			t.Errorf("Resolve = %v", err)
			continue
		}
		if strings.Contains(err.Error(), testAuthToken) {
			t.Errorf("the error quotes the token: %v", err)
		}
	}
	var nothing TwilioConfig
	if err := nothing.Resolve(func(string) string { t.Error("getenv called without auth_token_env"); return "" }); err != nil {
		t.Error(err)
	}
	outbox := Config{}
	if err := outbox.Resolve(getenv); err != nil || outbox.Validate() != nil {
		t.Errorf("the default configuration: %v, %v", err, outbox.Validate())
	}
	if p, err := New(outbox); err != nil || p.Name() != OutboxName {
		t.Errorf("New() = %v, %v", p, err)
	}
	if err := (Config{Provider: "carrier-pigeon"}).Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "sms.provider:") {
		t.Errorf("an unknown provider: %v", err)
	}
}

// TestTwilioConfigFromYAML: the keys of docs/sms.md decode.
func TestTwilioConfigFromYAML(t *testing.T) {
	const doc = `
provider: twilio
twilio:
  base_url: https://api.twilio.com
  account_sid: AC0123456789abcdef0123456789abcdef
  auth_token_env: TWILIO_AUTH_TOKEN
  from: "+447700900000"
  messaging_service_sid: MG0123456789abcdef0123456789abcdef
  timeout: 5s
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := Config{Provider: TwilioName, Twilio: TwilioConfig{BaseURL: DefaultTwilioBaseURL, AccountSID: testAccountSID,
		AuthTokenEnv: "TWILIO_AUTH_TOKEN", From: testFrom, MessagingServiceSID: testServiceSID, Timeout: 5 * time.Second}}
	if c != want {
		t.Errorf("decoded %+v, want %+v", c, want)
	}
	if err := c.Resolve(func(string) string { return testAuthToken }); err != nil || c.Validate() != nil {
		t.Errorf("Resolve, Validate: %v, %v", err, c.Validate())
	}
}

// TestSecretNeverPrints: the auth token does not come out of fmt, slog,
// JSON or YAML.
func TestSecretNeverPrints(t *testing.T) {
	cfg := Config{Provider: TwilioName, Twilio: TwilioConfig{AccountSID: testAccountSID, AuthToken: testAuthToken, From: testFrom}}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
		out = append(out, fmt.Sprintf(verb, cfg), fmt.Sprintf(verb, cfg.Twilio), fmt.Sprintf(verb, cfg.Twilio.AuthToken),
			fmt.Sprintf(verb, &cfg.Twilio))
	}
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "sms", cfg, "token", cfg.Twilio.AuthToken)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "sms", cfg, "token", cfg.Twilio.AuthToken)
	out = append(out, string(j), string(y), logs.String())
	for _, s := range out {
		if strings.Contains(s, testAuthToken) || strings.Contains(s, "f00dfeed") ||
			strings.Contains(strings.ToLower(s), fmt.Sprintf("%x", "auth-token")) {
			t.Errorf("the token is printed: %s", s)
		}
	}
	if !strings.Contains(string(j), `"auth_token":"[redacted]"`) || !strings.Contains(string(y), "auth_token: '[redacted]'") {
		t.Errorf("JSON %s / YAML %s: the token is not shown as redacted", j, y)
	}
	if Secret("").String() != "" || fmt.Sprint(cfg.Twilio.AuthToken) != "[redacted]" || fmt.Sprintf("%#v", cfg.Twilio.AuthToken) != `"[redacted]"` {
		t.Error("Secret's forms are wrong")
	}
	// Read back, the redaction mark is refused rather than sent.
	var back Config
	if err := yaml.Unmarshal(y, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Validate(); err == nil || !strings.Contains(err.Error(), "redaction mark") {
		t.Errorf("a configuration read back from its rendering: %v", err)
	}
}

package payment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.yaml.in/yaml/v3"
)

const testWebhookSecret = "whsec-0123456789abcdef-not-real"

func TestWebhookConfigValidate(t *testing.T) {
	good := WebhookConfig{URL: "https://crm.example.com/hooks/dtmfgw?tenant=7", Secret: testWebhookSecret}
	cases := []struct {
		name string
		edit func(*WebhookConfig)
		key  string // "" = valid
	}{
		{"none", func(w *WebhookConfig) { *w = WebhookConfig{} }, ""},
		{"good", func(*WebhookConfig) {}, ""},
		{"http", func(w *WebhookConfig) { w.URL = "http://127.0.0.1:8081/hook" }, ""},
		{"progress", func(w *WebhookConfig) { w.Progress = true }, ""},
		{"progress events", func(w *WebhookConfig) {
			w.Progress, w.Events = true, []EventType{EventFieldLength, EventState}
		}, ""},
		{"secret without url", func(w *WebhookConfig) { w.URL = "" }, "webhook.url"},
		{"progress without url", func(w *WebhookConfig) { *w = WebhookConfig{Progress: true} }, "webhook.url"},
		{"relative", func(w *WebhookConfig) { w.URL = "/hooks" }, "webhook.url"},
		{"ftp", func(w *WebhookConfig) { w.URL = "ftp://example.com/x" }, "webhook.url"},
		{"no host", func(w *WebhookConfig) { w.URL = "https:///x" }, "webhook.url"},
		{"user info", func(w *WebhookConfig) { w.URL = "https://user:pw@example.com/x" }, "webhook.url"},
		{"fragment", func(w *WebhookConfig) { w.URL = "https://example.com/x#y" }, "webhook.url"},
		{"space", func(w *WebhookConfig) { w.URL = "https://example.com/a b" }, "webhook.url"},
		{"newline", func(w *WebhookConfig) { w.URL = "https://example.com/\n" }, "webhook.url"},
		{"long url", func(w *WebhookConfig) { w.URL = "https://example.com/" + strings.Repeat("a", maxWebhookURL) }, "webhook.url"},
		{"no secret", func(w *WebhookConfig) { w.Secret = "" }, "webhook.secret"},
		{"short secret", func(w *WebhookConfig) { w.Secret = Secret(strings.Repeat("s", MinWebhookSecret-1)) }, "webhook.secret"},
		{"long secret", func(w *WebhookConfig) { w.Secret = Secret(strings.Repeat("s", maxWebhookSecret+1)) }, "webhook.secret"},
		{"events without progress", func(w *WebhookConfig) { w.Events = []EventType{EventState} }, "webhook.events"},
		{"bad event", func(w *WebhookConfig) { w.Progress, w.Events = true, []EventType{numEventTypes} }, "webhook.events[0]"},
		{"format dtmfgw", func(w *WebhookConfig) { w.Format = FormatDTMFGW }, ""},
		{"format compatible", func(w *WebhookConfig) { w.Format, w.Progress = FormatCompatible, true }, ""},
		{"format dtmfgw without url", func(w *WebhookConfig) { *w = WebhookConfig{Format: FormatDTMFGW} }, ""},
		{"format compatible without url", func(w *WebhookConfig) { *w = WebhookConfig{Format: FormatCompatible} }, "webhook.format"},
		{"unknown format", func(w *WebhookConfig) { w.Format = "twiml" }, "webhook.format"},
		{"format in capitals", func(w *WebhookConfig) { w.Format = "Compatible" }, "webhook.format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultSettings()
			c.Configurations[0].Webhook = good
			tc.edit(&c.Configurations[0].Webhook)
			err := c.Validate()
			if tc.key == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			want := "payments.configurations[0]." + tc.key + ":"
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v; want one naming %s", err, want)
			}
			if strings.Contains(err.Error(), testWebhookSecret) || strings.Contains(err.Error(), "user:pw") {
				t.Errorf("the error shows the secret or the URL's credentials: %v", err)
			}
		})
	}
}

// TestWebhookSecretNeverShows: the secret is read from YAML, and appears
// in no JSON, no fmt verb and no log line.
func TestWebhookSecretNeverShows(t *testing.T) {
	var c Settings
	doc := fmt.Sprintf(`configurations:
  - id: card
    name: Card
    processor: sandbox
    accepted_brands: [visa]
    fields:
      - {id: pan, kind: card_number}
      - {id: exp, kind: expiry}
      - {id: cvc, kind: security_code}
    webhook:
      url: https://crm.example.com/hook
      secret: %s
      progress: true
      events: [field_complete, state]
`, testWebhookSecret)
	if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	w := c.Configurations[0].Webhook
	if string(w.Secret.Reveal()) != testWebhookSecret || !w.Progress || len(w.Events) != 2 || w.Events[1] != EventState {
		t.Fatalf("decoded %+v", w)
	}
	if !w.SendsProgress(EventState) || w.SendsProgress(EventFieldLength) {
		t.Error("SendsProgress does not follow events")
	}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "webhook", w, "secret", w.Secret, "all", c)
	y, _ := yaml.Marshal(w)
	for _, s := range []string{string(js), fmt.Sprintf("%v %+v %#v %s", w, w, w, w.Secret), logs.String(), string(y)} {
		if strings.Contains(s, testWebhookSecret) {
			t.Errorf("the secret shows in %s", s)
		}
	}
	if !strings.Contains(string(js), `"webhook":{"url":"https://crm.example.com/hook","progress":true,"events":["field_complete","state"]}`) {
		t.Errorf("JSON %s", js)
	}
	// No webhook: no key at all.
	js, _ = json.Marshal(DefaultConfigs()[0])
	if strings.Contains(string(js), "webhook") {
		t.Errorf("JSON without a webhook: %s", js)
	}
	var bad Settings
	if err := yaml.Unmarshal([]byte(strings.Replace(doc, "field_complete", "nonsense", 1)), &bad); err == nil {
		t.Error("an unknown event type was accepted")
	}
}

func TestWebhookSendsProgress(t *testing.T) {
	for _, tc := range []struct {
		w    WebhookConfig
		typ  EventType
		want bool
	}{
		{WebhookConfig{}, EventState, false},
		{WebhookConfig{URL: "https://x"}, EventState, false},
		{WebhookConfig{URL: "https://x", Progress: true}, EventState, true},
		{WebhookConfig{URL: "https://x", Progress: true}, EventRemaining, false},
		{WebhookConfig{URL: "https://x", Progress: true, Events: []EventType{EventRemaining}}, EventRemaining, true},
		{WebhookConfig{URL: "https://x", Progress: true, Events: []EventType{EventRemaining}}, EventState, false},
	} {
		if got := tc.w.SendsProgress(tc.typ); got != tc.want {
			t.Errorf("%+v SendsProgress(%s) = %v", tc.w, tc.typ, got)
		}
	}
}

// TestEventHook: the hook sees every payment event the call's subscribers
// see, in order, with the configuration's id.
func TestEventHook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var got []Event
		var configs []string
		e := newEnv(t, nil, WithEventHook(func(configID string, ev Event) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, ev)
			configs = append(configs, configID)
		}))
		p := e.newPayment()
		p.Arm("card_number")
		e.keys(visa + "1230" + cvc)
		if _, err := p.Process(t.Context()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		subscribed := e.events()
		mu.Lock()
		defer mu.Unlock()
		if len(got) != len(subscribed) || len(got) < 10 {
			t.Fatalf("hook saw %d events, the subscriber %d", len(got), len(subscribed))
		}
		for i := range got {
			if got[i].Seq != subscribed[i].Seq || got[i].Type != subscribed[i].Type || got[i].PaymentID != p.ID() {
				t.Errorf("event %d: hook %+v, subscriber %+v", i, got[i], subscribed[i])
			}
			if configs[i] != "card" {
				t.Errorf("event %d: configuration %q", i, configs[i])
			}
		}
		results := 0
		for _, ev := range got {
			if ev.Type == EventResult && ev.State == StateApproved && ev.Result != nil {
				results++
			}
		}
		if results != 1 {
			t.Errorf("the hook saw %d approved results", results)
		}
	})
}

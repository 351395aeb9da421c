package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
)

// A gateway whose SMS go to Twilio's Messaging API: here a fake of it on
// loopback that checks each request, fails the first with a 500 and
// accepts the second. The link's SMS reaches it with the link, the auth
// token comes from the variable the configuration names, and the
// payment's link shows the message sent after one retry.
func TestLinkSMSThroughTwilio(t *testing.T) {
	const (
		sid   = "AC0123456789abcdef0123456789abcdef"
		token = "twilio-auth-token-canary-0123456789"
		from  = "+15005550006"
	)
	t.Setenv("DTMFGW_TEST_TWILIO_TOKEN", token)
	var mu sync.Mutex
	var got []url.Values
	var bad []string
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		form, _ := url.ParseQuery(string(body))
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method != "POST" || r.URL.Path != "/2010-04-01/Accounts/"+sid+"/Messages.json":
			bad = append(bad, r.Method+" "+r.URL.Path)
		case !ok || user != sid || pass != token:
			bad = append(bad, "credentials")
		case r.Header.Get("Content-Type") != "application/x-www-form-urlencoded":
			bad = append(bad, "content type "+r.Header.Get("Content-Type"))
		}
		got = append(got, form)
		if len(got) == 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(500)
			fmt.Fprint(w, `{"code":20500,"message":"Internal Server Error","status":500}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"sid":"SM%032d","status":"queued"}`, len(got))
	}))
	t.Cleanup(fake.Close)

	g := startGateway(t, fmt.Sprintf(`payments:
  configurations:
    - id: card
      name: Acme Energy
      processor: sandbox
      currency: GBP
      types: [digital]
      accepted_brands: [visa]
      fields:
        - {id: card_number, kind: card_number}
        - {id: expiry, kind: expiry}
        - {id: security_code, kind: security_code}
sms:
  provider: twilio
  twilio:
    base_url: %s
    account_sid: %s
    auth_token_env: DTMFGW_TEST_TWILIO_TOKEN
    from: "%s"
`, fake.URL, sid, from))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	api := g.api(t)
	var d struct {
		Payment struct {
			ID string `json:"id"`
		} `json:"payment"`
		Link struct {
			URL string `json:"url"`
		} `json:"link"`
	}
	api.must(ctx, 201, "POST", "/v1/payments", map[string]any{
		"type": "digital", "prefill": map[string]any{"amount": 990}, "phone": "+447700900123",
	}, &d)
	api.must(ctx, 200, "POST", "/v1/payments/"+d.Payment.ID+"/link/send", nil, nil)
	// The sender retries after its backoff (2 s); a delivery outside a call
	// has no event to wait for, so the payment is read until it says.
	var link struct {
		Link struct {
			Messages []struct {
				State      string `json:"state"`
				Attempts   int    `json:"attempts"`
				ErrorCode  string `json:"error_code"`
				Provider   string `json:"provider"`
				ProviderID string `json:"provider_id"`
			} `json:"messages"`
		} `json:"link"`
	}
	testkit.WaitFor(t, "the SMS's delivery recorded", func() bool {
		api.must(ctx, 200, "GET", "/v1/payments/"+d.Payment.ID, nil, &link)
		ms := link.Link.Messages
		return len(ms) == 1 && ms[0].State != "queued"
	})
	if m := link.Link.Messages[0]; m.State != "sent" || m.Attempts != 2 || m.Provider != "twilio" {
		t.Fatalf("the message %+v, want sent by twilio at the second attempt", m)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("the fake Twilio refused: %v", bad)
	}
	if len(got) != 2 || got[1].Get("To") != "+447700900123" || got[1].Get("From") != from || !strings.Contains(got[1].Get("Body"), d.Link.URL) {
		t.Fatalf("Twilio got %v, want the link to +447700900123 from %s", got, from)
	}
	if strings.Contains(g.Log.String(), token) {
		t.Error("the log holds Twilio's auth token")
	}
	_, linkToken, _ := strings.Cut(d.Link.URL, "#")
	if strings.Contains(g.Log.String(), linkToken) {
		t.Error("the log holds the link's token")
	}
}

package paypage

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
	"dtmfgw/payment"
)

func TestLimiterWindow(t *testing.T) {
	clock := testkit.NewClock(time.Time{})
	l := newLimiter(3, time.Minute, 100, clock.Now)
	for i := range 3 {
		if ok, _ := l.allow("k"); !ok {
			t.Fatalf("request %d refused", i+1)
		}
	}
	clock.Advance(20 * time.Second)
	ok, retry := l.allow("k")
	if ok || retry != 40*time.Second {
		t.Fatalf("4th: ok %v, retry %v; want refused for 40s", ok, retry)
	}
	if ok, _ := l.allow("other"); !ok {
		t.Fatal("another key shares the count")
	}
	clock.Advance(40 * time.Second)
	if ok, _ := l.allow("k"); !ok {
		t.Fatal("refused in a new window")
	}
	if ok, _ := newLimiter(0, time.Minute, 1, clock.Now).allow("k"); !ok {
		t.Fatal("a limit of 0 refuses")
	}
}

// TestLimiterBounded: a flood of new keys never grows the table past its
// bound; ended windows go first, and a live key keeps its count unless
// the table is full of live ones.
func TestLimiterBounded(t *testing.T) {
	clock := testkit.NewClock(time.Time{})
	l := newLimiter(1, time.Minute, 64, clock.Now)
	l.allow("old")
	clock.Advance(time.Minute)
	for i := range 10000 {
		l.allow("k" + strconv.Itoa(i))
		if n := l.size(); n > 64 {
			t.Fatalf("%d keys after %d", n, i+1)
		}
	}
	// A key refused stays refused while the table has room.
	l = newLimiter(1, time.Minute, 64, clock.Now)
	l.allow("k")
	for i := range 62 {
		l.allow("n" + strconv.Itoa(i))
	}
	if ok, _ := l.allow("k"); ok {
		t.Fatal("a live key lost its count with room left")
	}
}

func TestClientKey(t *testing.T) {
	tests := map[string]string{
		"192.0.2.1:5000":                  "192.0.2.1",
		"[::ffff:192.0.2.1]:5000":         "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:443":      "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1%eth0]:443": "2001:db8:1:2::/64",
		"[2001:db8:1:3::1]:443":           "2001:db8:1:3::/64",
		"not an address":                  "not an address",
		"@":                               "@",
	}
	for in, want := range tests {
		if got := clientKey(in); got != want {
			t.Errorf("clientKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRateLimits: the handler's limits per link and per address, on the
// test clock: 429 with Retry-After, and a new window lets the link in
// again.
func TestRateLimits(t *testing.T) {
	e := newEnv(t, WithRateLimits(Limits{Window: time.Minute, PayPerLink: 10, PayPerAddress: 30, PagePerLink: 120, PagePerAddress: 240}))
	bad := `{"fields":{"card_number":"1"}}` // refused by the desk's checks: a try each
	e.desk.add("tok_many", payment.LinkOpened)
	e.desk.mu.Lock()
	e.desk.links["tok_many"].view.AttemptsLeft = 1000
	e.desk.mu.Unlock()
	for range 10 {
		expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: "tok_many", body: bad}), 200, "", nil)
	}
	res := e.do(req{method: "POST", path: "/pay/api/pay", token: "tok_many", body: bad})
	if got := res.Header.Get("Retry-After"); got != "60" {
		t.Errorf("Retry-After %q, want 60", got)
	}
	expect(t, res, http.StatusTooManyRequests, "rate_limited", nil)
	// Another link from the same address is not this link's limit.
	expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: testToken, body: bad}), 200, "", nil)
	// The page's other calls have limits of their own.
	expect(t, e.do(req{method: "GET", path: "/pay/api/session", token: "tok_many"}), 200, "", nil)
	clock := e.clock
	clock.Advance(30 * time.Second)
	res = e.do(req{method: "POST", path: "/pay/api/pay", token: "tok_many", body: bad})
	if got := res.Header.Get("Retry-After"); got != "30" {
		t.Errorf("Retry-After %q, want 30", got)
	}
	expect(t, res, http.StatusTooManyRequests, "rate_limited", nil)
	clock.Advance(30 * time.Second)
	expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: "tok_many", body: bad}), 200, "", nil)

	// Per address: 30 cards a minute over any links, then 429 for every
	// link from it, but not for another address.
	clock.Advance(time.Minute)
	for i := range 30 {
		tok := "tok_addr" + strconv.Itoa(i)
		e.desk.add(tok, payment.LinkOpened)
		expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: tok, body: bad, remote: "198.51.100.7:1000"}), 200, "", nil)
	}
	expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: "tok_addr0", body: bad, remote: "198.51.100.7:2000"}), 429, "rate_limited", nil)
	expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: "tok_addr0", body: bad, remote: "198.51.100.8:1000"}), 200, "", nil)
	// X-Forwarded-For is the client's to write: it changes nothing.
	expect(t, e.do(req{method: "POST", path: "/pay/api/pay", token: "tok_addr1", body: bad, remote: "198.51.100.7:3000", hdr: map[string]string{"X-Forwarded-For": "203.0.113.9"}}), 429, "rate_limited", nil)

	// Session, progress and presence: 120 a minute per link, together.
	clock.Advance(time.Minute)
	e.desk.add("tok_page", payment.LinkOpened)
	for i := range 120 {
		var r req
		switch i % 3 {
		case 0:
			r = req{method: "GET", path: "/pay/api/session"}
		case 1:
			r = req{method: "POST", path: "/pay/api/progress", body: `{"field":"card_number","length":1}`}
		case 2:
			r = req{method: "POST", path: "/pay/api/presence", body: `{"present":true}`}
		}
		r.token, r.remote = "tok_page", "198.51.100.20:1"
		if res := e.do(r); res.StatusCode >= 300 {
			t.Fatalf("request %d: status %d", i+1, res.StatusCode)
		}
	}
	expect(t, e.do(req{method: "GET", path: "/pay/api/session", token: "tok_page", remote: "198.51.100.21:1"}), 429, "rate_limited", nil)
	// 240 a minute per address, over any links (token guessing).
	for i := range 240 {
		if res := e.do(req{method: "GET", path: "/pay/api/session", token: "tok_guess" + strconv.Itoa(i), remote: "198.51.100.30:1"}); res.StatusCode != 404 {
			t.Fatalf("guess %d: status %d", i+1, res.StatusCode)
		}
	}
	expect(t, e.do(req{method: "GET", path: "/pay/api/session", token: testToken, remote: "198.51.100.30:1"}), 429, "rate_limited", nil)
}

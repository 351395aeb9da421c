package paypage

import (
	"strconv"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
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

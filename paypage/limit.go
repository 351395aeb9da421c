package paypage

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Limits are the page's rate limits: how many requests one link (its
// token's hash) and one client address may make in each Window. Pay
// counts POST /pay/api/pay; Page counts the session, progress and
// presence calls together. A request over either of its two limits is
// answered 429 with Retry-After.
type Limits struct {
	Window time.Duration
	// PayPerLink bounds the cards one link can submit: the desk locks a
	// link after a few declines, this bounds the rate of the tries.
	PayPerLink int
	// PayPerAddress bounds the cards one address can submit, over every
	// link: card testing from one machine.
	PayPerAddress int
	// PagePerLink and PagePerAddress bound the rest: a page reports each
	// field's length as the caller types (debounced) and its presence
	// every 15 s, so they are generous; per address also bounds how fast
	// one machine can guess tokens.
	PagePerLink    int
	PagePerAddress int
	// MaxEntries bounds each counter's table (links or addresses seen in
	// the last window), so that a flood of new tokens or addresses cannot
	// grow memory without bound.
	MaxEntries int
}

// DefaultLimits are the limits New uses unless WithRateLimits says
// otherwise.
var DefaultLimits = Limits{
	Window:         time.Minute,
	PayPerLink:     10,
	PayPerAddress:  30,
	PagePerLink:    120,
	PagePerAddress: 240,
	MaxEntries:     10000,
}

// evictSample is how many entries a full table looks at to pick the one
// to drop: the oldest of a random sample (Go's map order is random) is
// nearly as good as the oldest of all, at a bounded cost per request.
const evictSample = 32

// window is one key's count in its current window.
type window struct {
	start time.Time
	n     int
}

// limiter counts requests per key in fixed windows: a key's window starts
// at its first request and holds limit requests. Safe for concurrent use.
type limiter struct {
	limit  int
	period time.Duration
	max    int
	now    func() time.Time

	mu   sync.Mutex
	keys map[string]*window
}

func newLimiter(limit int, period time.Duration, max int, now func() time.Time) *limiter {
	return &limiter{limit: limit, period: period, max: max, now: now, keys: make(map[string]*window)}
}

// allow counts a request of key and reports whether it is within the
// limit; if not, retry is how long until the key's window ends. A limit
// of 0 or less allows everything.
func (l *limiter) allow(key string) (ok bool, retry time.Duration) {
	if l.limit <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.keys[key]
	if w != nil && !now.Before(w.start.Add(l.period)) {
		w.start, w.n = now, 0
	}
	if w == nil {
		if len(l.keys) >= l.max {
			l.evictLocked(now)
		}
		w = &window{start: now}
		l.keys[key] = w
	}
	if w.n >= l.limit {
		return false, w.start.Add(l.period).Sub(now)
	}
	w.n++
	return true, 0
}

// evictLocked makes room for one key: it drops the entries of a sample
// whose window has ended, or, when all are live, the oldest of the
// sample. A dropped live entry forgets its count, which favours the
// dropped key; the alternative, refusing new keys when full, would let
// a flood of addresses shut everyone else out.
func (l *limiter) evictLocked(now time.Time) {
	var (
		oldest   string
		oldestAt time.Time
		found    bool
		seen     int
		freed    bool
	)
	for k, w := range l.keys {
		if seen == evictSample {
			break
		}
		seen++
		if !now.Before(w.start.Add(l.period)) {
			delete(l.keys, k)
			freed = true
			continue
		}
		if !found || w.start.Before(oldestAt) {
			oldest, oldestAt, found = k, w.start, true
		}
	}
	if !freed && found {
		delete(l.keys, oldest)
	}
}

// size returns how many keys the limiter holds (tests).
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// clientKey is the rate-limit key of a request's client: the host of
// r.RemoteAddr (never X-Forwarded-For, which the client writes), an
// IPv6 address by its /64, which one subscriber usually holds whole.
func clientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

package api

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Idempotency keys of POST /v1/payments are claimed in the store, which
// every node shares and which outlives a restart (Server.claimKey). A
// Server without a store (tests of the payment endpoints alone) keeps
// them here, in memory.
const (
	// idempotencyTTL is how long a key is remembered.
	idempotencyTTL = 24 * time.Hour
	// maxIdempotencyKeys bounds the keys remembered; the oldest go first.
	maxIdempotencyKeys = 10000
	// MaxIdempotencyKeyLen bounds a key.
	MaxIdempotencyKeyLen = 200
)

type idemEntry struct {
	key       string
	paymentID string
	body      [sha256.Size]byte
	at        time.Time
}

// idempotency maps a key to the payment it made and a hash of the request
// that made it.
type idempotency struct {
	now func() time.Time

	mu    sync.Mutex
	byKey map[string]*idemEntry
	order []*idemEntry // oldest first
}

func newIdempotency(now func() time.Time) *idempotency {
	return &idempotency{now: now, byKey: make(map[string]*idemEntry)}
}

// lookup returns the payment id made under key and the hash of the
// request that made it.
func (m *idempotency) lookup(key string) (paymentID string, body [sha256.Size]byte, found bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked()
	e := m.byKey[key]
	if e == nil {
		return "", body, false
	}
	return e.paymentID, e.body, true
}

// remember records that key made the payment.
func (m *idempotency) remember(key, paymentID string, body [sha256.Size]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.expireLocked()
	if len(m.order) >= maxIdempotencyKeys {
		delete(m.byKey, m.order[0].key)
		m.order = m.order[1:]
	}
	e := &idemEntry{key: key, paymentID: paymentID, body: body, at: m.now()}
	m.byKey[key] = e
	m.order = append(m.order, e)
}

func (m *idempotency) expireLocked() {
	now := m.now()
	n := 0
	for n < len(m.order) && now.Sub(m.order[n].at) > idempotencyTTL {
		delete(m.byKey, m.order[n].key)
		n++
	}
	if n > 0 {
		m.order = m.order[n:]
	}
}

// forget drops key when it names paymentID (its payment was not made).
func (m *idempotency) forget(key, paymentID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.byKey[key]; e != nil && e.paymentID == paymentID {
		delete(m.byKey, key)
		for i, o := range m.order {
			if o == e {
				m.order = append(m.order[:i], m.order[i+1:]...)
				break
			}
		}
	}
}

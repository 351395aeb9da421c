package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"sync"
	"time"

	"dtmfgw/payment"
	"dtmfgw/store"
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

// claimKey claims an idempotency key for the payment id about to be made:
// in the store, which every node shares (and which outlives a restart),
// or in this process's memory without one. taken says an earlier request
// claimed it: earlier is the payment it made and its request's hash.
func (s *Server) claimKey(ctx context.Context, key string, hash [sha256.Size]byte, id string) (earlier store.IdempotencyKey, taken bool, err error) {
	if s.store == nil {
		if pid, body, ok := s.idem.lookup(key); ok {
			return store.IdempotencyKey{Key: key, PaymentID: pid, RequestHash: body}, true, nil
		}
		s.idem.remember(key, id, hash)
		return store.IdempotencyKey{}, false, nil
	}
	earlier, taken, err = s.store.ClaimIdempotencyKey(ctx, store.IdempotencyKey{Key: key, RequestHash: hash, PaymentID: id})
	if err != nil {
		s.log.Warn("idempotency key not claimed", "err", err)
		return store.IdempotencyKey{}, false, errStorage
	}
	return earlier, taken, nil
}

// lookupKey reads the claim of an idempotency key, without claiming it.
func (s *Server) lookupKey(ctx context.Context, key string) (store.IdempotencyKey, bool, error) {
	if s.store == nil {
		pid, body, ok := s.idem.lookup(key)
		return store.IdempotencyKey{Key: key, PaymentID: pid, RequestHash: body}, ok, nil
	}
	k, found, err := s.store.IdempotencyKeyOf(ctx, key)
	if err != nil {
		s.log.Warn("idempotency key not read", "err", err)
		return store.IdempotencyKey{}, false, errStorage
	}
	return k, found, nil
}

// releaseKey lets go of a key whose payment was not made, so that the
// client's retry can make it.
func (s *Server) releaseKey(key, id string) {
	if s.store == nil {
		s.idem.forget(key, id)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.store.ReleaseIdempotencyKey(ctx, key, id); err != nil {
		s.log.Warn("idempotency key not released", "err", err)
	}
}

// answerRepeat answers a request whose idempotency key was claimed
// before: the payment the first made (with a new form token), a conflict
// if this request differs, or 409 while the first is still being made
// (on another node) or came to nothing.
func (s *Server) answerRepeat(w http.ResponseWriter, r *http.Request, earlier store.IdempotencyKey, hash [sha256.Size]byte) {
	if earlier.RequestHash != hash {
		writeError(w, errorf(http.StatusConflict, "idempotency_conflict", "the idempotency key was used with a different request"))
		return
	}
	f, err := s.payments.Find(r.Context(), earlier.PaymentID)
	if errors.Is(err, payment.ErrNotFound) {
		writeError(w, errorf(http.StatusConflict, "idempotency_in_progress", "a request with this idempotency key is still being handled: retry shortly"))
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeCreated(w, r, http.StatusOK, f)
}

package api

import (
	"crypto/sha256"
	"net/http"
	"sync"

	"dtmfgw/payment"
)

// Bounds of the event streams. One client must not be able to take every
// stream of a call and lock the agent's form out: a credential's streams
// of a payment are few, and beyond them its newest replaces its oldest;
// a full call replaces the oldest stream of whoever holds the most there.
const (
	// MaxStreamsPerCredential bounds the streams one credential (a form
	// token, an API key) holds on one payment: a form open in a few tabs,
	// a reconnection whose old connection the server has not yet seen
	// close.
	MaxStreamsPerCredential = 4
	// MaxStreamsPerCall bounds a call's streams, below the 64 subscribers
	// its event bus takes, so the bus is never what refuses the agent.
	MaxStreamsPerCall = 48
	// MaxStreams bounds the server's streams, all calls together: beyond
	// it a new stream is refused (503 too_many_streams).
	MaxStreams = 4096
)

var errTooManyStreams = errorf(http.StatusServiceUnavailable, "too_many_streams", "too many event streams are open on this gateway")

// credID names a credential without keeping it: its SHA-256.
type credID [sha256.Size]byte

// streamSlot is one open event stream in the registry.
type streamSlot struct {
	cred      credID
	paymentID string
	callID    string
	// replaced is closed when a newer stream takes the slot's place; the
	// stream then ends with "event: replaced".
	replaced chan struct{}
	sub      *payment.Subscription // under streamRegistry.mu; nil until attached
}

// wasReplaced reports whether a newer stream took this one's place.
func (st *streamSlot) wasReplaced() bool {
	select {
	case <-st.replaced:
		return true
	default:
		return false
	}
}

// streamRegistry keeps the open streams by call, oldest first, and applies
// the bounds. Safe for concurrent use.
type streamRegistry struct {
	perCredential, perCall, total int

	mu     sync.Mutex
	byCall map[string][]*streamSlot
	n      int
}

func newStreamRegistry(perCredential, perCall, total int) *streamRegistry {
	return &streamRegistry{perCredential: perCredential, perCall: perCall, total: total, byCall: make(map[string][]*streamSlot)}
}

// admit registers a new stream of cred on the payment of the call. When
// cred already holds perCredential streams of the payment, its oldest is
// replaced; else, when the call holds perCall streams, the oldest stream
// of the credential holding the most on the call is; else, when the
// server holds total, the new stream is refused (errTooManyStreams). A
// replaced stream's subscription is closed here, so its place on the
// call's bus is free at once.
func (r *streamRegistry) admit(cred credID, paymentID, callID string) (*streamSlot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	slots := r.byCall[callID]
	var victim *streamSlot
	own := 0
	for _, st := range slots {
		if st.cred == cred && st.paymentID == paymentID {
			if own == 0 {
				victim = st // the oldest
			}
			own++
		}
	}
	switch {
	case own >= r.perCredential:
	case len(slots) >= r.perCall:
		victim = r.greediestLocked(slots)
	case r.n >= r.total:
		return nil, errTooManyStreams
	default:
		victim = nil
	}
	if victim != nil {
		r.removeLocked(victim)
		close(victim.replaced)
		if victim.sub != nil {
			victim.sub.Close()
		}
	}
	st := &streamSlot{cred: cred, paymentID: paymentID, callID: callID, replaced: make(chan struct{})}
	r.byCall[callID] = append(r.byCall[callID], st)
	r.n++
	return st, nil
}

// greediestLocked returns the oldest stream of the credential that holds
// the most of slots (of those, the one whose oldest stream is oldest).
func (r *streamRegistry) greediestLocked(slots []*streamSlot) *streamSlot {
	count := make(map[credID]int, len(slots))
	for _, st := range slots {
		count[st.cred]++
	}
	var victim *streamSlot
	for _, st := range slots { // oldest first: the first of a count wins ties
		if victim == nil || count[st.cred] > count[victim.cred] {
			victim = st
		}
	}
	return victim
}

// attach records the stream's subscription, so that a replacement closes
// it. It reports false, closing sub, when the stream was replaced before.
func (r *streamRegistry) attach(st *streamSlot, sub *payment.Subscription) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st.wasReplaced() {
		sub.Close()
		return false
	}
	st.sub = sub
	return true
}

// release forgets a stream that has ended (nothing if it was replaced).
func (r *streamRegistry) release(st *streamSlot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removeLocked(st)
}

func (r *streamRegistry) removeLocked(st *streamSlot) {
	slots := r.byCall[st.callID]
	for i, x := range slots {
		if x == st {
			slots = append(slots[:i:i], slots[i+1:]...)
			r.n--
			if len(slots) == 0 {
				delete(r.byCall, st.callID)
			} else {
				r.byCall[st.callID] = slots
			}
			return
		}
	}
}

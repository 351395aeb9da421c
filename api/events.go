package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"dtmfgw/payment"
	"dtmfgw/store"
)

// getEvents streams the payment's progress as Server-Sent Events (HTML
// Living Standard §9.2): a snapshot first, then each payment.Event of the
// payment (and of its call: the secure status) as
//
//	id: <seq>
//	event: <type>
//	data: <json>
//
// A client that reconnects with Last-Event-ID (or ?last_event_id=) gets
// the events it missed, replayed from the call's bus; when the bus no
// longer holds them the stream starts with "event: reset" and a fresh
// snapshot. The stream ends with the call, when the server drains, or
// when the client falls so far behind that the bus drops it (it then
// resumes with Last-Event-ID), or when a newer stream replaces it: the
// streams are bounded per credential and per call (streamRegistry), and
// such a stream ends with "event: replaced", which tells the client not to
// reconnect it.
func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	who, err := s.authPayment(r, id, true)
	if err != nil {
		writeError(w, err)
		return
	}
	last, resume, err := lastEventID(r)
	if err != nil {
		writeError(w, err)
		return
	}
	f, err := s.payments.Find(r.Context(), id)
	if (err != nil || (f.Live() == nil && !f.Waiting())) && s.handOn(w, r, s.routeTo(r.Context(), id)) {
		// The call's bus is another node's: its stream, passed on.
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	callID := f.View().CallID
	var bus *payment.EventBus
	if set := s.payments.Set(callID); set != nil && (f.Stored() == nil || f.Digital()) {
		bus = set.Events()
	}

	// Subscribe before the snapshot, so nothing falls between them.
	var sub *payment.Subscription
	var slot *streamSlot
	complete := true
	if bus != nil {
		if slot, err = s.slots.admit(who.cred, id, callID); err != nil {
			writeError(w, err)
			return
		}
		defer s.slots.release(slot)
		if resume {
			sub, complete, err = bus.SubscribeAfter(last, 0)
		} else {
			sub, err = bus.Subscribe(0)
		}
		if err != nil {
			writeError(w, errorf(http.StatusServiceUnavailable, "too_many_streams", "too many event streams on this call"))
			return
		}
		defer sub.Close()
		if !s.slots.attach(slot, sub) {
			// Replaced already, by a newer stream of the same client.
			writeReplaced(w)
			return
		}
	}
	s.streams.Add(1)
	defer s.streams.Add(-1)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)

	if bus == nil {
		// The call's bus is not here: its call has ended, or its node has
		// died. A resumed stream gets the events it missed from the store
		// (none when it had them all), then, always, the payment as it
		// stands: a stream that ended with nothing would only be resumed
		// again, and its client would never learn the payment's end.
		seen := last
		if resume {
			for _, e := range s.storedEvents(r.Context(), callID, last) {
				if e.PaymentID == "" || e.PaymentID == id {
					writeSSE(w, seqID(e.Seq), e.Type, e.Data)
				}
				seen = e.Seq
			}
		}
		if f, err = s.payments.Find(r.Context(), id); err == nil {
			snap, _ := json.Marshal(s.view(r.Context(), f))
			writeSSE(w, seqID(seen), "snapshot", snap)
		}
		_ = rc.Flush()
		return
	}

	var seen uint64 // events up to seen are in what the client has
	if !resume || !complete {
		if resume {
			writeSSE(w, "", "reset", []byte("{}"))
		}
		seen = bus.LastSeq()
		// The view reflects at least every event up to seen; later events
		// are sent as well, and applying one twice changes nothing.
		f, err = s.payments.Find(r.Context(), id)
		if err != nil {
			return
		}
		snap, _ := json.Marshal(s.view(r.Context(), f))
		writeSSE(w, seqID(seen), "snapshot", snap)
	} else {
		seen = last
	}
	_ = rc.Flush()
	tick := time.NewTicker(s.keepalive)
	defer tick.Stop()
	for {
		select {
		case e, ok := <-sub.C():
			if !ok {
				if slot.wasReplaced() {
					writeReplaced(w)
					_ = rc.Flush()
				}
				return
			}
			if e.Seq <= seen || (e.PaymentID != "" && e.PaymentID != id) {
				continue
			}
			e.At = e.At.UTC()
			e.Deadline = e.Deadline.UTC()
			data, err := json.Marshal(e)
			if err != nil {
				continue
			}
			writeSSE(w, seqID(e.Seq), e.Type.String(), data)
		case <-tick.C:
			_, _ = io.WriteString(w, ": keepalive\n\n")
		case <-r.Context().Done():
			return
		case <-s.drained:
			return
		case <-slot.replaced:
			writeReplaced(w)
			_ = rc.Flush()
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// writeReplaced ends a stream a newer one replaced. The status line is
// sent if it was not yet: a client reads the event either way.
func writeReplaced(w http.ResponseWriter) {
	h := w.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
	}
	writeSSE(w, "", "replaced", []byte(`{"reason":"replaced"}`))
}

func seqID(seq uint64) string { return strconv.FormatUint(seq, 10) }

// writeSSE writes one event. data is one line of JSON (json.Marshal
// escapes newlines inside strings).
func writeSSE(w io.Writer, id, event string, data []byte) {
	if id != "" {
		_, _ = io.WriteString(w, "id: "+id+"\n")
	}
	_, _ = io.WriteString(w, "event: "+event+"\ndata: ")
	_, _ = w.Write(data)
	_, _ = io.WriteString(w, "\n\n")
}

// lastEventID reads the Last-Event-ID header, or ?last_event_id=.
func lastEventID(r *http.Request) (uint64, bool, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("last_event_id")
	}
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false, errorf(http.StatusBadRequest, "invalid_last_event_id", "Last-Event-ID is an event's id: a decimal number")
	}
	return n, true, nil
}

// storedEvents returns, with several nodes, the call's events after last
// that the store keeps (package cluster's event log): what a stream missed
// when the call's node died.
func (s *Server) storedEvents(ctx context.Context, callID string, last uint64) []store.EventRow {
	if s.cluster == nil || !s.cluster.Enabled() || s.store == nil || callID == "" {
		return nil
	}
	rows, err := s.store.EventsAfter(ctx, callID, last, replayLimit)
	if err != nil {
		s.log.Warn("cluster: stored events not read", "err", err)
		return nil
	}
	return rows
}

// replayLimit bounds the stored events one resumed stream replays.
const replayLimit = 1024

package api

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"dtmfgw/call"
)

// sseMsg is one message of an event stream: an event, or a comment.
type sseMsg struct {
	id, event, data, comment string
}

// stream is an open event stream read on a goroutine of its own.
type stream struct {
	t    testing.TB
	resp *http.Response
	msgs chan sseMsg
}

// openStream opens the payment's event stream with hdr (name, value...).
func (e *testEnv) openStream(path, auth string, hdr ...string) *stream {
	e.t.Helper()
	req, err := http.NewRequest("GET", e.ts.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		e.t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &stream{t: e.t, resp: resp, msgs: make(chan sseMsg, 4096)}
	e.t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(s.msgs)
		sc := bufio.NewScanner(resp.Body)
		var m sseMsg
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if m != (sseMsg{}) {
					s.msgs <- m
				}
				m = sseMsg{}
			case strings.HasPrefix(line, ":"):
				m.comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "id: "):
				m.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				m.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				m.data = line[6:]
			}
		}
		e.mu.Lock()
		e.exchanges = append(e.exchanges, exchange{method: "GET", path: path, status: 200, header: resp.Header})
		e.mu.Unlock()
	}()
	return s
}

// next returns the next message, skipping keepalives unless keep.
func (s *stream) next(keep bool) (sseMsg, bool) {
	s.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				return sseMsg{}, false
			}
			if m.comment != "" && !keep {
				continue
			}
			return m, true
		case <-deadline:
			s.t.Fatal("no event in 5 s")
		}
	}
}

func (s *stream) mustNext() sseMsg {
	s.t.Helper()
	m, ok := s.next(false)
	if !ok {
		s.t.Fatal("stream ended")
	}
	return m
}

// until reads events until one of type typ, returning all read.
func (s *stream) until(typ string) []sseMsg {
	s.t.Helper()
	var out []sseMsg
	for range 1000 {
		m := s.mustNext()
		out = append(out, m)
		if m.event == typ {
			return out
		}
	}
	s.t.Fatalf("no %s event", typ)
	return nil
}

func TestEventsSnapshotOrderResume(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	c := e.newCall(call.Correlation{})
	cr := e.create(c, "")
	id, tok := cr.Payment.ID, cr.FormToken
	path := "/v1/payments/" + id + "/events"

	s := e.openStream(path+"?access_token="+tok, "")
	snap := s.mustNext()
	var v viewJSON
	mustDecode(t, []byte(snap.data), &v)
	if snap.event != "snapshot" || v.ID != id || v.State != "created" {
		t.Fatalf("first message %+v", snap)
	}
	snapSeq, _ := strconv.ParseUint(snap.id, 10, 64)
	if snapSeq == 0 || snapSeq != e.ps.Set(c.ID()).Events().LastSeq() {
		t.Errorf("snapshot id %q, bus at %d", snap.id, e.ps.Set(c.ID()).Events().LastSeq())
	}
	e.must(200, "POST", "/v1/payments/"+id+"/fields/card_number/arm", tok, "", nil)
	e.press(c, "4242424242424242")
	got := s.until("field_complete")
	prev := snapSeq
	lengths := 0
	for _, m := range got {
		seq, err := strconv.ParseUint(m.id, 10, 64)
		if err != nil || seq != prev+1 {
			t.Fatalf("event ids: %q after %d", m.id, prev)
		}
		prev = seq
		var ev struct {
			Seq       uint64 `json:"seq"`
			Type      string `json:"type"`
			PaymentID string `json:"payment_id"`
			Length    int    `json:"length"`
		}
		mustDecode(t, []byte(m.data), &ev)
		if ev.Seq != seq || ev.Type != m.event || ev.PaymentID != id {
			t.Errorf("event %+v as %+v", ev, m)
		}
		if m.event == "field_length" {
			lengths++
			if ev.Length != lengths {
				t.Errorf("length %d, want %d", ev.Length, lengths)
			}
		}
	}
	if lengths != 16 {
		t.Errorf("%d length events, want 16", lengths)
	}

	// Resume from the middle: exactly the events after it.
	mid := got[len(got)/2]
	r := e.openStream(path, testKey, "Last-Event-ID", mid.id)
	for _, want := range got[len(got)/2+1:] {
		m := r.mustNext()
		if m != want {
			t.Fatalf("replayed %+v, want %+v", m, want)
		}
	}
	// Both streams are counted for the metrics (the handler counts a
	// stream before its first byte, so having read from it proves it).
	if n := e.srv.Streams(); n != 2 {
		t.Errorf("%d streams counted, want 2", n)
	}
	// ... then the live ones, on both streams alike.
	e.press(c, "1230")
	a, b := s.until("field_complete"), r.until("field_complete")
	if len(a) == 0 || len(a) != len(b) || a[0] != b[0] || a[len(a)-1] != b[len(b)-1] {
		t.Errorf("live: %v vs %v", a, b)
	}

	// The end of the call ends the streams, after the cancellation.
	e.endCall(c)
	for _, st := range []*stream{s, r} {
		cancelled := false
		for range 1000 {
			m, ok := st.next(false)
			if !ok {
				break
			}
			cancelled = cancelled || m.event == "state" && strings.Contains(m.data, `"cancelled"`)
		}
		if !cancelled {
			t.Error("the stream ended without the cancellation")
		}
	}
	// A stream's handler returns before its client sees the end.
	if n := e.srv.Streams(); n != 0 {
		t.Errorf("%d streams counted after both ended, want 0", n)
	}
	// An ended call's payment: a snapshot from the store, and the end.
	s = e.openStream(path, tok)
	if m := s.mustNext(); m.event != "snapshot" || !strings.Contains(m.data, `"state":"cancelled"`) {
		t.Errorf("after the call %+v", m)
	}
	if m, ok := s.next(false); ok {
		t.Errorf("more after the snapshot: %+v", m)
	}
}

func TestEventsResetWhenTooOld(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	c := e.newCall(call.Correlation{})
	cr := e.create(c, "")
	p := e.ps.Payment(cr.Payment.ID)
	// The bus holds the last 256 events: push far more.
	for i := range 200 {
		if err := p.Clear([]string{"card_number", "expiry"}[i%2]); err != nil {
			t.Fatal(err)
		}
	}
	s := e.openStream("/v1/payments/"+cr.Payment.ID+"/events", cr.FormToken, "Last-Event-ID", "1")
	if m := s.mustNext(); m.event != "reset" {
		t.Fatalf("first %+v", m)
	}
	m := s.mustNext()
	if m.event != "snapshot" || m.id != strconv.FormatUint(e.ps.Set(c.ID()).Events().LastSeq(), 10) {
		t.Errorf("then %+v", m)
	}
	var v viewJSON
	mustDecode(t, []byte(m.data), &v)
	if !v.Fields[v.field("expiry")].Armed {
		t.Errorf("snapshot %+v", v)
	}
}

func TestEventsKeepaliveAndDrain(t *testing.T) {
	e := newTestEnv(t, envOptions{opts: []Option{WithKeepalive(10 * time.Millisecond)}})
	theCall := e.newCall(call.Correlation{})
	cr := e.create(theCall, "")
	s := e.openStream("/v1/payments/"+cr.Payment.ID+"/events", cr.FormToken)
	if m := s.mustNext(); m.event != "snapshot" {
		t.Fatalf("first %+v", m)
	}
	m, ok := s.next(true)
	if !ok || m.comment != "keepalive" || m.event != "" {
		t.Fatalf("keepalive %+v %v", m, ok)
	}
	e.srv.Drain()
	for range 1000 {
		if _, ok := s.next(true); !ok {
			break
		}
	}
	// Draining: reads go on, changes are refused.
	e.must(200, "GET", "/v1/payments/"+cr.Payment.ID, cr.FormToken, "", nil)
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/v1/payments", `{"call_id":"` + theCall.ID() + `"}`},
		{"POST", "/v1/payments/" + cr.Payment.ID + "/end", ""},
	} {
		code, b, _ := e.req(c.method, c.path, testKey, c.body)
		if code != 503 || errorCode(t, b) != "draining" {
			t.Errorf("%s %s while draining: %d %s", c.method, c.path, code, b)
		}
	}
}

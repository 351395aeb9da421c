package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"dtmfgw/session"
)

// fakeAPI is the part of the API contract (issue 6) the agent form uses,
// over a real session.Payments: enough to drive the form in a browser
// before the real server is merged. Tokens are "tok-" and the payment id.
type fakeAPI struct {
	payments *session.Payments
	set      *session.PaymentSet
	call     *formCall
	mux      *http.ServeMux

	mu      sync.Mutex
	pending map[string]session.Attributes // payments waiting for a configuration
}

func newFakeAPI(payments *session.Payments, set *session.PaymentSet, call *formCall) *fakeAPI {
	f := &fakeAPI{payments: payments, set: set, call: call, mux: http.NewServeMux(), pending: make(map[string]session.Attributes)}
	f.mux.HandleFunc("GET /v1/payments/{id}", f.get)
	f.mux.HandleFunc("PATCH /v1/payments/{id}", f.patch)
	f.mux.HandleFunc("PUT /v1/payments/{id}/configuration", f.choose)
	f.mux.HandleFunc("POST /v1/payments/{id}/fields/{field}/arm", f.action)
	f.mux.HandleFunc("POST /v1/payments/{id}/fields/{field}/clear", f.action)
	f.mux.HandleFunc("POST /v1/payments/{id}/process", f.action)
	f.mux.HandleFunc("POST /v1/payments/{id}/end", f.action)
	f.mux.HandleFunc("POST /v1/payments/{id}/another", f.another)
	f.mux.HandleFunc("GET /v1/payments/{id}/events", f.events)
	f.mux.Handle("/form/", formHandler())
	return f
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.mux.ServeHTTP(w, r) }

// newPayment starts a payment (config "" leaves it to the form's picker)
// and returns its id and form token.
func (f *fakeAPI) newPayment(config string, attrs session.Attributes) (string, string, error) {
	if config == "" {
		id := fmt.Sprintf("pick%d", time.Now().UnixNano())
		f.mu.Lock()
		f.pending[id] = attrs
		f.mu.Unlock()
		return id, "tok-" + id, nil
	}
	p, err := f.set.New(config, attrs)
	if err != nil {
		return "", "", err
	}
	return p.ID(), "tok-" + p.ID(), nil
}

func (f *fakeAPI) authorized(r *http.Request, id string) bool {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if strings.HasSuffix(r.URL.Path, "/events") {
		tok = r.URL.Query().Get("access_token")
	}
	return tok == "tok-"+id
}

type fakeView struct {
	session.PaymentView
	Call           map[string]any          `json:"call"`
	WebSessionID   string                  `json:"web_session_id"`
	Configurations []session.PaymentConfig `json:"configurations,omitempty"`
}

func (f *fakeAPI) view(id string) (any, bool) {
	call := map[string]any{
		"id": f.call.ID(), "primary_call_id": "pc-1", "secondary_call_id": "out-1@gw.example",
		"inbound_call_id": "in-1@carrier.example", "caller_number": "+441234567890",
		"called_number": "+442071234567", "started": "2026-01-02T03:04:05Z", "secure": f.call.Secure(),
	}
	f.mu.Lock()
	attrs, pending := f.pending[id]
	f.mu.Unlock()
	if pending {
		return fakeView{
			PaymentView:    session.PaymentView{ID: id, CallID: f.call.ID(), State: session.StateCreated, Attributes: attrs, Fields: []session.FieldView{}},
			Call:           call,
			WebSessionID:   id,
			Configurations: f.payments.Configs(),
		}, true
	}
	p := f.payments.Payment(id)
	if p == nil {
		return nil, false
	}
	return fakeView{PaymentView: p.View(), Call: call, WebSessionID: id}, true
}

func fakeError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": "fake: " + code}})
}

func (f *fakeAPI) answer(w http.ResponseWriter, id string, status int) {
	v, ok := f.view(id)
	if !ok {
		fakeError(w, 404, "payment_not_found")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeAPI) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !f.authorized(r, id) {
		fakeError(w, 401, "unauthorized")
		return
	}
	f.answer(w, id, 200)
}

func (f *fakeAPI) patch(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p := f.payments.Payment(id)
	if !f.authorized(r, id) || p == nil {
		fakeError(w, 404, "payment_not_found")
		return
	}
	var body map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		fakeError(w, 400, "invalid_json")
		return
	}
	a := p.Attributes()
	for k, v := range body {
		var err error
		switch k {
		case "amount":
			err = json.Unmarshal(v, &a.Amount)
		case "currency":
			err = json.Unmarshal(v, &a.Currency)
		case "reference":
			err = json.Unmarshal(v, &a.Reference)
		case "cardholder_name":
			err = json.Unmarshal(v, &a.CardholderName)
		default:
			err = fmt.Errorf("unknown field")
		}
		if err != nil {
			fakeError(w, 400, "bad_request")
			return
		}
	}
	if err := p.SetAttributes(a); err != nil {
		fakeError(w, 400, "invalid_attributes")
		return
	}
	f.answer(w, id, 200)
}

func (f *fakeAPI) choose(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	attrs, ok := f.pending[id]
	f.mu.Unlock()
	if !f.authorized(r, id) || !ok {
		fakeError(w, 409, "invalid_state")
		return
	}
	var body struct {
		Configuration string `json:"configuration"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		fakeError(w, 400, "invalid_json")
		return
	}
	if _, err := f.set.NewWithID(id, body.Configuration, attrs); err != nil {
		fakeError(w, 404, "configuration_not_found")
		return
	}
	f.mu.Lock()
	delete(f.pending, id)
	f.mu.Unlock()
	f.answer(w, id, 200)
}

func (f *fakeAPI) action(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p := f.payments.Payment(id)
	if !f.authorized(r, id) || p == nil {
		fakeError(w, 404, "payment_not_found")
		return
	}
	var err error
	switch path := r.URL.Path; {
	case strings.HasSuffix(path, "/arm"):
		err = p.Arm(r.PathValue("field"))
	case strings.HasSuffix(path, "/clear"):
		err = p.Clear(r.PathValue("field"))
	case strings.HasSuffix(path, "/process"):
		_, err = p.Process(r.Context())
	case strings.HasSuffix(path, "/end"):
		err = p.End()
	}
	if err != nil {
		fakeError(w, 409, "invalid_state")
		return
	}
	f.answer(w, id, 200)
}

func (f *fakeAPI) another(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p := f.payments.Payment(id)
	if !f.authorized(r, id) || p == nil || !p.State().Final() {
		fakeError(w, 409, "invalid_state")
		return
	}
	a := p.Attributes()
	a.Amount = 0
	np, err := f.set.New(p.Config().ID, a)
	if err != nil {
		fakeError(w, 409, "payment_active")
		return
	}
	v, _ := f.view(np.ID())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(201)
	_ = json.NewEncoder(w).Encode(map[string]any{"payment": v, "form_token": "tok-" + np.ID(), "form_url": "/form/" + np.ID() + "#token=tok-" + np.ID()})
}

// events is the contract's SSE stream: a snapshot first (id: the bus's
// last seq), then every event after it, until the bus closes.
func (f *fakeAPI) events(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !f.authorized(r, id) {
		fakeError(w, 401, "unauthorized")
		return
	}
	bus := f.set.Events()
	sub, err := bus.Subscribe(0)
	if err != nil {
		fakeError(w, 404, "payment_not_found")
		return
	}
	defer sub.Close()
	seq := bus.LastSeq()
	v, ok := f.view(id)
	if !ok {
		fakeError(w, 404, "payment_not_found")
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	fl := w.(http.Flusher)
	send := func(id uint64, typ string, data any) {
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", id, typ, b)
		fl.Flush()
	}
	send(seq, "snapshot", v)
	for {
		select {
		case e, ok := <-sub.C():
			if !ok {
				return
			}
			if e.Seq > seq {
				send(e.Seq, e.Type.String(), e)
			}
		case <-r.Context().Done():
			return
		}
	}
}

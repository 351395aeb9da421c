package sms

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// fakeTwilio is a local stand-in for Twilio's Messages resource. It checks
// every request the way Twilio would see it (method, path with the
// account SID, content type, Basic auth, the form fields, the body's
// size), records it, and answers from a script: the next scripted answer,
// or a 201 with a fresh message sid when the script is empty.
//
// A request that breaks the API's shape fails the test (t.Errorf) and is
// answered as Twilio would (404, 405, 400). Wrong credentials are not a
// test failure: they are answered 401 with Twilio's code 20003.
//
// The same handler serves over a loopback httptest.Server (start) and in
// process (client): the latter needs no socket, so a test can run it
// inside a testing/synctest bubble, where the Sender's backoff and the
// client's timeout pass on the bubble's clock.
type fakeTwilio struct {
	t          *testing.T
	accountSID string
	user       string // the Basic auth user it accepts
	password   string

	mu     sync.Mutex
	script []fakeAnswer
	got    []fakeRequest
	sids   int
}

// fakeAnswer is one scripted answer.
type fakeAnswer struct {
	status int
	// code and message make a Twilio error object (when code != 0).
	code    int
	message string
	// raw, when set, is sent as the body instead, as text/html.
	raw string
	// sid replaces the generated message sid of a 2xx.
	sid string
	// hang holds the request until the client gives up.
	hang bool
	// cut declares a longer raw body than is sent, so that the client's
	// read of the answer fails.
	cut bool
}

// fakeRequest is what the fake recorded of a request.
type fakeRequest struct {
	At                  time.Time
	User                string
	To, Body, From      string
	MessagingServiceSid string
	Form                url.Values
}

const (
	testAccountSID = "AC0123456789abcdef0123456789abcdef"
	testAuthToken  = "auth-token-f00dfeed-never-printed"
	testAPIKeySID  = "SK0123456789abcdef0123456789abcdef"
	testServiceSID = "MG0123456789abcdef0123456789abcdef"
	testFrom       = "+447700900000"
	// maxFormBody is what the fake accepts: a 1600-character body of
	// 4-byte characters, percent-encoded, is under 20 KiB.
	maxFormBody = 32 << 10
)

func newFakeTwilio(t *testing.T) *fakeTwilio {
	return &fakeTwilio{t: t, accountSID: testAccountSID, user: testAccountSID, password: testAuthToken}
}

// push appends answers to the script.
func (f *fakeTwilio) push(a ...fakeAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, a...)
}

// requests returns what the fake got so far.
func (f *fakeTwilio) requests() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.got...)
}

// start serves the fake on a loopback port and returns its base URL.
func (f *fakeTwilio) start() string {
	srv := httptest.NewServer(f)
	f.t.Cleanup(srv.Close)
	return srv.URL
}

// client returns a client that hands its requests to the fake in
// process, for tests inside a synctest bubble (base URL fakeBase).
func (f *fakeTwilio) client() *http.Client {
	return &http.Client{Transport: inProcess{f}}
}

// fakeBase is the base URL of the in-process fake.
const fakeBase = "http://127.0.0.1:1"

// config returns a Twilio configuration for the fake at base.
func (f *fakeTwilio) config(base string) TwilioConfig {
	return TwilioConfig{BaseURL: base, AccountSID: f.accountSID, AuthToken: Secret(f.password), From: testFrom}
}

// inProcess is an http.RoundTripper that serves a request with a handler
// in the calling goroutine, as a server would receive it.
type inProcess struct{ h http.Handler }

func (p inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	sreq := httptest.NewRequestWithContext(req.Context(), req.Method, req.URL.String(), req.Body)
	sreq.Header = req.Header.Clone()
	sreq.ContentLength = req.ContentLength
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, sreq)
	// A client that gave up does not read an answer written after.
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}

func (f *fakeTwilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	wantPath := "/2010-04-01/Accounts/" + f.accountSID + "/Messages.json"
	if r.URL.Path != wantPath {
		f.t.Errorf("fake twilio: path %q, want %q", r.URL.Path, wantPath)
		twilioErrorAnswer(w, http.StatusNotFound, 20404, "The requested resource was not found")
		return
	}
	if r.Method != http.MethodPost {
		f.t.Errorf("fake twilio: method %s, want POST", r.Method)
		twilioErrorAnswer(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		return
	}
	user, password, ok := r.BasicAuth()
	if !ok {
		f.t.Errorf("fake twilio: no Basic auth")
	}
	if !ok || user != f.user || password != f.password {
		twilioErrorAnswer(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || ct != "application/x-www-form-urlencoded" {
		f.t.Errorf("fake twilio: Content-Type %q", r.Header.Get("Content-Type"))
	}
	if r.ContentLength < 0 || r.ContentLength > maxFormBody {
		f.t.Errorf("fake twilio: Content-Length %d, want 0..%d", r.ContentLength, maxFormBody)
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxFormBody+1))
	if err != nil || len(raw) > maxFormBody || int64(len(raw)) != r.ContentLength {
		f.t.Errorf("fake twilio: body of %d bytes (Content-Length %d), read error %v", len(raw), r.ContentLength, err)
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		f.t.Errorf("fake twilio: the body is not a form: %v", err)
	}
	rec := fakeRequest{At: time.Now(), User: user, To: form.Get("To"), Body: form.Get("Body"),
		From: form.Get("From"), MessagingServiceSid: form.Get("MessagingServiceSid"), Form: form}
	for k, v := range form {
		if len(v) != 1 {
			f.t.Errorf("fake twilio: field %s given %d times", k, len(v))
		}
		switch k {
		case "To", "Body", "From", "MessagingServiceSid":
		default:
			f.t.Errorf("fake twilio: unexpected field %s", k)
		}
	}
	switch {
	case !ValidE164(rec.To):
		f.t.Errorf("fake twilio: To is not E.164")
	case rec.Body == "":
		f.t.Errorf("fake twilio: no Body")
	case rec.From == "" && rec.MessagingServiceSid == "":
		f.t.Errorf("fake twilio: neither From nor MessagingServiceSid")
	}

	f.mu.Lock()
	f.got = append(f.got, rec)
	a := fakeAnswer{status: http.StatusCreated}
	if len(f.script) > 0 {
		a, f.script = f.script[0], f.script[1:]
	}
	f.sids++
	sid := fmt.Sprintf("SM%032x", f.sids)
	f.mu.Unlock()

	switch {
	case a.hang:
		<-r.Context().Done()
	case a.raw != "":
		w.Header().Set("Content-Type", "text/html")
		if a.cut {
			w.Header().Set("Content-Length", fmt.Sprint(len(a.raw)+100))
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.raw)
	case a.code != 0:
		twilioErrorAnswer(w, a.status, a.code, a.message)
	default:
		if a.sid != "" {
			sid = a.sid
		}
		writeJSON(w, a.status, map[string]any{
			"sid": sid, "account_sid": f.accountSID, "to": rec.To, "from": rec.From,
			"messaging_service_sid": nilIfEmpty(rec.MessagingServiceSid), "body": rec.Body,
			"status": "queued", "direction": "outbound-api", "api_version": "2010-04-01",
			"num_segments": "1", "error_code": nil, "error_message": nil,
			"uri": "/2010-04-01/Accounts/" + f.accountSID + "/Messages/" + sid + ".json",
		})
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// twilioErrorAnswer writes Twilio's error object.
func twilioErrorAnswer(w http.ResponseWriter, status, code int, message string) {
	writeJSON(w, status, map[string]any{
		"code": code, "message": message, "status": status,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

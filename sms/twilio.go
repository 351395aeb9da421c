package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"dtmfgw/internal/outbound"
)

// Twilio sends SMS through Twilio's Programmable Messaging REST API: one
// request per message,
//
//	POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json
//	Authorization: Basic {AccountSid or API key SID}:{auth token or key secret}
//	Content-Type: application/x-www-form-urlencoded
//
//	To=+447700900123&Body=…&From=+447700900000   (and/or MessagingServiceSid=MG…)
//
// answered 201 with the Message resource as JSON ({"sid": "SM…",
// "status": "queued", …}), or with an error object ({"code": 21211,
// "message": "…", "more_info": "…", "status": 400}). 429 and 5xx
// answers, timeouts and connection failures are transient; every other
// answer is permanent. Twilio has no idempotency key for this request, so
// a retry after a timeout can send the SMS twice.
//
// Only Send reads a message's Body, to put it in the request; the body
// of an answer is read up to maxTwilioAnswer bytes and only its sid,
// status, code and message are kept, cleaned (Error.Message).
type Twilio struct {
	endpoint string // the Messages.json URL
	user     string
	password string
	from     string
	service  string
	client   *http.Client
	log      *slog.Logger
}

// maxTwilioAnswer bounds how much of an answer is read: a Message
// resource is about 1 KiB; an error object less.
const maxTwilioAnswer = 64 << 10

// userAgent names us to Twilio.
const userAgent = "dtmfgw-sms/1"

// NewTwilio returns the Twilio provider of a resolved configuration. It
// takes WithHTTPClient and WithLogger.
func NewTwilio(cfg TwilioConfig, opts ...Option) (*Twilio, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	o := buildOptions(opts)
	// Twilio does not redirect this request; the credentials and the
	// text must not follow one elsewhere.
	client := outbound.Client(o.HTTPClient)
	client.Timeout = cfg.Timeout
	user := cfg.AccountSID
	if cfg.APIKeySID != "" {
		user = cfg.APIKeySID
	}
	return &Twilio{
		endpoint: trimSlash(cfg.BaseURL) + "/2010-04-01/Accounts/" + cfg.AccountSID + "/Messages.json",
		user:     user,
		password: string(cfg.AuthToken),
		from:     cfg.From,
		service:  cfg.MessagingServiceSID,
		client:   client,
		log:      o.Log,
	}, nil
}

// Name implements Provider: "twilio".
func (t *Twilio) Name() string { return TwilioName }

// Send implements Provider.
func (t *Twilio) Send(ctx context.Context, m Message) (Receipt, error) {
	if err := m.Validate(); err != nil {
		return Receipt{}, err
	}
	form := url.Values{"To": {m.To}, "Body": {m.Body}}
	if t.from != "" {
		form.Set("From", t.from)
	}
	if t.service != "" {
		form.Set("MessagingServiceSid", t.service)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		// The endpoint was validated: only a broken context gets here.
		return Receipt{}, &Error{Provider: TwilioName, Code: CodeNetwork, Message: "the request could not be made", Transient: true, cause: err}
	}
	req.SetBasicAuth(t.user, t.password)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)

	start := time.Now()
	resp, err := t.client.Do(req)
	if err != nil {
		e := transportError(err)
		t.logSend(m, 0, "", e, start)
		return Receipt{}, e
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTwilioAnswer+1))
	if err != nil {
		e := transportError(err)
		e.Status = resp.StatusCode
		if resp.StatusCode/100 == 2 {
			// Twilio took the message: trying again would send it twice.
			e.Code, e.Message, e.Transient = CodeBadResponse, "the answer was cut off; the message may have been sent", false
		}
		t.logSend(m, resp.StatusCode, "", e, start)
		return Receipt{}, e
	}
	rc, err := parseTwilioAnswer(resp.StatusCode, body, m)
	t.logSend(m, resp.StatusCode, rc.ProviderID, err, start)
	return rc, err
}

func (t *Twilio) logSend(m Message, status int, sid string, err error, start time.Time) {
	attrs := []any{"message_id", m.ID, "payment_id", m.PaymentID, "http_status", status,
		"duration", time.Since(start)}
	// Debug: the Sender logs each attempt's outcome.
	if err != nil {
		t.log.Debug("sms: twilio refused or failed", append(attrs, "error", err.Error())...)
		return
	}
	t.log.Debug("sms: twilio took the message", append(attrs, "sid", sid)...)
}

// transportError classifies a failure to get an answer: a timeout or a
// connection failure, transient either way. The message is ours: the
// transport's text quotes the URL.
func transportError(err error) *Error {
	e := &Error{Provider: TwilioName, Code: CodeNetwork, Message: "the connection to Twilio failed", Transient: true, cause: err}
	var ne interface{ Timeout() bool }
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		e.Code, e.Message = CodeTimeout, "no answer from Twilio before the deadline"
	} else if errors.Is(err, context.Canceled) {
		e.Message = "the request was cancelled"
	}
	return e
}

// twilioMessage is what is read of a Message resource.
type twilioMessage struct {
	SID    string `json:"sid"`
	Status string `json:"status"`
}

// twilioError is what is read of Twilio's error object (which also has
// "more_info", a link to the code's page, and "status", the HTTP
// status). Code is a number in Twilio's answers; json.Number takes a
// string too, as a proxy might send.
type twilioError struct {
	Code    json.Number `json:"code"`
	Message string      `json:"message"`
}

// parseTwilioAnswer reads an answer to a message create: a Receipt for a
// 2xx with a message sid, else an *Error. m is the message sent, so that
// a provider's message quoting its text is withheld.
func parseTwilioAnswer(status int, body []byte, m Message) (Receipt, error) {
	fail := func(code, msg string, transient bool) (Receipt, error) {
		return Receipt{}, &Error{Provider: TwilioName, Status: status, Code: code, Message: msg, Transient: transient}
	}
	if len(body) > maxTwilioAnswer {
		return fail(CodeBadResponse, fmt.Sprintf("the answer is larger than %d bytes", maxTwilioAnswer), retryable(status))
	}
	if status/100 == 2 {
		var tm twilioMessage
		if err := json.Unmarshal(body, &tm); err != nil {
			return fail(CodeBadResponse, "the answer is not a JSON Message resource; the message may have been sent", false)
		}
		if !twilioMessageSID(tm.SID) {
			return fail(CodeBadResponse, "the answer has no message sid; the message may have been sent", false)
		}
		return Receipt{ProviderID: tm.SID, Status: statusWord(tm.Status)}, nil
	}
	transient := retryable(status)
	var te twilioError
	if err := json.Unmarshal(body, &te); err != nil || te.Code == "" && te.Message == "" {
		return fail("", fmt.Sprintf("HTTP %d without a Twilio error object", status), transient)
	}
	code := cleanCode(te.Code.String())
	// Twilio's own code for too many requests is transient whatever the
	// HTTP status a proxy gave it.
	if code == "20429" {
		transient = true
	}
	return fail(code, providerMessage(te.Message, m, "no message"), transient)
}

// retryable reports whether an HTTP status is worth another try: 429 and
// 5xx.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500 && status <= 599
}

// twilioMessageSID accepts a Message resource's sid: "SM" or "MM" and 32
// hex digits.
func twilioMessageSID(s string) bool { return twilioSID(s, "SM") || twilioSID(s, "MM") }

// statusWord keeps a Message status if it is a short lowercase word
// ("queued", "accepted"), else "".
func statusWord(s string) string {
	if s == "" || len(s) > 32 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return ""
		}
	}
	return s
}

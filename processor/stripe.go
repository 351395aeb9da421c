package processor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v85"

	"dtmfgw/internal/outbound"
)

// Stripe charges cards through the Stripe API with its official Go
// client (stripe-go), in two requests per charge:
//
//  1. POST /v1/payment_methods creates a card PaymentMethod from the raw
//     card details (an account must be allowed to send raw card data;
//     stripe-mock accepts it). This is the only request that carries card
//     data; its form body is built in a byte slice of ours, sent through
//     the client's Backend.CallRaw, and zeroed once net/http has let go of
//     it, so no card field ever becomes a Go string.
//  2. POST /v1/payment_intents with confirm=true charges that
//     PaymentMethod. Its metadata carries the idempotency key
//     (MetadataIdempotencyKey) so that Reconcile can find it.
//
// A card saved instead (Request.Tokenize) takes, after step 1, a Customer
// (its metadata carries the key) and a SetupIntent with confirm=true and
// usage=off_session, which attaches the PaymentMethod to the Customer
// for later charges: its id is Result.Token, the SetupIntent's the
// Reference (https://docs.stripe.com/payments/save-and-reuse).
//
// Each request carries an Idempotency-Key header derived from the
// Request's key (key+":pm", key+":pi", key+":cus", key+":si"), so a retry,
// ours or the client's, replays Stripe's first answer instead of charging
// (or saving) again. A deadline or a
// lost answer during step 2 is Unknown; during step 1 it is Failed, since
// a PaymentMethod alone charges nothing.
//
// Reconcile retrieves the PaymentIntent (or SetupIntent) by id when this
// process saw it created, and otherwise searches PaymentIntents by the
// metadata key, then Customers (for a card saved) and their SetupIntents.
// Stripe's search is eventually consistent (normally under a minute), so
// a fresh charge can be ErrNotFound for a while.
//
// The client's own logging is off: its error and debug lines can hold
// response bodies (expiry dates in a PaymentMethod, anything a proxy
// echoes). The adapter logs one line per call with safe fields.
type Stripe struct {
	name    string
	key     string
	timeout time.Duration
	moto    bool
	log     *slog.Logger
	api     stripe.Backend
	client  *stripe.Client
	// bodyZeroed, a test hook, sees the card request body after zeroing.
	bodyZeroed func([]byte)

	mu      sync.Mutex
	intents map[string]string // idempotency key → PaymentIntent id
	order   []string          // keys of intents, oldest first
}

// MetadataIdempotencyKey is the PaymentIntent metadata key under which
// the adapter stores the charge's idempotency key, for Reconcile.
const MetadataIdempotencyKey = "dtmfgw_idempotency_key"

// MetadataReference is the PaymentIntent metadata key of
// Request.Reference.
const MetadataReference = "dtmfgw_reference"

// maxKnownIntents bounds the adapter's memory of PaymentIntent ids; older
// charges are reconciled by search.
const maxKnownIntents = 10_000

// bodyReleaseWait bounds how long the adapter waits for net/http to close
// the card request's body before it zeroes the bytes anyway (by then the
// request is over: a transport still holding the reader can only send
// zeros into a dead connection).
const bodyReleaseWait = 5 * time.Second

func newStripe(name string, cfg Config, o options) (*Stripe, error) {
	key, err := cfg.apiKey()
	if err != nil {
		return nil, fmt.Errorf("%w: processors.%s.%w", ErrConfig, name, err)
	}
	// Stripe never redirects; card data must not follow one elsewhere.
	hc := outbound.Client(o.HTTPClient)
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	hc.Transport = watchingTransport{next: next}

	bc := &stripe.BackendConfig{
		HTTPClient:    hc,
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
	}
	if cfg.BaseURL != "" {
		bc.URL = stripe.String(strings.TrimSuffix(cfg.BaseURL, "/"))
	}
	if o.maxRetries != nil {
		bc.MaxNetworkRetries = o.maxRetries
	}
	backends := stripe.NewBackendsWithConfig(bc)
	if o.noRetrySleep {
		if bi, ok := backends.API.(*stripe.BackendImplementation); ok {
			bi.SetNetworkRetriesSleep(false)
		}
	}
	return &Stripe{
		name:       name,
		key:        key,
		timeout:    cfg.Timeout,
		moto:       cfg.MOTO,
		log:        o.Log,
		api:        backends.API,
		client:     stripe.NewClient(key, stripe.WithBackends(backends)),
		bodyZeroed: o.bodyZeroed,
		intents:    make(map[string]string),
	}, nil
}

// Name implements Processor.
func (s *Stripe) Name() string { return s.name }

// Stages of a charge, for errors and logs.
const (
	stagePaymentMethod = "payment_method"
	stagePaymentIntent = "payment_intent"
	stageCustomer      = "customer"
	stageSetupIntent   = "setup_intent"
	stageReconcile     = "reconcile"
)

// Charge implements Processor.
func (s *Stripe) Charge(ctx context.Context, req *Request) (Result, error) {
	if err := req.Validate(); err != nil {
		return Result{Status: Failed, Message: "invalid request; nothing was charged"}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()

	pmID, err := s.createPaymentMethod(ctx, req)
	if err != nil {
		res, err := s.errorResult(ctx, stagePaymentMethod, err)
		s.logCharge(req.IdempotencyKey, stagePaymentMethod, res, err, start)
		return res, err
	}
	if req.Tokenize {
		return s.save(ctx, req, pmID, start)
	}

	params := &stripe.PaymentIntentCreateParams{
		Amount:             stripe.Int64(req.Amount),
		Currency:           stripe.String(strings.ToLower(req.Currency)),
		PaymentMethod:      stripe.String(pmID),
		PaymentMethodTypes: stripe.StringSlice([]string{"card"}),
		Confirm:            stripe.Bool(true),
	}
	if req.Reference != "" {
		params.Description = stripe.String(req.Reference)
		params.AddMetadata(MetadataReference, req.Reference)
	}
	params.AddMetadata(MetadataIdempotencyKey, req.IdempotencyKey)
	if s.moto {
		params.PaymentMethodOptions = &stripe.PaymentIntentCreatePaymentMethodOptionsParams{
			Card: &stripe.PaymentIntentCreatePaymentMethodOptionsCardParams{MOTO: stripe.Bool(true)},
		}
	}
	params.SetIdempotencyKey(req.IdempotencyKey + ":pi")
	pi, err := s.client.V1PaymentIntents.Create(ctx, params)
	return s.finish(ctx, req.IdempotencyKey, stagePaymentIntent, start, err, func() Result { return intentResult(pi) })
}

// finish reads the answer to a charge's last request (read, or err),
// remembers the processor's id for Reconcile, and logs the call.
func (s *Stripe) finish(ctx context.Context, key, stage string, start time.Time, err error, read func() Result) (Result, error) {
	var res Result
	if err != nil {
		res, err = s.errorResult(ctx, stage, err)
	} else {
		res = read()
	}
	if res.Reference != "" {
		s.remember(key, res.Reference)
	}
	s.logCharge(key, stage, res, err, start)
	return res, err
}

// createPaymentMethod sends the card to Stripe and returns the
// PaymentMethod's id.
func (s *Stripe) createPaymentMethod(ctx context.Context, req *Request) (string, error) {
	body := paymentMethodBody(req)
	watch := &bodyWatch{}
	params := &stripe.Params{Context: context.WithValue(ctx, bodyWatchKey{}, watch)}
	params.SetIdempotencyKey(req.IdempotencyKey + ":pm")
	var pm paymentMethodID
	err := s.api.CallRaw(http.MethodPost, "/v1/payment_methods", s.key, body, params, &pm)
	if !watch.released(bodyReleaseWait) {
		s.log.Warn("processor: the card request body was not released in time; zeroing it anyway",
			"processor", s.name, "idempotency_key", req.IdempotencyKey)
	}
	clear(body)
	if s.bodyZeroed != nil {
		s.bodyZeroed(body[:cap(body)])
	}
	if err != nil {
		return "", err
	}
	id := safeID(pm.ID)
	if id == "" {
		return "", fmt.Errorf("%w: the PaymentMethod answer has no usable id", ErrTransport)
	}
	return id, nil
}

// paymentMethodBody is the form body of the PaymentMethod request, in a
// slice allocated once at its final size: growing it would leave a copy of
// the card behind in the old array, out of reach of the zeroing.
func paymentMethodBody(req *Request) []byte {
	body := make([]byte, 0, paymentMethodBodyCap(req))
	body = appendFormField(body, "type", []byte("card"))
	body = appendFormField(body, "card[number]", req.PAN)
	body = strconv.AppendInt(append(body, "&card%5Bexp_month%5D="...), int64(req.ExpMonth), 10)
	body = strconv.AppendInt(append(body, "&card%5Bexp_year%5D="...), int64(req.ExpYear), 10)
	body = appendFormField(body, "card[cvc]", req.CVC)
	if len(req.Postcode) > 0 {
		body = appendFormField(body, "billing_details[address][postal_code]", req.Postcode)
	}
	if req.CardholderName != "" {
		body = appendFormField(body, "billing_details[name]", []byte(req.CardholderName))
	}
	return body
}

// paymentMethodBodyCap bounds paymentMethodBody's length: the keys and
// separators take under 256 bytes, the two exact ints 20 each at most,
// and escaping triples a value at most.
func paymentMethodBodyCap(req *Request) int {
	return 256 + 2*20 + 3*(len(req.PAN)+len(req.CVC)+len(req.Postcode)+len(req.CardholderName))
}

// paymentMethodID decodes only the id of a PaymentMethod: the rest of
// the answer (expiry, last four) is never decoded, and its raw bytes are
// zeroed as soon as the client hands them over.
type paymentMethodID struct {
	ID string `json:"id"`
}

// SetLastResponse implements stripe.LastResponseSetter.
func (p *paymentMethodID) SetLastResponse(r *stripe.APIResponse) {
	if r != nil {
		clear(r.RawJSON)
	}
}

// appendFormField appends "&key=value" (no "&" first) to dst, the key and
// the value escaped as application/x-www-form-urlencoded.
func appendFormField(dst []byte, key string, value []byte) []byte {
	if len(dst) > 0 {
		dst = append(dst, '&')
	}
	dst = append(dst, url.QueryEscape(key)...)
	dst = append(dst, '=')
	return appendFormValue(dst, value)
}

// appendFormValue escapes value as url.QueryEscape does, without making
// a string of it.
func appendFormValue(dst, value []byte) []byte {
	const hexDigits = "0123456789ABCDEF"
	for _, c := range value {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			dst = append(dst, c)
		case c == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&0xf])
		}
	}
	return dst
}

// Reconcile implements Processor.
func (s *Stripe) Reconcile(ctx context.Context, idempotencyKey string) (Result, error) {
	if err := ValidateIdempotencyKey(idempotencyKey); err != nil {
		return Result{Status: Unknown}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	start := time.Now()

	s.mu.Lock()
	id, known := s.intents[idempotencyKey]
	s.mu.Unlock()
	var res Result
	var err error
	switch {
	case known && strings.HasPrefix(id, "seti_"):
		var si *stripe.SetupIntent
		si, err = s.client.V1SetupIntents.Retrieve(ctx, id, &stripe.SetupIntentRetrieveParams{})
		if err == nil {
			res = setupResult(si)
		}
	case known:
		var pi *stripe.PaymentIntent
		pi, err = s.client.V1PaymentIntents.Retrieve(ctx, id, nil)
		if err == nil {
			res = intentResult(pi)
		}
	default:
		res, err = s.search(ctx, idempotencyKey)
		if errors.Is(err, ErrNotFound) {
			res, err = s.searchSaved(ctx, idempotencyKey)
		}
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		res, err = s.errorResult(ctx, stageReconcile, err)
	}
	s.logCharge(idempotencyKey, stageReconcile, res, err, start)
	return res, err
}

// search finds the PaymentIntent whose metadata holds the key. The key's
// alphabet (ValidateIdempotencyKey) needs no quoting in Stripe's search
// query language.
func (s *Stripe) search(ctx context.Context, key string) (Result, error) {
	params := &stripe.PaymentIntentSearchParams{SearchParams: stripe.SearchParams{
		Query:  fmt.Sprintf("metadata['%s']:'%s'", MetadataIdempotencyKey, key),
		Limit:  stripe.Int64(10),
		Single: true,
	}}
	var best *stripe.PaymentIntent
	for pi, err := range s.client.V1PaymentIntents.Search(ctx, params).All(ctx) {
		if err != nil {
			return Result{Status: Unknown}, err
		}
		// Check the match ourselves: a search index (or a mock) may
		// answer with more than was asked.
		if pi == nil || pi.Metadata[MetadataIdempotencyKey] != key {
			continue
		}
		// One key makes one PaymentIntent; should there be more, a
		// success wins, then the newest.
		if best == nil || pi.Status == stripe.PaymentIntentStatusSucceeded ||
			best.Status != stripe.PaymentIntentStatusSucceeded && pi.Created > best.Created {
			best = pi
		}
	}
	if best == nil {
		return Result{Status: Unknown, Message: "the processor has no charge under this key (yet)"},
			fmt.Errorf("%w (processor %s; Stripe's search may lag a new charge by a minute)", ErrNotFound, s.name)
	}
	res := intentResult(best)
	if res.Reference != "" {
		s.remember(key, res.Reference)
	}
	return res, nil
}

// remember records a PaymentIntent id for Reconcile, forgetting the
// oldest beyond maxKnownIntents.
func (s *Stripe) remember(key, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.intents[key]; !ok {
		s.order = append(s.order, key)
	}
	s.intents[key] = id
	if len(s.order) > maxKnownIntents {
		n := len(s.order) - maxKnownIntents
		for _, k := range s.order[:n] {
			delete(s.intents, k)
		}
		s.order = append(s.order[:0], s.order[n:]...)
	}
}

// intentResult reads a PaymentIntent's status
// (https://docs.stripe.com/payments/paymentintents/lifecycle).
func intentResult(pi *stripe.PaymentIntent) Result {
	res := Result{Reference: safeID(pi.ID)}
	switch pi.Status {
	case stripe.PaymentIntentStatusSucceeded, stripe.PaymentIntentStatusRequiresCapture:
		// requires_capture: authorised, to be captured later (manual
		// capture); the money is held either way.
		res.Status, res.Message = Approved, msgApproved
	case stripe.PaymentIntentStatusRequiresPaymentMethod:
		// A confirmed PaymentIntent goes back to requires_payment_method
		// when the card is declined; last_payment_error says why.
		declined(&res, pi.LastPaymentError)
	case stripe.PaymentIntentStatusRequiresAction:
		// 3-D Secure or another customer action: impossible on a phone
		// payment (MOTO charges are exempt from it).
		authenticationRequired(&res)
	case stripe.PaymentIntentStatusCanceled, stripe.PaymentIntentStatusRequiresConfirmation:
		res.Status, res.Message = Failed, "the payment was not completed; nothing was charged"
	default: // processing, or a status this client does not know
		res.Status, res.Message = Unknown, "the payment is still processing; it will be reconciled"
	}
	return res
}

// declined makes res a decline, with the card error e's code and message
// when there is one.
func declined(res *Result, e *stripe.Error) {
	res.Status, res.DeclineCode, res.Message = Declined, "card_declined", "declined"
	if e != nil {
		if code := declineCode(e); code != "" {
			res.DeclineCode = code
		}
		res.Message = safeMessage(e.Msg, "declined")
	}
}

// authenticationRequired makes res the decline of a card that asks for
// its holder's authentication (3-D Secure), which a phone payment cannot
// give.
func authenticationRequired(res *Result) {
	res.Status, res.DeclineCode = Declined, "authentication_required"
	res.Message = "declined: the card requires the cardholder's authentication (3-D Secure)"
}

// declineCode is the most specific code of a card error: the issuer's
// decline code, else Stripe's error code.
func declineCode(e *stripe.Error) string {
	if c := safeToken(string(e.DeclineCode)); c != "" {
		return c
	}
	return safeToken(string(e.Code))
}

// APIError is an error answer from the processor, reduced to fields that
// are safe to log: never the processor's message or the body.
type APIError struct {
	// Processor is the processor's configured name.
	Processor string
	// Stage is the request that failed: Stripe's "payment_method",
	// "payment_intent" or "reconcile"; the HTTP connector's "charge",
	// "tokenize" or "status".
	Stage string
	// HTTPStatus is the answer's HTTP status.
	HTTPStatus int
	// Type, Code and DeclineCode are Stripe's error type
	// ("invalid_request_error"), code ("parameter_missing") and decline
	// code; Param names the offending parameter ("card[exp_month]"). The
	// HTTP connector fills Code with the answer's error_code.
	Type, Code, DeclineCode, Param string
	// RequestID is the processor's request id, for its support.
	RequestID string

	kind error
}

// Error implements error.
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "processor %s: %s: HTTP %d", e.Processor, e.Stage, e.HTTPStatus)
	for _, f := range [...]struct{ k, v string }{
		{"type", e.Type}, {"code", e.Code}, {"decline_code", e.DeclineCode}, {"param", e.Param}, {"request_id", e.RequestID},
	} {
		if f.v != "" {
			fmt.Fprintf(&b, " %s=%s", f.k, f.v)
		}
	}
	return b.String()
}

// Unwrap returns ErrProcessor, ErrIdempotencyMismatch or ErrTransport.
func (e *APIError) Unwrap() error { return e.kind }

// errorResult turns a failed request into a Result and an error with no
// card data. A request that may have charged (the PaymentIntent's) is
// Unknown unless the processor said otherwise; the PaymentMethod's is
// Failed, since it charges nothing.
func (s *Stripe) errorResult(ctx context.Context, stage string, err error) (Result, error) {
	// open is the status when the answer leaves the outcome open.
	open := Unknown
	if stage == stagePaymentMethod {
		open = Failed
	}
	var se *stripe.Error
	if !errors.As(err, &se) {
		if ctx.Err() != nil {
			res, e := unanswered(ctx, s.name)
			res.Status = open
			if open == Failed {
				res.Message = "no answer from the processor in time; nothing was charged"
			}
			return res, fmt.Errorf("%s: %w", stage, e)
		}
		// A transport error: *url.Error says which request and which
		// network failure, nothing of the body. Any other error (an
		// unreadable answer) may quote the answer's body, so it is not
		// passed on.
		res := Result{Status: open, Message: "the processor could not be reached or its answer was lost"}
		var ue *url.Error
		if errors.As(err, &ue) {
			return res, fmt.Errorf("%w: processor %s: %s: %s %s: %s", ErrTransport, s.name, stage, ue.Op, redactURL(ue.URL), causeText(ue.Err))
		}
		return res, fmt.Errorf("%w: processor %s: %s: an answer that is not a Stripe API response", ErrTransport, s.name, stage)
	}
	ae := &APIError{
		Processor:   s.name,
		Stage:       stage,
		HTTPStatus:  se.HTTPStatusCode,
		Type:        safeToken(string(se.Type)),
		Code:        safeToken(string(se.Code)),
		DeclineCode: safeToken(string(se.DeclineCode)),
		Param:       safeToken(se.Param),
		RequestID:   safeID(se.RequestID),
		kind:        ErrProcessor,
	}
	res := Result{}
	if se.PaymentIntent != nil {
		res.Reference = safeID(se.PaymentIntent.ID)
	}
	switch {
	case se.Type == stripe.ErrorTypeCard:
		// The card was refused (https://docs.stripe.com/declines/codes):
		// nothing was charged. Not an error of ours: the Result says it.
		res.Status = Declined
		res.DeclineCode = declineCode(se)
		if res.DeclineCode == "" {
			res.DeclineCode = "card_declined"
		}
		res.Message = safeMessage(se.Msg, "declined")
		return res, nil
	case se.Type == stripe.ErrorTypeIdempotency:
		ae.kind = ErrIdempotencyMismatch
		res.Status, res.Message = Failed, "idempotency key reused with different parameters; nothing was charged by this call"
	case se.HTTPStatusCode >= 500 || se.HTTPStatusCode == http.StatusConflict || se.Type == stripe.ErrorTypeAPI:
		// Stripe: a 500 leaves the outcome open; a 409 is a concurrent
		// request with the same key still running.
		res.Status, res.Message = open, "the processor failed to answer the request"
	default:
		// 400, 401, 403, 404, 429: refused before anything happened.
		res.Status, res.Message = Failed, "the processor refused the request; nothing was charged"
		if stage == stageReconcile {
			res.Status = Unknown
		}
	}
	return res, ae
}

// causeText describes a network error without anything it may quote.
func causeText(err error) string {
	if err == nil {
		return "no cause"
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	// net.OpError and syscall errors name addresses and the failure
	// ("dial tcp 127.0.0.1:9: connect: connection refused"): no body.
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, msg)
}

// redactURL keeps a URL's scheme, host and path: the query of a search
// holds only the idempotency key, but nothing else needs to be shown.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(url)"
	}
	return u.Scheme + "://" + u.Host + u.Path
}

func (s *Stripe) logCharge(key, stage string, res Result, err error, start time.Time) {
	msg := "processor charge"
	if stage == stageReconcile {
		msg = "processor reconcile"
	}
	level := slog.LevelInfo
	if res.Status == Unknown || err != nil {
		level = slog.LevelWarn
	}
	attrs := []any{"processor", s.name, "idempotency_key", key, "stage", stage, "status", res.Status,
		"decline_code", res.DeclineCode, "reference", res.Reference, "duration", time.Since(start).Round(time.Millisecond)}
	if err != nil {
		// Our errors carry no card data (errorResult).
		attrs = append(attrs, "error", err.Error())
	}
	s.log.Log(context.Background(), level, msg, attrs...)
}

// bodyWatch counts the request bodies handed to net/http for one call and
// not yet closed by it, so the card bytes are zeroed only when nothing
// reads them any more.
type bodyWatch struct {
	wg sync.WaitGroup
}

type bodyWatchKey struct{}

// released waits until every body is closed or d passes; it reports
// whether they were.
func (w *bodyWatch) released(d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// track wraps a body so that its Close is counted.
func (w *bodyWatch) track(rc io.ReadCloser) io.ReadCloser {
	w.wg.Add(1)
	return &trackedBody{ReadCloser: rc, w: w}
}

type trackedBody struct {
	io.ReadCloser
	w    *bodyWatch
	once sync.Once
}

func (b *trackedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.w.wg.Done)
	return err
}

// watchingTransport tracks the bodies of the requests whose context holds
// a bodyWatch. net/http closes every request body it was given, even after
// RoundTrip has returned, which is the moment the bytes are free.
type watchingTransport struct {
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t watchingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	w, _ := req.Context().Value(bodyWatchKey{}).(*bodyWatch)
	if w == nil || req.Body == nil || req.Body == http.NoBody {
		return t.next.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.Body = w.track(req.Body)
	if get := req.GetBody; get != nil {
		r.GetBody = func() (io.ReadCloser, error) {
			b, err := get()
			if err != nil || b == nil {
				return b, err
			}
			return w.track(b), nil
		}
	}
	return t.next.RoundTrip(r)
}

package processor

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"dtmfgw/internal/outbound"
)

// HTTPConnector hands the card to an HTTPS endpoint that the merchant or
// a card vault runs (type "http"), which charges it with whatever
// processor it likes. Each Charge is one POST of a JSON body (method
// "charge", or "tokenize" for Request.Tokenize) to the configured URL;
// the field names are those of the best-known programmable-voice
// platform's generic pay connector, so an endpoint written for it works
// unchanged. docs/processor.md ("HTTP connector") has the contract.
//
// Every request carries HTTP Basic credentials or a bearer token, and a
// Dtmfgw-Signature header: an HMAC-SHA256 of a timestamp and the body,
// the webhooks' scheme. Charge and tokenize requests carry the
// idempotency key as the Idempotency-Key header and the body's
// transaction_id; the receiver answers a repeated key with its first
// outcome. Reconcile is a POST of method "status" with the
// transaction_id, no card data.
//
// The body is written by hand into a byte slice of its own (no card
// field becomes a string), sent from it, and zeroed once net/http has
// closed it. Answers are read up to maxAnswerLen and their text is
// filtered before it reaches a Result, an error or a log line.
type HTTPConnector struct {
	name    string
	url     string
	timeout time.Duration
	auth    string
	secret  []byte
	client  *http.Client
	log     *slog.Logger
	now     func() time.Time
	// bodyZeroed, a test hook, sees each request body after zeroing.
	bodyZeroed func([]byte)
}

func newHTTPConnector(name string, cfg Config, o options) (*HTTPConnector, error) {
	s, problems := cfg.connectorSettings()
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: processors.%s.%w", ErrConfig, name, errors.Join(problems...))
	}
	// The card must not follow a redirect elsewhere.
	hc := outbound.Client(o.HTTPClient)
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	switch t, ok := next.(*http.Transport); {
	case ok:
		next = connectorTransport(t, s.tls)
	case s.tls != nil:
		return nil, fmt.Errorf("%w: processors.%s: tls_client_cert, tls_client_key and tls_ca need the client's transport to be an *http.Transport", ErrConfig, name)
	}
	hc.Transport = watchingTransport{next: next}
	return &HTTPConnector{
		name:       name,
		url:        cfg.URL,
		timeout:    cfg.Timeout,
		auth:       s.authorization,
		secret:     s.secret,
		client:     hc,
		log:        o.Log,
		now:        o.Now,
		bodyZeroed: o.bodyZeroed,
	}, nil
}

// connectorTransport returns a copy of base for the connector: HTTP/1.1
// only, and TLS with our client certificate and roots when set.
//
// HTTP/1.1 because then a request is one write: an error writing it
// proves it never reached the receiver whole (nothing charged), and no
// other stream's trouble can break the connection after it was
// delivered, as it can with HTTP/2's shared connection.
//
// A server that asks for a client certificate when none is configured
// is noted in the exchange (GetClientCertificate), so that the broken
// connection that follows its refusal reads as "not sent": with TLS 1.3
// the refusal comes after the request was written, as a reset or an
// alert, which alone would leave the outcome open.
func connectorTransport(base *http.Transport, ours *tls.Config) *http.Transport {
	t := base.Clone()
	var p http.Protocols
	p.SetHTTP1(true)
	t.Protocols = &p
	t.ForceAttemptHTTP2 = false
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.TLSClientConfig != nil {
		tc = t.TLSClientConfig.Clone()
		tc.MinVersion = max(tc.MinVersion, tls.VersionTLS12)
	}
	certs := tc.Certificates
	if ours != nil {
		if len(ours.Certificates) > 0 {
			certs = ours.Certificates
		}
		if ours.RootCAs != nil {
			tc.RootCAs = ours.RootCAs
		}
	}
	tc.Certificates = nil
	// A transport once used for HTTP/2 (http.DefaultTransport) has "h2"
	// in its configuration's ALPN list, which a copy would still offer.
	tc.NextProtos = []string{"http/1.1"}
	tc.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if len(certs) > 0 {
			return &certs[0], nil
		}
		if st, ok := cri.Context().Value(exchangeKey{}).(*exchangeState); ok {
			st.certAsked.Store(true)
		}
		// None: the server decides whether it needs one.
		return &tls.Certificate{}, nil
	}
	t.TLSClientConfig = tc
	return t
}

// exchangeState is what one request learns on its way, through its
// context.
type exchangeState struct {
	// certAsked: the server asked for a client certificate and none is
	// configured.
	certAsked atomic.Bool
}

type exchangeKey struct{}

// Name implements Processor.
func (h *HTTPConnector) Name() string { return h.name }

// Charge implements Processor.
func (h *HTTPConnector) Charge(ctx context.Context, req *Request) (Result, error) {
	if err := req.Validate(); err != nil {
		return Result{Status: Failed, Message: "invalid request; nothing was charged"}, err
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	method := methodCharge
	if req.Tokenize {
		method = methodTokenize
	}
	return h.exchange(ctx, method, req.IdempotencyKey, connectorBody(req))
}

// Reconcile implements Processor: the status call.
func (h *HTTPConnector) Reconcile(ctx context.Context, idempotencyKey string) (Result, error) {
	if err := ValidateIdempotencyKey(idempotencyKey); err != nil {
		return Result{Status: Unknown}, err
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	return h.exchange(ctx, methodStatus, idempotencyKey, statusBody(idempotencyKey))
}

// exchange sends body, zeroes it once net/http has let go of it, and reads
// the answer into a Result; it logs one line.
func (h *HTTPConnector) exchange(ctx context.Context, method, key string, body []byte) (Result, error) {
	start := time.Now()
	watch, state := &bodyWatch{}, &exchangeState{}
	ctx = context.WithValue(context.WithValue(ctx, bodyWatchKey{}, watch), exchangeKey{}, state)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		h.zero(body, key, watch)
		// The URL was checked at start: nothing here quotes the body.
		return h.logged(key, method, 0, start, connectorOutcome{
			res: Result{Status: h.unsent(method), Message: "the request could not be built; nothing was sent"},
			err: fmt.Errorf("%w: processor %s: %s: %v", ErrTransport, h.name, method, err)})
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "dtmfgw")
	req.Header.Set("Authorization", h.auth)
	req.Header.Set(ConnectorSignatureHeader, signConnector(h.secret, h.now(), body))
	if method != methodStatus {
		// With this header net/http may also resend the request on a new
		// connection when the first broke before an answer: the
		// receiver answers the same key with the same outcome. The status
		// call has none: a receiver's idempotency layer would otherwise
		// compare its body with the charge's.
		req.Header.Set(ConnectorIdempotencyHeader, key)
	}
	resp, err := h.client.Do(req)
	var answer []byte
	var readErr error
	if err == nil {
		answer, readErr = readAnswer(resp.Body)
		resp.Body.Close()
	}
	h.zero(body, key, watch)
	defer clear(answer) // it may echo the card
	switch {
	case err != nil:
		return h.logged(key, method, 0, start, h.sendError(ctx, method, err, state))
	case readErr != nil && ctx.Err() != nil:
		res, e := unanswered(ctx, h.name)
		return h.logged(key, method, resp.StatusCode, start, connectorOutcome{res: res, err: e})
	}
	out := connectorResult(h.name, method, resp.StatusCode, resp.Header.Get("X-Request-Id"), answer)
	return h.logged(key, method, resp.StatusCode, start, out)
}

// zero clears a request body once net/http has closed every reader of
// it that watch saw (or after bodyReleaseWait: by then the request is
// over, and a transport still holding a reader can only send zeros into
// a dead connection).
func (h *HTTPConnector) zero(body []byte, key string, watch *bodyWatch) {
	if !watch.released(bodyReleaseWait) {
		h.log.Warn("processor: the request body was not released in time; zeroing it anyway",
			"processor", h.name, "idempotency_key", key)
	}
	clear(body)
	if h.bodyZeroed != nil {
		h.bodyZeroed(body[:cap(body)])
	}
}

// readAnswer reads an answer's body up to maxAnswerLen; a longer one is
// read as nil (not an answer of ours), as is one whose reading failed.
func readAnswer(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxAnswerLen+1))
	if err != nil || len(b) > maxAnswerLen {
		clear(b)
		return nil, err
	}
	return b, nil
}

// unsent is the status of a request that never reached the receiver: a
// charge or tokenize that was not sent charged nothing; a status call
// that was not sent leaves the payment as open as it was.
func (h *HTTPConnector) unsent(method string) Status {
	if method == methodStatus {
		return Unknown
	}
	return Failed
}

// sendError reads an error of http.Client.Do into a Result and an error
// with no card data.
func (h *HTTPConnector) sendError(ctx context.Context, method string, err error, state *exchangeState) connectorOutcome {
	if ctx.Err() != nil {
		res, e := unanswered(ctx, h.name)
		return connectorOutcome{res: res, err: e}
	}
	detail := "transport error"
	var ue *url.Error
	if errors.As(err, &ue) {
		detail = ue.Op + " " + redactURL(ue.URL) + ": " + causeText(ue.Err)
	}
	refusedCert := state.certAsked.Load() && brokenConnection(err)
	if refusedCert {
		detail += " (the server asked for a client certificate and none is configured: tls_client_cert, tls_client_key)"
	}
	if refusedCert || notSent(err) {
		return connectorOutcome{res: Result{Status: h.unsent(method), Message: "the processor could not be reached; nothing was sent"},
			err: fmt.Errorf("%w: processor %s: %s: not sent: %s", ErrTransport, h.name, method, detail)}
	}
	return connectorOutcome{res: Result{Status: Unknown, Message: "the processor could not be reached or its answer was lost; the payment will be reconciled"},
		err: fmt.Errorf("%w: processor %s: %s: %s", ErrTransport, h.name, method, detail)}
}

// notSent reports whether err proves that the request never reached the
// receiver's application whole: the connection was refused, writing the
// request failed (one write, over HTTP/1.1), the server's certificate was
// not trusted, or the server's TLS layer refused the connection with an
// alert (it drops the request unread).
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && (op.Op == "dial" || op.Op == "write" || op.Op == "remote error") {
		return true
	}
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) || errors.As(err, &rh)
}

// brokenConnection reports whether err is the connection failing (a
// reset, an alert, an early end, or the transport closing it as it saw
// the server go: under TLS 1.3 the server's refusal of a missing client
// certificate comes after the request is written, and which of these the
// client sees depends on timing) rather than anything else.
func brokenConnection(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// logged logs one line for a request and returns its outcome.
func (h *HTTPConnector) logged(key, method string, status int, start time.Time, out connectorOutcome) (Result, error) {
	msg := "processor charge"
	if method == methodStatus {
		msg = "processor reconcile"
	}
	level := slog.LevelInfo
	if out.res.Status == Unknown || out.err != nil || out.withheld {
		level = slog.LevelWarn
	}
	attrs := []any{"processor", h.name, "idempotency_key", key, "stage", method, "status", out.res.Status,
		"decline_code", out.res.DeclineCode, "reference", out.res.Reference, "token_received", out.res.Token != "",
		"http_status", status, "duration", time.Since(start).Round(time.Millisecond)}
	if out.withheld {
		attrs = append(attrs, "withheld", "the answer's charge_id or token_id looks like a card number")
	}
	if out.err != nil {
		// Our errors carry no card data (connectorResult, sendError).
		attrs = append(attrs, "error", out.err.Error())
	}
	h.log.Log(context.Background(), level, msg, attrs...)
	return out.res, out.err
}

package paypage

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"dtmfgw/internal/httpstatus"
	"dtmfgw/payment"
)

// Option changes how New builds a Handler.
type Option func(*Handler)

// WithClock makes the rate limits count by now instead of time.Now
// (tests).
func WithClock(now func() time.Time) Option {
	return func(h *Handler) {
		if now != nil {
			h.now = now
		}
	}
}

// WithLogger sets where the handler logs each request's route and status
// (nil: slog.Default()).
func WithLogger(log *slog.Logger) Option {
	return func(h *Handler) {
		if log != nil {
			h.log = log
		}
	}
}

// WithPublicOrigin sets the origin the page is served at,
// "https://pay.example.com" (scheme://host[:port]): a POST's Origin must
// be it. Without it, a POST's Origin must be the request's own scheme and
// Host, which is wrong behind a proxy that ends TLS or rewrites Host: set
// it there. New refuses a value that is not an origin.
func WithPublicOrigin(origin string) Option {
	return func(h *Handler) { h.rawOrigin, h.originSet = origin, true }
}

// WithHSTS sends Strict-Transport-Security on every response: set it when
// the page is served over TLS (directly or by a proxy in front).
func WithHSTS(on bool) Option {
	return func(h *Handler) { h.hsts = on }
}

// WithRateLimits replaces DefaultLimits. A zero Window or MaxEntries
// keeps the default's; a zero limit turns that limit off.
func WithRateLimits(l Limits) Option {
	return func(h *Handler) {
		if l.Window <= 0 {
			l.Window = DefaultLimits.Window
		}
		if l.MaxEntries <= 0 {
			l.MaxEntries = DefaultLimits.MaxEntries
		}
		h.limits = l
	}
}

// WithSecret makes the page's CSRF tokens under secret instead of a
// random secret of this process: several nodes serving one link must
// share it, or a page whose session one node answered is refused by
// another (and a restart would make every open page fetch its session
// again). The gateway passes the form token's secret; the MAC's own label
// keeps the two uses apart. New refuses a secret under 32 bytes.
func WithSecret(secret []byte) Option {
	return func(h *Handler) { h.secret = bytes.Clone(secret) }
}

// Handler serves the hosted payment page and its API under /pay/. Safe
// for concurrent use. Mount it at /pay/ on the public listener.
type Handler struct {
	desk      payment.Desk
	now       func() time.Time
	log       *slog.Logger
	rawOrigin string
	originSet bool
	origin    string // normalised; "" when not configured
	hsts      bool
	limits    Limits
	secret    []byte
	headers   [][2]string
	files     *pageFiles

	payLink, payAddr, pageLink, pageAddr *limiter

	// bodyZeroed, when set (tests), is shown the pay body's buffer once
	// it has been zeroed.
	bodyZeroed func([]byte)
}

// New returns the page's handler over desk.
func New(desk payment.Desk, opts ...Option) (*Handler, error) {
	if desk == nil {
		return nil, errors.New("paypage: New needs a payment.Desk")
	}
	h := &Handler{desk: desk, now: time.Now, log: slog.Default(), limits: DefaultLimits}
	for _, o := range opts {
		o(h)
	}
	if h.originSet {
		o, ok := normOrigin(h.rawOrigin)
		if !ok {
			return nil, fmt.Errorf("paypage: public origin %q: want scheme://host[:port], http or https, nothing after", h.rawOrigin)
		}
		h.origin = o
	}
	switch {
	case h.secret == nil:
		h.secret = make([]byte, minSecret)
		if _, err := rand.Read(h.secret); err != nil {
			return nil, fmt.Errorf("paypage: CSRF secret: %w", err)
		}
	case len(h.secret) < minSecret:
		return nil, fmt.Errorf("paypage: CSRF secret: %d bytes, want at least %d", len(h.secret), minSecret)
	}
	h.headers = securityHeaders(h.hsts)
	var err error
	if h.files, err = loadPageFiles(h.headers); err != nil {
		return nil, err
	}
	l := h.limits
	h.payLink = newLimiter(l.PayPerLink, l.Window, l.MaxEntries, h.now)
	h.payAddr = newLimiter(l.PayPerAddress, l.Window, l.MaxEntries, h.now)
	h.pageLink = newLimiter(l.PagePerLink, l.Window, l.MaxEntries, h.now)
	h.pageAddr = newLimiter(l.PagePerAddress, l.Window, l.MaxEntries, h.now)
	return h, nil
}

// Integrity returns integrity.json as served: the page's inventory.
func (h *Handler) Integrity() []byte { return bytes.Clone(h.files.integrity) }

// Routes' names, as logged.
const (
	routePage      = "page"
	routeAsset     = "asset"
	routeIntegrity = "integrity"
	routeSession   = "session"
	routeProgress  = "progress"
	routePresence  = "presence"
	routePay       = "pay"
	routeNotFound  = "not_found"
)

// ServeHTTP serves one request under /pay/.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := httpstatus.NewWriter(w)
	hdr := w.Header()
	for _, kv := range h.headers {
		hdr.Set(kv[0], kv[1])
	}
	route := h.route(sw, r)
	status := sw.Status()
	if status == 0 {
		status = http.StatusOK
	}
	// The route and status only: never the path's rest, a header, the
	// body or the desk's error, any of which could hold the token or a
	// digit.
	level := slog.LevelDebug
	switch {
	case status >= 500:
		level = slog.LevelError
	case route == routeSession || route == routePay:
		level = slog.LevelInfo
	}
	h.log.LogAttrs(r.Context(), level, "pay page request", slog.String("route", route), slog.Int("status", status))
}

// route serves r and returns its route's name.
func (h *Handler) route(w http.ResponseWriter, r *http.Request) string {
	rest, ok := strings.CutPrefix(r.URL.Path, "/pay/")
	if !ok {
		writeError(w, errNotFound, nil)
		return routeNotFound
	}
	switch {
	case rest == "":
		if allow(w, r, http.MethodGet, http.MethodHead) {
			h.serveFile(w, r, "index.html", "no-store")
		}
		return routePage
	case rest == "integrity.json":
		if allow(w, r, http.MethodGet, http.MethodHead) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(h.files.integrity))
		}
		return routeIntegrity
	case strings.HasPrefix(rest, "assets/"):
		if allow(w, r, http.MethodGet, http.MethodHead) {
			// Embedded names are clean; "a/../b", "a//b" or the
			// directory itself is no name of ours.
			name := strings.TrimPrefix(rest, "assets/")
			if _, ok := h.files.files[rest]; !ok || name == "" || path.Clean("/"+name) != "/"+name {
				writeError(w, errNotFound, nil)
			} else {
				// No version in the names (no build step): a browser keeps
				// them but asks each time, and the ETag makes that a 304.
				h.serveFile(w, r, rest, "no-cache")
			}
		}
		return routeAsset
	}
	if api, ok := apiRoutes[rest]; ok {
		if allow(w, r, api.method) {
			api.serve(h, w, r)
		}
		return api.route
	}
	writeError(w, errNotFound, nil)
	return routeNotFound
}

// apiRoutes is the page's JSON API, by the path's rest after /pay/: the
// one method each path takes, what serves it and its route's name.
var apiRoutes = map[string]struct {
	method string
	serve  func(*Handler, http.ResponseWriter, *http.Request)
	route  string
}{
	"api/session":  {http.MethodGet, (*Handler).session, routeSession},
	"api/progress": {http.MethodPost, (*Handler).progress, routeProgress},
	"api/presence": {http.MethodPost, (*Handler).presence, routePresence},
	"api/pay":      {http.MethodPost, (*Handler).pay, routePay},
}

// allow answers 405 unless r's method is one of methods.
func allow(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, r.Method) {
		return true
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writeError(w, &bodyError{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "This path does not take " + clipMethod(r.Method) + "."}, nil)
	return false
}

// clipMethod keeps a method fit to repeat: a client's own text.
func clipMethod(m string) string {
	if len(m) > 16 || strings.ContainsFunc(m, func(r rune) bool { return r < 'A' || r > 'Z' }) {
		return "this method"
	}
	return m
}

func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, name, cache string) {
	a := h.files.files[name]
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Cache-Control", cache)
	if cache != "no-store" {
		hdr.Set("ETag", a.etag)
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// Errors answered in more than one place. Messages are for the caller,
// who reads them on the page.
var (
	errNotFound     = &bodyError{Status: http.StatusNotFound, Code: "not_found", Message: "No such page."}
	errUnauthorized = &bodyError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "The payment link's token is missing (Authorization: Bearer ...)."}
	errLinkNotFound = &bodyError{Status: http.StatusNotFound, Code: "link_not_found", Message: "This payment link is not valid."}
	errLinkClosed   = &bodyError{Status: http.StatusGone, Code: "link_closed", Message: "This payment link no longer takes payments."}
	errLinkBusy     = &bodyError{Status: http.StatusConflict, Code: "link_busy", Message: "A payment with this link is being processed. Wait for its result."}
	errBadOrigin    = &bodyError{Status: http.StatusForbidden, Code: "bad_origin", Message: "The request does not come from the payment page."}
	errBadCSRF      = &bodyError{Status: http.StatusForbidden, Code: "bad_csrf", Message: "The page's session has changed. Reload the payment link."}
	errMediaType    = &bodyError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "The body must be application/json."}
	errTooLarge     = &bodyError{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Message: "The body is larger than this endpoint takes."}
	errInternal     = &bodyError{Status: http.StatusInternalServerError, Code: "internal", Message: "Something went wrong on our side. Please try again in a moment."}
)

// deskError maps a Desk's error to what the page is told; anything but
// the link errors is a 500 that says nothing of its cause.
func deskError(err error) *bodyError {
	switch {
	case errors.Is(err, payment.ErrLinkNotFound):
		return errLinkNotFound
	case errors.Is(err, payment.ErrLinkClosed):
		return errLinkClosed
	case errors.Is(err, payment.ErrLinkBusy):
		return errLinkBusy
	}
	return errInternal
}

// writeJSON answers v with status; API answers are never stored.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// Encoding our own types cannot fail but for a broken connection,
	// which there is no one to tell.
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers e, with the link's view when there is one (a closed
// link: the page shows which end it came to).
func writeError(w http.ResponseWriter, e *bodyError, view *payment.PageView) {
	writeJSON(w, e.Status, struct {
		Error   *bodyError        `json:"error"`
		Payment *payment.PageView `json:"payment,omitempty"`
	}{e, view})
}

// tooMany answers 429 with Retry-After in whole seconds, at least 1.
func tooMany(w http.ResponseWriter, retry time.Duration) {
	secs := int((retry + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	writeError(w, &bodyError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "Too many requests. Please wait a moment and try again."}, nil)
}

// link is an API request's link: its token and the token's hash.
type link struct {
	token string
	hash  [sha256.Size]byte
}

// begin checks what every API request must pass before its body is
// read, in order of cost: the client's rate limit, the bearer token, and
// for a POST the origin, the content type and the CSRF token, then the
// link's rate limit. It answers the refusal itself.
func (h *Handler) begin(w http.ResponseWriter, r *http.Request, pay bool) (link, bool) {
	byLink, byAddr := h.pageLink, h.pageAddr
	if pay {
		byLink, byAddr = h.payLink, h.payAddr
	}
	if ok, retry := byAddr.allow(clientKey(r.RemoteAddr)); !ok {
		tooMany(w, retry)
		return link{}, false
	}
	token, present, ok := bearer(r)
	if !present {
		w.Header().Set("WWW-Authenticate", `Bearer realm="pay"`)
		writeError(w, errUnauthorized, nil)
		return link{}, false
	}
	if !ok {
		writeError(w, errLinkNotFound, nil)
		return link{}, false
	}
	l := link{token: token, hash: tokenHash(token)}
	if r.Method == http.MethodPost {
		if !h.sameOrigin(r) {
			writeError(w, errBadOrigin, nil)
			return link{}, false
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeError(w, errMediaType, nil)
			return link{}, false
		}
		if !h.validCSRF(r, l.hash) {
			writeError(w, errBadCSRF, nil)
			return link{}, false
		}
	}
	if ok, retry := byLink.allow(string(l.hash[:])); !ok {
		tooMany(w, retry)
		return link{}, false
	}
	return l, true
}

// sessionAnswer is GET /pay/api/session's answer.
type sessionAnswer struct {
	Payment payment.PageView `json:"payment"`
	// CSRF is the token every POST of the page sends in X-CSRF-Token;
	// none for a closed link, which takes no POST.
	CSRF string `json:"csrf,omitempty"`
}

// session opens the link: its view and the CSRF token of its POSTs. A
// closed link is a 200 with its view, whose state says which end it came
// to, so that the page shows "already paid" or "expired" rather than an
// error.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) {
	l, ok := h.begin(w, r, false)
	if !ok {
		return
	}
	view, err := h.desk.OpenLink(r.Context(), l.token)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, sessionAnswer{Payment: view, CSRF: h.csrfToken(l.hash)})
	case errors.Is(err, payment.ErrLinkClosed):
		writeJSON(w, http.StatusOK, sessionAnswer{Payment: view})
	default:
		writeError(w, deskError(err), nil)
	}
}

// maxSmallBody bounds the progress and presence bodies: a field id and a
// number.
const maxSmallBody = 1 << 10

// decodeSmall decodes a progress or presence body strictly: one JSON
// object, known keys only, nothing after it. These bodies hold no card
// data, only an id, a length and a flag.
func decodeSmall(w http.ResponseWriter, r *http.Request, v any) *bodyError {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSmallBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errTooLarge
		}
		return badBody("unreadable_body", "The body could not be read.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if dec.Decode(v) != nil {
		return errBadJSON
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errBadJSON
	}
	return nil
}

// progressBody is POST /pay/api/progress's body: a field and how many
// characters it holds. Never a character.
type progressBody struct {
	Field  *string `json:"field"`
	Length *int    `json:"length"`
}

// maxProgressLen bounds a reported length, as maxDigits bounds a value.
const maxProgressLen = maxDigits

// check refuses a progress body that does not name a field and a length.
func (b *progressBody) check() *bodyError {
	if b.Field == nil || !validFieldID(*b.Field) {
		return badBody("bad_field_id", "field must be a field id: lower-case letters, digits, _ and - only, at most 64.")
	}
	if b.Length == nil || *b.Length < 0 || *b.Length > maxProgressLen {
		return badBody("bad_length", "length must be a whole number from 0 to 64.")
	}
	return nil
}

func (h *Handler) progress(w http.ResponseWriter, r *http.Request) {
	var b progressBody
	h.postSmall(w, r, &b, b.check, func(ctx context.Context, token string) error {
		return h.desk.LinkProgress(ctx, token, *b.Field, *b.Length)
	})
}

// presenceBody is POST /pay/api/presence's body.
type presenceBody struct {
	Present *bool `json:"present"`
}

// check refuses a presence body that does not say present or not.
func (b *presenceBody) check() *bodyError {
	if b.Present == nil {
		return badBody("bad_present", "present must be true or false.")
	}
	return nil
}

func (h *Handler) presence(w http.ResponseWriter, r *http.Request) {
	var b presenceBody
	h.postSmall(w, r, &b, b.check, func(ctx context.Context, token string) error {
		return h.desk.LinkPresence(ctx, token, *b.Present)
	})
}

// postSmall serves a small POST (progress, presence): the link's checks,
// then its body decoded strictly into body, refused if check says so,
// and handed to the desk by tell; a 204 says the desk took it.
func (h *Handler) postSmall(w http.ResponseWriter, r *http.Request, body any, check func() *bodyError, tell func(ctx context.Context, token string) error) {
	l, ok := h.begin(w, r, false)
	if !ok {
		return
	}
	if e := decodeSmall(w, r, body); e != nil {
		writeError(w, e, nil)
		return
	}
	if e := check(); e != nil {
		writeError(w, e, nil)
		return
	}
	if err := tell(r.Context(), l.token); err != nil {
		writeError(w, deskError(err), nil)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// payAnswer is POST /pay/api/pay's answer.
type payAnswer struct {
	Payment payment.PageView `json:"payment"`
}

// pay takes a card. The body is read into a buffer of its own, parsed in
// place into fresh []byte slices and zeroed at once; the slices are
// zeroed once the desk has answered (the desk zeroes them too). Nothing
// of the body is logged or repeated.
func (h *Handler) pay(w http.ResponseWriter, r *http.Request) {
	l, ok := h.begin(w, r, true)
	if !ok {
		return
	}
	card, e := h.readCard(r)
	if e != nil {
		writeError(w, e, nil)
		return
	}
	// Keep the slices: Zero deletes them from the map, and a desk that
	// deleted without zeroing would leave them to us.
	held := slices.Collect(maps.Values(card.Fields))
	view, err := h.desk.PayLink(r.Context(), l.token, card)
	card.Zero()
	for _, b := range held {
		clear(b)
	}
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, payAnswer{Payment: view})
	case errors.Is(err, payment.ErrLinkClosed):
		writeError(w, errLinkClosed, &view)
	default:
		writeError(w, deskError(err), nil)
	}
}

// readCard reads and parses the pay body. The buffer is zeroed before it
// returns, whatever happened.
func (h *Handler) readCard(r *http.Request) (payment.PageCard, *bodyError) {
	if r.ContentLength > MaxPayBody {
		return payment.PageCard{}, errTooLarge
	}
	// One byte more than the bound: reading it means the body is too
	// large.
	buf := make([]byte, MaxPayBody+1)
	defer func() {
		clear(buf)
		if h.bodyZeroed != nil {
			h.bodyZeroed(buf)
		}
	}()
	n, err := io.ReadFull(r.Body, buf)
	switch {
	case err == nil:
		return payment.PageCard{}, errTooLarge
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
	default:
		return payment.PageCard{}, badBody("unreadable_body", "The body could not be read.")
	}
	return parseCard(buf[:n])
}

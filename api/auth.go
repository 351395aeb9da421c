package api

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"dtmfgw/store"
)

// keyring holds the API keys as SHA-256 digests: a request's key is
// hashed and compared with every digest in constant time, so neither the
// time taken nor an early exit tells how much of a key was right or how
// long a key is.
type keyring struct{ digests [][sha256.Size]byte }

func newKeyring(keys []string) keyring {
	var k keyring
	for _, key := range keys {
		k.digests = append(k.digests, sha256.Sum256([]byte(key)))
	}
	return k
}

func (k keyring) empty() bool { return len(k.digests) == 0 }

// match reports whether key is one of the keys. It looks at every key
// whatever the outcome.
func (k keyring) match(key string) bool {
	d := sha256.Sum256([]byte(key))
	ok := 0
	for i := range k.digests {
		ok |= subtle.ConstantTimeCompare(d[:], k.digests[i][:])
	}
	return ok == 1
}

// Form tokens are stateless: base64url(payment id "|" expiry "|" MAC),
// the MAC an HMAC-SHA256 under the process's secret of "id|expiry". They
// need no store, so a restart with a configured secret keeps them valid,
// and one node's token is good on another sharing the secret.
const (
	// maxTokenLen bounds a token before it is decoded.
	maxTokenLen = 256
	// maxTokenIDLen bounds the payment id inside a token.
	maxTokenIDLen = 64
)

// Errors of parseFormToken.
var (
	errTokenMalformed = errors.New("api: form token malformed")
	errTokenMAC       = errors.New("api: form token not ours")
)

// formToken is a verified token's content.
type formToken struct {
	paymentID string
	expires   time.Time
}

// mintFormToken returns a token for the payment id valid until expires.
func mintFormToken(secret []byte, id string, expires time.Time) string {
	payload := id + "|" + strconv.FormatInt(expires.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(payload))
	raw := append([]byte(payload+"|"), mac.Sum(nil)...)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// parseFormToken checks tok's MAC and returns what it says. It does not
// judge the expiry: the caller does, by its clock.
func parseFormToken(secret []byte, tok string) (formToken, error) {
	if len(tok) == 0 || len(tok) > maxTokenLen {
		return formToken{}, errTokenMalformed
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(raw) < sha256.Size+4 {
		return formToken{}, errTokenMalformed
	}
	payload, sum := raw[:len(raw)-sha256.Size-1], raw[len(raw)-sha256.Size:]
	if raw[len(raw)-sha256.Size-1] != '|' {
		return formToken{}, errTokenMalformed
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(payload)
	if !hmac.Equal(mac.Sum(nil), sum) {
		return formToken{}, errTokenMAC
	}
	i := bytes.LastIndexByte(payload, '|')
	if i <= 0 || i > maxTokenIDLen {
		return formToken{}, errTokenMalformed
	}
	exp, err := strconv.ParseInt(string(payload[i+1:]), 10, 64)
	if err != nil {
		return formToken{}, errTokenMalformed
	}
	return formToken{paymentID: string(payload[:i]), expires: time.Unix(exp, 0).UTC()}, nil
}

// bearer returns the Authorization header's bearer credential (RFC 6750
// §2.1), or "".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(cred)
}

// principal is who made a request: a back-end client with an API key, or
// the agent form of one payment.
type principal struct {
	apiKey    bool
	paymentID string // the form token's payment
	cred      credID // the credential's digest: whose streams are whose
}

// actor is who the principal is in a payment's audit trail: the back end
// with an API key, the agent with a form token.
func (p principal) actor() store.Actor {
	if p.apiKey {
		return store.ActorAPI
	}
	return store.ActorAgent
}

// errKeyInURL refuses an API key found in the query string.
var errKeyInURL = errorf(http.StatusUnauthorized, "unauthorized",
	"an API key is never taken from a URL (access logs and browser history keep URLs): send it as Authorization: Bearer")

// keyInQuery reports whether the query string holds one of the API keys
// as access_token. Only the payment-scoped form token may travel there: a
// long-lived key in a URL ends up in proxies' and servers' access logs and
// in browser history, so a request that carries one is refused whatever
// else it carries, and the key's holder learns to send it in the header.
func (s *Server) keyInQuery(r *http.Request) bool {
	if s.keys.empty() || r.URL.RawQuery == "" {
		return false
	}
	for _, v := range r.URL.Query()["access_token"] {
		if s.keys.match(v) {
			return true
		}
	}
	return false
}

// authAPIKey lets only API-key holders through.
func (s *Server) authAPIKey(r *http.Request) (principal, error) {
	cred := bearer(r)
	if s.keys.empty() {
		return principal{}, errNoAPIKey
	}
	if s.keyInQuery(r) {
		s.log.Warn("API key in a URL refused", "route", r.Pattern)
		return principal{}, errKeyInURL
	}
	if cred == "" || !s.keys.match(cred) {
		return principal{}, errUnauthorized
	}
	return principal{apiKey: true, cred: sha256.Sum256([]byte(cred))}, nil
}

// authPayment lets API-key holders through, and the form token of the
// payment id. A token of another payment is told the payment is not there
// (404), so a token never learns whether another payment exists.
// fromQuery allows the form token as ?access_token= (EventSource cannot
// set headers); an API key there is refused (keyInQuery).
func (s *Server) authPayment(r *http.Request, id string, fromQuery bool) (principal, error) {
	if s.keyInQuery(r) {
		s.log.Warn("API key in a URL refused", "route", r.Pattern)
		return principal{}, errKeyInURL
	}
	cred := bearer(r)
	if cred == "" && fromQuery {
		cred = r.URL.Query().Get("access_token")
	}
	if cred != "" && !s.keys.empty() && s.keys.match(cred) {
		return principal{apiKey: true, cred: sha256.Sum256([]byte(cred))}, nil
	}
	tok, err := parseFormToken(s.secret, cred)
	switch {
	case cred != "" && err == nil:
	case s.keys.empty():
		return principal{}, errNoAPIKey
	default:
		return principal{}, errUnauthorized
	}
	if !s.now().Before(tok.expires) {
		return principal{}, errTokenExpired
	}
	if subtle.ConstantTimeCompare([]byte(tok.paymentID), []byte(id)) != 1 {
		return principal{}, errPaymentNotFound
	}
	return principal{paymentID: tok.paymentID, cred: sha256.Sum256([]byte(cred))}, nil
}

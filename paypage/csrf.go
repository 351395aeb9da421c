package paypage

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
)

// maxTokenLen bounds a link token as the page sends it; payment's are
// far shorter. Anything longer is no link of ours.
const maxTokenLen = 256

// csrfLabel separates the CSRF token's MAC from any other use of the
// secret.
const csrfLabel = "dtmfgw paypage csrf v1\x00"

// minSecret is the shortest CSRF secret New accepts, in bytes.
const minSecret = 32

// bearer returns the link token of the request's Authorization header:
// present says there is a bearer token at all, ok that it has the shape
// of a link token (1–256 of the URL-safe characters A–Z a–z 0–9 - _ . ~).
func bearer(r *http.Request) (token string, present, ok bool) {
	auth := r.Header.Get("Authorization")
	scheme, tok, found := strings.Cut(auth, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false, false
	}
	tok = strings.TrimLeft(tok, " ")
	if tok == "" {
		return "", false, false
	}
	if len(tok) > maxTokenLen {
		return "", true, false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			return "", true, false
		}
	}
	return tok, true, true
}

// tokenHash is a link token's SHA-256: the key its rate limits count
// under and what its CSRF token is made from, so that neither keeps the
// token itself.
func tokenHash(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

// csrfToken is the CSRF token of a link: HMAC-SHA256, under the
// Handler's secret, of the token's hash. Stateless: any request with the
// link token can be checked against it, by any node that shares the
// secret (WithSecret), and it is worth nothing without the secret. With a
// random secret a restart makes a new one; the page then fetches the
// session again for a new CSRF token.
func (h *Handler) csrfToken(hash [sha256.Size]byte) string {
	mac := hmac.New(sha256.New, h.secret)
	mac.Write([]byte(csrfLabel))
	mac.Write(hash[:])
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// validCSRF reports whether the request's X-CSRF-Token is the link's, in
// constant time.
func (h *Handler) validCSRF(r *http.Request, hash [sha256.Size]byte) bool {
	got := r.Header.Get("X-CSRF-Token")
	return got != "" && hmac.Equal([]byte(got), []byte(h.csrfToken(hash)))
}

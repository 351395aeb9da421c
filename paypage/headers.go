package paypage

import (
	"net/http"
	"net/url"
	"strings"
)

// contentSecurityPolicy keeps the page to its own files and API: our one
// script and style sheet (no inline script or style, no eval), images of
// ours or data: URLs, fetches to our origin only; no form posts anywhere
// (the script submits the card, so a form the script did not handle goes
// nowhere, card data in its URL least of all), no <base> rewriting, no
// framing (a card form in someone's iframe is clickjacking). Trusted
// Types are required with no policy allowed: the script builds the DOM
// with createElement and textContent, so no string can ever become
// markup or script.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'; " +
	"require-trusted-types-for 'script'; trusted-types 'none'"

// hstsValue is Strict-Transport-Security with WithHSTS(true): a year, the
// common minimum; not includeSubDomains, which is the operator's call for
// the domain, not the page's.
const hstsValue = "max-age=31536000"

// securityHeaders are the headers every response carries, in the order
// they are set; integrity.json lists and hashes them.
func securityHeaders(hsts bool) [][2]string {
	h := [][2]string{
		{"Content-Security-Policy", contentSecurityPolicy},
		// The page's URL names nothing, but its fragment held the token
		// until the script dropped it: tell no one where the caller
		// came from.
		{"Referrer-Policy", "no-referrer"},
		{"X-Content-Type-Options", "nosniff"},
		{"Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"},
		// No window that opened the page, or that it opens, gets a
		// handle on it; no other site may load its files.
		{"Cross-Origin-Opener-Policy", "same-origin"},
		{"Cross-Origin-Resource-Policy", "same-origin"},
		// frame-ancestors 'none' says the same to browsers that read
		// CSP Level 2; this is for those that do not.
		{"X-Frame-Options", "DENY"},
		// A payment link is no page for a search engine or a link
		// preview.
		{"X-Robots-Tag", "noindex, nofollow"},
	}
	if hsts {
		h = append(h, [2]string{"Strict-Transport-Security", hstsValue})
	}
	return h
}

// normOrigin returns the serialised origin of s, "scheme://host[:port]",
// as a browser's Origin header writes it: scheme and host in lower case,
// the scheme's default port dropped. ok is false unless s is an http or
// https URL with a host and nothing after it (a path of "/" allowed).
func normOrigin(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" || u.Hostname() == "" {
		return "", false
	}
	host := strings.ToLower(u.Host)
	if port := u.Port(); port == "80" && scheme == "http" || port == "443" && scheme == "https" {
		host = strings.TrimSuffix(host, ":"+port)
	}
	return scheme + "://" + host, true
}

// sameOrigin reports whether a POST comes from the page itself: its
// Origin is the public origin (or, with none configured, the request's
// own scheme and Host), or it has no Origin and the browser says it is
// same-origin (Sec-Fetch-Site, which a page cannot set). A cross-site
// form or script, which cannot forge either header, is refused.
func (h *Handler) sameOrigin(r *http.Request) bool {
	origins := r.Header.Values("Origin")
	switch len(origins) {
	case 0:
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
	case 1:
	default:
		return false
	}
	got, ok := normOrigin(origins[0])
	if !ok {
		return false // "null" among others: a sandboxed or opaque origin
	}
	want := h.origin
	if want == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		if want, ok = normOrigin(scheme + "://" + r.Host); !ok {
			return false
		}
	}
	return got == want
}

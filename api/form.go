package api

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// formFS holds the agent form: index.html (the page of every payment) and
// assets/ (its script modules, style sheet and images). Plain files, no
// build step: what is in the repository is what the browser runs.
//
//go:embed form/index.html form/assets
var formFS embed.FS

// formAsset is one embedded file, read once at start.
type formAsset struct {
	body        []byte
	contentType string
	etag        string
}

// formFiles are the form's files by their path under /form/ ("index.html",
// "assets/form.js"), and the page's Content-Security-Policy.
type formFiles struct {
	files map[string]formAsset
	csp   string
}

// assetTypes are the content types of the form's files, by extension. A
// file of any other extension is refused at start (loadFormFiles), so the
// browser never has to sniff one (X-Content-Type-Options: nosniff).
var assetTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

// DefaultFrameAncestors is who may frame the agent form when the
// configuration says nothing: anyone, since the form is made to live in an
// agent desktop's iframe whose origin we cannot know. The form token, not
// the framing origin, is what guards the payment.
var DefaultFrameAncestors = []string{"*"}

// ValidateFrameAncestors checks sources for the CSP frame-ancestors
// directive (CSP Level 3 §7.7.3): "*", "'self'", "'none'", a scheme
// ("https:") or a host source ("https://desk.example.com",
// "*.example.com:443"). Anything that could end the directive or the
// header (';', ',', a quote other than the keywords', white space or a
// control character) is refused, so a configured value can never inject
// a policy of its own.
func ValidateFrameAncestors(sources []string) error {
	for i, s := range sources {
		switch {
		case s == "":
			return fmt.Errorf("[%d]: empty source", i)
		case len(s) > 256:
			return fmt.Errorf("[%d]: longer than 256 bytes", i)
		case s == "'self'" || s == "'none'":
			if len(sources) > 1 && s == "'none'" {
				return fmt.Errorf("[%d]: 'none' must be the only source", i)
			}
			continue
		}
		for _, r := range s {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("*.:/-_[]%+~", r)) {
				return fmt.Errorf("[%d]: %q: not a CSP host or scheme source", i, clipSource(s))
			}
		}
	}
	return nil
}

func clipSource(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// loadFormFiles reads the embedded form and builds its policy. The
// policy keeps the page to its own origin: scripts and styles from our
// files only (no inline script, no eval), fetches and the event stream to
// our API only, no plugins, no <base> rewriting, no form posting
// anywhere; frame-ancestors from the configuration, so an agent desktop
// can frame it (there is no X-Frame-Options: frame-ancestors supersedes
// it, CSP Level 3 §7.7.3, and DENY would break the iframe).
func loadFormFiles(frameAncestors []string) (*formFiles, error) {
	if len(frameAncestors) == 0 {
		frameAncestors = DefaultFrameAncestors
	}
	if err := ValidateFrameAncestors(frameAncestors); err != nil {
		return nil, fmt.Errorf("http.frame_ancestors%w", err)
	}
	ff := &formFiles{
		files: make(map[string]formAsset),
		csp: "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
			"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; " +
			"frame-ancestors " + strings.Join(frameAncestors, " "),
	}
	err := fs.WalkDir(formFS, "form", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := assetTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("api: form file %s: no content type for its extension", p)
		}
		body, err := formFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ff.files[strings.TrimPrefix(p, "form/")] = formAsset{
			body:        body,
			contentType: ct,
			etag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`,
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := ff.files["index.html"]; !ok {
		return nil, errors.New("api: form: index.html missing")
	}
	return ff, nil
}

// mustFormFiles is loadFormFiles for the default frame-ancestors, which
// cannot fail unless the embedded files are broken (a test catches that).
func mustFormFiles(frameAncestors []string) *formFiles {
	ff, err := loadFormFiles(frameAncestors)
	if err != nil {
		panic(err)
	}
	return ff
}

// formHandler serves the agent form under /form/: /form/{payment id} is
// the page (the same file for every payment: the script reads the id from
// the path and the form token from the URL fragment, which browsers never
// send), /form/assets/{file} its files. Anything else is a 404, directory
// paths included: there is no listing. frameAncestors are the CSP
// frame-ancestors sources (none: DefaultFrameAncestors); they must pass
// ValidateFrameAncestors.
func formHandler(frameAncestors ...string) http.Handler {
	return mustFormFiles(frameAncestors)
}

// ServeHTTP serves one form file.
func (ff *formFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		formError(w, http.StatusMethodNotAllowed, "method_not_allowed", "The form is read with GET.")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/form/")
	if !ok {
		formError(w, http.StatusNotFound, "not_found", "No such page.")
		return
	}
	var (
		a       formAsset
		isPage  bool
		present bool
	)
	if name, ok := strings.CutPrefix(rest, "assets/"); ok {
		// Embedded names are clean; a request for "a/../b" or "a//b" is
		// no name of ours, and an empty one is the directory.
		if name != "" && path.Clean("/"+name) == "/"+name {
			a, present = ff.files["assets/"+name]
		}
	} else if validPaymentID(rest) {
		a, present, isPage = ff.files["index.html"], true, true
	}
	if !present {
		formError(w, http.StatusNotFound, "not_found", "No such page.")
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	// The page's URL names a payment and its fragment carries a token:
	// tell no one where the agent came from or goes to.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", ff.csp)
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if isPage {
		// One page per payment: nothing to keep.
		h.Set("Cache-Control", "no-store")
	} else {
		// Files have no version in their names (no build step), so a
		// browser keeps them but asks each time; the ETag makes that a
		// 304.
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// validPaymentID reports whether s can be a payment id: 1–64 URL-safe
// base64 characters (ids are random, 22 characters today). Anything else
// in the path is not a form page.
func validPaymentID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// formError answers in the API's JSON error shape, so a client of the
// form's paths sees the same errors as the API's.
func formError(w http.ResponseWriter, status int, code, message string) {
	writeError(w, errorf(status, code, message))
}

package paypage

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, e *env, path string) (*http.Response, []byte) {
	t.Helper()
	res := e.do(req{method: "GET", path: path})
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: status %d", path, res.StatusCode)
	}
	return res, body
}

var (
	tagRe  = regexp.MustCompile(`(?is)<(script|link|style)\b([^>]*)>`)
	attrRe = regexp.MustCompile(`(?is)([a-z-]+)\s*=\s*"([^"]*)"`)
)

func attrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRe.FindAllStringSubmatch(s, -1) {
		m[strings.ToLower(a[1])] = a[2]
	}
	return m
}

// TestIndexIntegrityAttributes: every script and style sheet the served
// page loads has an integrity attribute, and it is the SHA-384 of the
// bytes served at its URL. There is no inline script or style at all.
func TestIndexIntegrityAttributes(t *testing.T) {
	e := newEnv(t)
	_, page := get(t, e, "/pay/")
	var scripts, styles int
	for _, m := range tagRe.FindAllStringSubmatch(string(page), -1) {
		tag, a := strings.ToLower(m[1]), attrs(m[2])
		var src string
		switch {
		case tag == "style":
			t.Errorf("inline <style>: %s", m[0])
			continue
		case tag == "script":
			src = a["src"]
			if src == "" {
				t.Errorf("inline <script>: %s", m[0])
				continue
			}
			scripts++
		case tag == "link" && strings.Contains(" "+a["rel"]+" ", " stylesheet "):
			src = a["href"]
			styles++
		default:
			continue // an icon: no integrity for those (inventoried in integrity.json)
		}
		_, body := get(t, e, "/pay/"+src)
		if got, want := a["integrity"], sriOf(body); got != want {
			t.Errorf("%s: integrity %q, served bytes %q", src, got, want)
		}
		if strings.HasPrefix(src, "/") || strings.Contains(src, "//") {
			t.Errorf("%s is not one of the page's own relative paths", src)
		}
	}
	if scripts != 1 || styles != 1 {
		t.Errorf("%d scripts and %d style sheets, want 1 each", scripts, styles)
	}
	for _, bad := range []string{"style=", " on", "javascript:", "{{", "http://", "https://"} {
		if bad == " on" {
			if regexp.MustCompile(`(?i)\son[a-z]+\s*=`).Match(page) {
				t.Error("the page has an inline event handler")
			}
			continue
		}
		if strings.Contains(string(page), bad) {
			t.Errorf("the page holds %q", bad)
		}
	}
}

// TestIntegrityJSON: integrity.json lists every script and style with the
// SRI hash of what is served, index.html's SHA-256 as served, and the
// SHA-256 of the security headers the page is served with.
func TestIntegrityJSON(t *testing.T) {
	for _, hsts := range []bool{false, true} {
		e := newEnv(t, WithHSTS(hsts))
		_, raw := get(t, e, "/pay/integrity.json")
		var inv inventory
		if err := json.Unmarshal(raw, &inv); err != nil {
			t.Fatal(err)
		}
		if string(raw) != string(e.h.Integrity()) {
			t.Error("Integrity() is not what is served")
		}
		pageRes, page := get(t, e, inv.Page.Path)
		if sum := sha256.Sum256(page); inv.Page.SHA256 != base64.StdEncoding.EncodeToString(sum[:]) {
			t.Error("page sha256 is not the served index.html's")
		}
		if len(inv.Scripts) != 1 || len(inv.Styles) != 1 {
			t.Fatalf("inventory %+v", inv)
		}
		all := append(append(append([]inventoryEntry{}, inv.Scripts...), inv.Styles...), inv.Other...)
		for _, a := range all {
			_, body := get(t, e, a.Path)
			if a.Integrity != sriOf(body) {
				t.Errorf("%s: %s, served %s", a.Path, a.Integrity, sriOf(body))
			}
			if a.Purpose == "" {
				t.Errorf("%s has no purpose", a.Path)
			}
		}
		// Every file under assets/ is inventoried.
		entries, err := os.ReadDir("page/assets")
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != len(all) {
			t.Errorf("%d assets, %d inventoried", len(entries), len(all))
		}
		// The headers: recomputed from the page's response as a monitor
		// would, by the documented rule.
		for name := range inv.Headers.Values {
			if pageRes.Header.Get(name) != inv.Headers.Values[name] {
				t.Errorf("%s: served %q, inventory %q", name, pageRes.Header.Get(name), inv.Headers.Values[name])
			}
		}
		if sum := sha256.Sum256(headerLines(toPairs(pageRes.Header, inv.Headers.Values))); inv.Headers.SHA256 != base64.StdEncoding.EncodeToString(sum[:]) {
			t.Error("headers sha256 is not that of the served headers")
		}
		_, hasHSTS := inv.Headers.Values["Strict-Transport-Security"]
		if hasHSTS != hsts || len(inv.Headers.Values) != len(wantHeaders)+1+map[bool]int{true: 1}[hsts] {
			t.Errorf("HSTS %v: headers %v", hsts, inv.Headers.Values)
		}
	}
}

func toPairs(h http.Header, names map[string]string) [][2]string {
	var p [][2]string
	for name := range names {
		p = append(p, [2]string{name, h.Get(name)})
	}
	return p
}

// TestPageScriptHygiene reads page.js and index.html as text: no markup
// from strings, nothing evaluated, nothing from elsewhere, and the token
// only ever in the Authorization header, never in a URL.
func TestPageScriptHygiene(t *testing.T) {
	js, err := os.ReadFile("page/assets/page.js")
	if err != nil {
		t.Fatal(err)
	}
	// The comments say what the code must never do; the code is what
	// is checked.
	src := regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(string(js), "")
	src = regexp.MustCompile(`(?m)(^|\s)// .*$`).ReplaceAllString(src, "")
	for _, bad := range []string{
		"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
		"setTimeout('", `setTimeout("`, "http://", "https://", "localStorage", "sessionStorage", "document.cookie",
		"console.log", "searchParams", "?token", "access_token", "location.search)",
	} {
		if strings.Contains(src, bad) && !(bad == "location.search)" && strings.Contains(src, "location.pathname + location.search)")) {
			t.Errorf("page.js holds %q", bad)
		}
	}
	// Every use of the token: kept, and sent as the bearer token.
	allowed := map[string]bool{
		"this.token = token;": true,
		"const headers = { Authorization: `Bearer ${this.token}`, Accept: 'application/json' };": true,
		"const token = takeToken();": true,
		"if (!token) {":              true,
		"st.api = new Api(token);":   true,
		"constructor(token) {":       true,
	}
	tokenRe := regexp.MustCompile(`\btoken\b`)
	for i, line := range strings.Split(src, "\n") {
		l := strings.TrimSpace(line)
		if tokenRe.MatchString(l) && !allowed[l] {
			t.Errorf("page.js:%d uses the token: %s", i+1, l)
		}
	}
	// Every request goes through one fetch, to a URL made of a constant
	// path under api/.
	if n := strings.Count(src, "fetch("); n != 1 {
		t.Errorf("%d fetch calls, want 1", n)
	}
	if !strings.Contains(src, "fetch(new URL(path, API_BASE), init)") {
		t.Error("the fetch is not to a path under API_BASE")
	}
	for _, m := range regexp.MustCompile(`this\.request\('(GET|POST)', ([^,)]+)`).FindAllStringSubmatch(src, -1) {
		if !regexp.MustCompile(`^'[a-z]+'$`).MatchString(m[2]) && m[2] != "path" {
			t.Errorf("a request to %s, not a constant path", m[2])
		}
	}
}

package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// serveForm runs one request through formHandler.
func serveForm(t *testing.T, h http.Handler, method, target string, hdr map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestFormHandlerFiles(t *testing.T) {
	h := formHandler()
	tests := []struct {
		name, method, path string
		status             int
		contentType        string
		cache              string
	}{
		{"page", "GET", "/form/p_abc-DEF123", 200, "text/html; charset=utf-8", "no-store"},
		{"page HEAD", "HEAD", "/form/p_abc-DEF123", 200, "text/html; charset=utf-8", "no-store"},
		{"script", "GET", "/form/assets/form.js", 200, "text/javascript; charset=utf-8", "no-cache"},
		{"api module", "GET", "/form/assets/api.js", 200, "text/javascript; charset=utf-8", "no-cache"},
		{"style", "GET", "/form/assets/form.css", 200, "text/css; charset=utf-8", "no-cache"},
		{"icon", "GET", "/form/assets/icon.svg", 200, "image/svg+xml", "no-cache"},
		{"unknown asset", "GET", "/form/assets/nope.js", 404, "application/json", "no-store"},
		{"assets directory", "GET", "/form/assets/", 404, "application/json", "no-store"},
		{"assets without slash", "GET", "/form/assets", 200, "text/html; charset=utf-8", "no-store"}, // a payment id "assets"
		{"form root", "GET", "/form/", 404, "application/json", "no-store"},
		{"page below a payment", "GET", "/form/abc/def", 404, "application/json", "no-store"},
		{"bad payment id", "GET", "/form/a.b", 404, "application/json", "no-store"},
		{"too long payment id", "GET", "/form/" + strings.Repeat("a", 65), 404, "application/json", "no-store"},
		{"dot segments", "GET", "/form/assets/../index.html", 404, "application/json", "no-store"},
		{"index by name", "GET", "/form/assets/index.html", 404, "application/json", "no-store"},
		{"double slash", "GET", "/form/assets//form.js", 404, "application/json", "no-store"},
		{"post", "POST", "/form/abc", 405, "application/json", "no-store"},
		{"delete asset", "DELETE", "/form/assets/form.js", 405, "application/json", "no-store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := serveForm(t, h, tt.method, tt.path, nil)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			if got := res.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type %q, want %q", got, tt.contentType)
			}
			if got := res.Header.Get("Cache-Control"); got != tt.cache {
				t.Errorf("Cache-Control %q, want %q", got, tt.cache)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if tt.status == 405 && res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", res.Header.Get("Allow"))
			}
			body, _ := io.ReadAll(res.Body)
			if tt.status >= 400 && !strings.Contains(string(body), `"code":`) {
				t.Errorf("error body %q is not the API's JSON error", body)
			}
			if tt.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD answered a body of %d bytes", len(body))
			}
		})
	}
}

func TestFormHandlerSecurityHeaders(t *testing.T) {
	tests := []struct {
		name      string
		ancestors []string
		want      string
	}{
		{"default", nil, "frame-ancestors *"},
		{"desktop", []string{"'self'", "https://desk.example.com", "*.example.net:443"}, "frame-ancestors 'self' https://desk.example.com *.example.net:443"},
		{"none", []string{"'none'"}, "frame-ancestors 'none'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := formHandler(tt.ancestors...)
			for _, p := range []string{"/form/abc", "/form/assets/form.js"} {
				res := serveForm(t, h, "GET", p, nil)
				csp := res.Header.Get("Content-Security-Policy")
				for _, d := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "object-src 'none'", "base-uri 'none'", tt.want} {
					if !strings.Contains(csp, d+";") && !strings.HasSuffix(csp, d) {
						t.Errorf("%s: CSP %q lacks %q", p, csp, d)
					}
				}
				if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
					t.Errorf("%s: CSP %q allows inline script or eval", p, csp)
				}
				// frame-ancestors says who may frame the form; DENY would
				// break the agent desktop's iframe.
				if xfo := res.Header.Get("X-Frame-Options"); xfo != "" {
					t.Errorf("%s: X-Frame-Options %q", p, xfo)
				}
				if rp := res.Header.Get("Referrer-Policy"); rp != "no-referrer" {
					t.Errorf("%s: Referrer-Policy %q", p, rp)
				}
			}
		})
	}
}

func TestFormHandlerETag(t *testing.T) {
	h := formHandler()
	res := serveForm(t, h, "GET", "/form/assets/form.js", nil)
	etag := res.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on an asset")
	}
	res = serveForm(t, h, "GET", "/form/assets/form.js", map[string]string{"If-None-Match": etag})
	if res.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match: status %d, want 304", res.StatusCode)
	}
}

func TestValidateFrameAncestors(t *testing.T) {
	tests := []struct {
		name    string
		sources []string
		ok      bool
	}{
		{"any", []string{"*"}, true},
		{"self", []string{"'self'"}, true},
		{"none", []string{"'none'"}, true},
		{"none with others", []string{"'none'", "'self'"}, false},
		{"scheme", []string{"https:"}, true},
		{"host", []string{"https://desk.example.com:8443"}, true},
		{"wildcard host", []string{"*.example.com"}, true},
		{"ipv6", []string{"http://[::1]:8080"}, true},
		{"empty", []string{""}, false},
		{"semicolon", []string{"https://a.example; script-src *"}, false},
		{"comma", []string{"https://a.example,https://b.example"}, false},
		{"space", []string{"https://a.example https://b.example"}, false},
		{"newline", []string{"https://a.example\r\nX-Evil: 1"}, false},
		{"quote", []string{"'unsafe-inline'"}, false},
		{"too long", []string{"https://" + strings.Repeat("a", 300) + ".example"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateFrameAncestors(tt.sources)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateFrameAncestors(%q) = %v, want ok %v", tt.sources, err, tt.ok)
			}
		})
	}
	if _, err := loadFormFiles([]string{"x;y"}); err == nil || !strings.Contains(err.Error(), "http.frame_ancestors") {
		t.Fatalf("loadFormFiles with a bad source: %v, want an error naming http.frame_ancestors", err)
	}
}

// externalURL finds a URL with a scheme and host in the form's files: the
// form must fetch nothing from anywhere but its own origin (no CDN, no
// fonts), which the CSP enforces and this keeps honest. An SVG's xmlns
// is a name, not a fetch.
var externalURL = regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)

func TestFormHasNoExternalURL(t *testing.T) {
	ff := mustFormFiles(nil)
	if len(ff.files) < 4 {
		t.Fatalf("only %d form files embedded", len(ff.files))
	}
	for name, a := range ff.files {
		body := strings.ReplaceAll(string(a.body), `xmlns="http://www.w3.org/2000/svg"`, "")
		if m := externalURL.FindString(body); m != "" {
			t.Errorf("%s refers to %q", name, m)
		}
	}
	page := string(ff.files["index.html"].body)
	if strings.Contains(page, "<script>") || regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]+</script>`).MatchString(page) {
		t.Error("index.html has an inline script")
	}
	if regexp.MustCompile(`\son[a-z]+=`).MatchString(page) {
		t.Error("index.html has an inline event handler")
	}
	if strings.Contains(page, "style=") {
		t.Error("index.html has an inline style")
	}
}

func TestConfigFrameAncestors(t *testing.T) {
	tests := []struct {
		name      string
		ancestors []string
		wantErr   bool
	}{
		{"default", DefaultConfig().FrameAncestors, false},
		{"none given", nil, false},
		{"desktop", []string{"https://desk.example.com"}, false},
		{"injection", []string{"https://desk.example.com; script-src *"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.FrameAncestors = tt.ancestors
			err := c.Validate()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Validate() = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "http.frame_ancestors") {
				t.Errorf("error %q does not name http.frame_ancestors", err)
			}
		})
	}
	if got := DefaultConfig().FrameAncestors; len(got) != 1 || got[0] != "*" {
		t.Errorf("default frame ancestors %q, want [*]", got)
	}
}

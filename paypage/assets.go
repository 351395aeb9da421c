package paypage

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"text/template"
)

// pageFS holds the page: index.html (a template for its integrity
// attributes) and assets/ (its one script module, its style sheet, its
// icon). Plain files, no build step, nothing from a CDN: what is in the
// repository is what the caller's browser runs.
//
//go:embed page/index.html page/assets
var pageFS embed.FS

// assetTypes are the content types of the page's files, by extension. A
// file of any other extension is refused at start, so the browser never
// has to sniff one (X-Content-Type-Options: nosniff).
var assetTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// assetPurposes say why each asset is on the page: PCI DSS v4.0 6.4.3
// asks for a written justification of every script a payment page loads.
// An embedded asset without one is refused at start, so a file cannot
// join the page unnoticed.
var assetPurposes = map[string]string{
	"assets/page.js": "The page's only script: reads the link token from the URL fragment, " +
		"checks the card as it is typed (brand, Luhn check, expiry, security code length), " +
		"reports each field's length and the caller's presence, and submits the card to /pay/api/pay.",
	"assets/page.css": "The page's only style sheet.",
	"assets/icon.svg": "The page's icon (a padlock).",
}

// asset is one file as served.
type asset struct {
	body        []byte
	contentType string
	etag        string
	// sri is its SHA-384 in the Subresource Integrity form
	// ("sha384-" and standard base64).
	sri string
}

func newAsset(name string, body []byte) (asset, error) {
	ct, ok := assetTypes[path.Ext(name)]
	if !ok {
		return asset{}, fmt.Errorf("paypage: %s: no content type for its extension", name)
	}
	sum := sha256.Sum256(body)
	return asset{
		body:        body,
		contentType: ct,
		etag:        `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`,
		sri:         sriOf(body),
	}, nil
}

// sriOf returns body's SHA-384 as an integrity attribute's value.
func sriOf(body []byte) string {
	sum := sha512.Sum384(body)
	return "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
}

// sha256Of returns body's SHA-256 in standard base64.
func sha256Of(body []byte) string {
	sum := sha256.Sum256(body)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// pageFiles are the page's files by their path under /pay/
// ("index.html", "assets/page.js") and the inventory of them.
type pageFiles struct {
	files     map[string]asset
	integrity []byte
}

// loadPageFiles reads the embedded files, puts the assets' hashes into
// index.html's integrity attributes (the template's {{sri "assets/…"}};
// an unknown name fails), and builds integrity.json. headers are the
// security headers every response carries, as headerLines writes them.
func loadPageFiles(headers [][2]string) (*pageFiles, error) {
	pf := &pageFiles{files: make(map[string]asset)}
	err := fs.WalkDir(pageFS, "page/assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := strings.TrimPrefix(p, "page/")
		if _, ok := assetPurposes[name]; !ok {
			return fmt.Errorf("paypage: %s: no purpose is written for it (assetPurposes)", name)
		}
		body, err := pageFS.ReadFile(p)
		if err != nil {
			return err
		}
		a, err := newAsset(name, body)
		if err != nil {
			return err
		}
		pf.files[name] = a
		return nil
	})
	if err != nil {
		return nil, err
	}
	for name := range assetPurposes {
		if _, ok := pf.files[name]; !ok {
			return nil, fmt.Errorf("paypage: %s: a purpose is written for it but it is not embedded", name)
		}
	}
	src, err := pageFS.ReadFile("page/index.html")
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New("index.html").Funcs(template.FuncMap{
		"sri": func(name string) (string, error) {
			a, ok := pf.files[name]
			if !ok {
				return "", fmt.Errorf("no asset %s", name)
			}
			return a.sri, nil
		},
	}).Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("paypage: index.html: %w", err)
	}
	var page bytes.Buffer
	if err := tmpl.Execute(&page, nil); err != nil {
		return nil, fmt.Errorf("paypage: index.html: %w", err)
	}
	if pf.files["index.html"], err = newAsset("index.html", page.Bytes()); err != nil {
		return nil, err
	}
	if pf.integrity, err = pf.inventory(headers); err != nil {
		return nil, err
	}
	return pf, nil
}

// inventoryEntry is one file of integrity.json.
type inventoryEntry struct {
	Path string `json:"path"`
	// Integrity is its SHA-384, as the page's integrity attribute has it.
	Integrity string `json:"integrity"`
	Purpose   string `json:"purpose"`
}

// inventory is integrity.json: what the page is made of, for a monitor
// to compare with what it fetches (docs/paypage.md).
type inventory struct {
	// Page is index.html as served at /pay/, its SHA-256.
	Page struct {
		Path   string `json:"path"`
		SHA256 string `json:"sha256"`
	} `json:"page"`
	Scripts []inventoryEntry `json:"scripts"`
	Styles  []inventoryEntry `json:"styles"`
	Other   []inventoryEntry `json:"other"`
	// Headers are the security headers of every response, and the
	// SHA-256 of their lines: lower-case name, ": ", value, "\n", sorted
	// by name.
	Headers struct {
		SHA256 string            `json:"sha256"`
		Values map[string]string `json:"values"`
	} `json:"headers"`
}

func (pf *pageFiles) inventory(headers [][2]string) ([]byte, error) {
	var inv inventory
	inv.Page.Path = "/pay/"
	inv.Page.SHA256 = sha256Of(pf.files["index.html"].body)
	names := make([]string, 0, len(pf.files))
	for name := range pf.files {
		if name != "index.html" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	inv.Scripts, inv.Styles, inv.Other = []inventoryEntry{}, []inventoryEntry{}, []inventoryEntry{}
	for _, name := range names {
		e := inventoryEntry{Path: "/pay/" + name, Integrity: pf.files[name].sri, Purpose: assetPurposes[name]}
		switch path.Ext(name) {
		case ".js":
			inv.Scripts = append(inv.Scripts, e)
		case ".css":
			inv.Styles = append(inv.Styles, e)
		default:
			inv.Other = append(inv.Other, e)
		}
	}
	inv.Headers.SHA256 = sha256Of(headerLines(headers))
	inv.Headers.Values = make(map[string]string, len(headers))
	for _, h := range headers {
		inv.Headers.Values[h[0]] = h[1]
	}
	b, err := json.MarshalIndent(inv, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// headerLines writes headers as integrity.json hashes them: one line per
// header, its name in lower case, ": ", its value, "\n", sorted by name.
func headerLines(headers [][2]string) []byte {
	lines := make([]string, 0, len(headers))
	for _, h := range headers {
		lines = append(lines, strings.ToLower(h[0])+": "+h[1]+"\n")
	}
	slices.Sort(lines)
	return []byte(strings.Join(lines, ""))
}

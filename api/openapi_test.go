package api

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// The document served lists exactly the routes the mux serves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newTestEnv(t, envOptions{})
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	code, b, h := e.req("GET", "/v1/openapi.json", "", "")
	if code != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", code, h.Get("Content-Type"))
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	var inDoc, inMux []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				inDoc = append(inDoc, strings.ToUpper(method)+" "+path)
			}
		}
	}
	for _, rt := range e.srv.routes {
		inMux = append(inMux, rt.method+" "+rt.path)
	}
	slices.Sort(inDoc)
	slices.Sort(inMux)
	if !slices.Equal(inDoc, inMux) {
		t.Errorf("document:\n%s\nmux:\n%s", strings.Join(inDoc, "\n"), strings.Join(inMux, "\n"))
	}
}

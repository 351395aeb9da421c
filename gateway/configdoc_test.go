package gateway

import (
	"os"
	"strings"
	"testing"
)

// TestConfigurationReferenceIsComplete keeps docs/configuration.md true:
// its "## Keys" table has a row for every key of the configuration (a
// section added by another package is caught here), with the key's
// environment variable (or "file only") and whether SIGHUP reloads it,
// and no row for a key that does not exist.
func TestConfigurationReferenceIsComplete(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	start := strings.Index(text, "\n## Keys\n")
	if start < 0 {
		t.Fatal(`docs/configuration.md has no "## Keys" section`)
	}
	text = text[start+len("\n## Keys\n"):]
	if end := strings.Index(text, "\n## "); end >= 0 {
		text = text[:end]
	}
	type row struct{ env, reload string }
	rows := map[string]row{}
	for line := range strings.SplitSeq(text, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 7 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		key := strings.Trim(strings.TrimSpace(cells[1]), "`")
		rows[key] = row{env: strings.Trim(strings.TrimSpace(cells[4]), "`"), reload: strings.TrimSpace(cells[5])}
	}
	keys := map[string]bool{}
	for _, k := range configKeys() {
		keys[k.Path] = true
		r, ok := rows[k.Path]
		if !ok {
			t.Errorf("docs/configuration.md lacks a row for %s", k.Path)
			continue
		}
		wantEnv := k.Env
		if k.Kind == keyFileOnly {
			wantEnv = "file only"
		}
		if r.env != wantEnv {
			t.Errorf("%s: environment %q in the document, want %q", k.Path, r.env, wantEnv)
		}
		wantReload := "restart"
		if isReloadable(k.Path) {
			wantReload = "SIGHUP"
		}
		if r.reload != wantReload {
			t.Errorf("%s: reload %q in the document, want %q", k.Path, r.reload, wantReload)
		}
	}
	for key := range rows {
		if !keys[key] {
			t.Errorf("docs/configuration.md documents %s, which is not a key", key)
		}
	}
	for _, f := range serveFlags {
		if !strings.Contains(string(doc), "`--"+f.name+"` (`"+f.key+"`)") {
			t.Errorf("docs/configuration.md does not list the flag --%s", f.name)
		}
	}
	for name := range extraEnv {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/configuration.md does not list %s", name)
		}
	}
}

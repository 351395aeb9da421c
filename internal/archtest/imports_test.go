// Package archtest holds tests about the shape of the code base itself.
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "dtmfgw"

// layer returns the rank of one of our packages in the one-way import order
// cmd → demo/offline → gateway → api/sip → payment → call → media/mask →
// media → media/rtcp → dtmf
// (docs/code.md): a package may import only packages of a lower rank, or
// of its own top-level folder. Leaf helpers under internal/ sit just above
// dtmf, so media and the command line can share them but dtmf stays free
// of everything of ours.
func layer(pkg string) (rank float64, top string) {
	rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	top, _, _ = strings.Cut(rel, "/")
	if top == "media" && (strings.HasPrefix(rel, "media/mask") || strings.HasPrefix(rel, "media/rtcp")) {
		// The masking pipeline is a concern of its own, above the
		// sockets it is handed packets by; RTCP one below them.
		top = rel
	}
	if top == "internal" {
		// Each internal helper is its own concern.
		parts := strings.SplitN(rel, "/", 3)
		if len(parts) > 1 {
			top = "internal/" + parts[1]
		}
	}
	switch {
	case top == "dtmf":
		return 0, top
	case strings.HasPrefix(top, "internal/"):
		return 0.5, top
	case top == "media/rtcp":
		return 0.75, top
	case top == "media":
		return 1, top
	case top == "media/mask":
		return 1.25, top
	case top == "processor", top == "store", top == "sms":
		// The payment domain's hand-offs: payment calls them;
		// they import nothing of ours but internal helpers.
		return 1.5, top
	case top == "call":
		// The call domain: the calls over media, and their presses.
		return 2, top
	case top == "cluster":
		// The nodes sharing one store: over store only, for the API and
		// the gateway.
		return 2.5, top
	case top == "payment":
		// The payment domain: it takes a call's presses, so it sits
		// just above the call domain, which knows nothing of it.
		return 2.25, top
	case top == "sip", top == "api", top == "webhook", top == "paypage":
		// webhook delivers the payments' results from the store's
		// outbox; paypage is the caller's hosted payment page, beside
		// the API on the public listener.
		return 3, top
	case top == "metrics":
		// The exporter reads sip, call, payment, store and processor;
		// only the gateway imports it.
		return 3.5, top
	case top == "gateway":
		// The wiring of all of the above into one running dtmfgw, and its
		// configuration; the command line, the demo and the end-to-end
		// tests run it.
		return 3.75, top
	case top == "demo", top == "offline", top == "bench", top == "e2e":
		// The command's features beside serve (the demo; the offline
		// tools), the load tools and the end-to-end tests: each may
		// import the gateway, and nothing of ours imports them but cmd.
		return 4, top
	case top == "cmd":
		return 5, top
	}
	return 4, top
}

func TestImportsFlowOneWay(t *testing.T) {
	checked := 0
	for from, imports := range ourImports(t, true) {
		fromRank, fromTop := layer(from)
		for _, imp := range imports {
			if imp != module && !strings.HasPrefix(imp, module+"/") {
				continue
			}
			checked++
			toRank, toTop := layer(imp)
			if toTop == fromTop || strings.HasPrefix(fromTop, "internal/") && strings.HasPrefix(toTop, "internal/") {
				// Within one concern anything goes; internal helpers may use
				// each other (Go itself refuses a cycle).
				continue
			}
			// Tests of internal helpers may use the whole engine they serve
			// (the detector corpus drives dtmf), but nothing may import upward.
			if toRank >= fromRank {
				t.Errorf("%s imports %s: imports must flow cmd → demo/offline → gateway → api/sip → payment → call → media → dtmf", from, imp)
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no imports between our packages: the check did not run")
	}
}

func TestLayerRanks(t *testing.T) {
	order := []string{"dtmfgw/dtmf/g711", "dtmfgw/internal/capture", "dtmfgw/media/rtcp", "dtmfgw/media", "dtmfgw/media/mask", "dtmfgw/processor", "dtmfgw/call", "dtmfgw/payment", "dtmfgw/sip", "dtmfgw/metrics", "dtmfgw/gateway", "dtmfgw/demo", "dtmfgw/cmd/dtmfgw"}
	for i := 1; i < len(order); i++ {
		a, _ := layer(order[i-1])
		b, _ := layer(order[i])
		if a >= b {
			t.Errorf("%s (rank %v) must sit below %s (rank %v)", order[i-1], a, order[i], b)
		}
	}
	// The API sits beside sip: above the two domains, below cmd
	// (cmd → api → payment → call).
	for _, below := range []string{"dtmfgw/call", "dtmfgw/payment", "dtmfgw/store"} {
		if a, _ := layer(below); a >= mustRank(t, "dtmfgw/api") {
			t.Errorf("%s must sit below dtmfgw/api", below)
		}
	}
	if mustRank(t, "dtmfgw/api") >= mustRank(t, "dtmfgw/cmd/dtmfgw") {
		t.Error("dtmfgw/api must sit below dtmfgw/cmd/dtmfgw")
	}
	// The gateway sits just below the command line and beside nothing:
	// above everything it wires (metrics too), below what runs it.
	for _, above := range []string{"dtmfgw/demo", "dtmfgw/offline", "dtmfgw/e2e", "dtmfgw/cmd/dtmfgw"} {
		if mustRank(t, "dtmfgw/gateway") >= mustRank(t, above) {
			t.Errorf("dtmfgw/gateway must sit below %s", above)
		}
	}
	// The demo and the offline tools are the command's: only cmd may
	// import them; they do not import each other.
	for _, feature := range []string{"dtmfgw/demo", "dtmfgw/offline"} {
		if mustRank(t, feature) >= mustRank(t, "dtmfgw/cmd/dtmfgw") {
			t.Errorf("%s must sit below dtmfgw/cmd/dtmfgw", feature)
		}
		for _, other := range []string{"dtmfgw/demo", "dtmfgw/offline", "dtmfgw/gateway", "dtmfgw/e2e", "dtmfgw/bench/sipload", "dtmfgw/api"} {
			if other != feature && mustRank(t, other) > mustRank(t, feature) {
				t.Errorf("%s could import %s", other, feature)
			}
		}
	}
	if _, top := layer("dtmfgw/internal/audiofile/x"); top != "internal/audiofile" {
		t.Errorf("internal helpers are their own concern, got %q", top)
	}
}

func mustRank(t *testing.T, pkg string) float64 {
	t.Helper()
	r, _ := layer(pkg)
	return r
}

// testSupport reports whether pkg is one of the packages that exist only
// for tests: the test kit and the harnesses under it.
func testSupport(pkg string) bool {
	return pkg == module+"/internal/testkit" || strings.HasPrefix(pkg, module+"/internal/testkit/")
}

// TestProductDoesNotImportTheTestKit keeps test support out of the
// product binary: only tests, the test kit itself, end-to-end tests and
// the benchmarks' load tools may use it.
func TestProductDoesNotImportTheTestKit(t *testing.T) {
	checked := 0
	for from, imports := range ourImports(t, false) {
		checked++
		if testSupport(from) || strings.HasPrefix(from, module+"/bench/") || strings.HasPrefix(from, module+"/e2e") {
			continue
		}
		for _, imp := range imports {
			if testSupport(imp) {
				t.Errorf("%s imports %s: product code must not import the test kit", from, imp)
			}
		}
	}
	if checked == 0 {
		t.Fatal("listed no packages: the check did not run")
	}
}

// ourImports lists every package of the module with what it imports (and,
// with tests, what its tests import), from go list.
func ourImports(t *testing.T, tests bool) map[string][]string {
	t.Helper()
	format := `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`
	if tests {
		format += `{{range .TestImports}} {{.}}{{end}}`
	}
	out, err := exec.Command("go", "list", "-f", format, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	pkgs := make(map[string][]string)
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 0 {
			pkgs[f[0]] = f[1:]
		}
	}
	return pkgs
}

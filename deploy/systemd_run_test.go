package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// needTool fails the test loudly when a Debian tool it drives is missing
// (make deps installs them), rather than skipping it.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package %s (make deps does)", name, pkg)
	}
	return p
}

// buildDtmfgw builds the gateway into a directory any user may read, for
// a run as the unit's unprivileged user.
func buildDtmfgw(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dtmfgw-unit-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "dtmfgw")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/dtmfgw").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestSystemdFilterAllowsWhatDtmfgwCalls plays the demo call (the gateway
// with SIP, RTP, masking, the API, SQLite and a payment) under strace, as
// an unprivileged user as the unit's DynamicUser is, and checks what it
// did against the unit's sandbox as systemd would enforce it: every system
// call inside SystemCallFilter as systemd-analyze expands its groups (a
// call outside it fails with the unit's SystemCallErrorNumber), every socket family in
// RestrictAddressFamilies, no writable and executable mapping
// (MemoryDenyWriteExecute) and no new namespace (RestrictNamespaces). The
// process's whole output, every logger's, is searched for the card too.
func TestSystemdFilterAllowsWhatDtmfgwCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gateway and plays the demo call under strace, about 12 s: make test runs it")
	}
	analyze := needTool(t, "systemd-analyze", "systemd")
	strace := needTool(t, "strace", "strace")
	bin := buildDtmfgw(t)
	u, err := parseUnit(systemdUnit)
	if err != nil {
		t.Fatal(err)
	}

	// The filter: lines without ~ allow, lines with ~ deny (systemd.exec(5)).
	allow, deny := map[string]bool{}, map[string]bool{}
	for _, line := range u["Service"]["SystemCallFilter"] {
		into := allow
		if rest, ok := strings.CutPrefix(line, "~"); ok {
			into, line = deny, rest
		}
		for _, name := range strings.Fields(line) {
			for _, sc := range expandSyscalls(t, analyze, name, 0) {
				into[sc] = true
			}
		}
	}
	if len(allow) < 100 || len(deny) == 0 {
		t.Fatalf("the filter expands to %d allowed and %d denied calls: not what the unit says", len(allow), len(deny))
	}
	families := strings.Fields(u["Service"]["RestrictAddressFamilies"][0])

	trace := filepath.Join(t.TempDir(), "strace.out")
	args := []string{"-f", "-qq", "-o", trace}
	if os.Geteuid() == 0 {
		// As root, SQLite chowns its journal to the database's owner;
		// as the unit's user it does not.
		args = append(args, "-u", "nobody")
	}
	args = append(args, bin, "demo", "--http-listen", "127.0.0.1:0", "--wait", "0s", "--linger", "0s")
	cmd := exec.Command(strace, args...)
	cmd.Env = append(os.Environ(), "TMPDIR=/tmp")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dtmfgw demo under strace: %v\n%s", err, out)
	} else if !strings.Contains(string(out), "approved") {
		t.Fatalf("the demo call did not end approved:\n%s", out)
	} else if strings.Contains(string(out), "42424242") {
		// The process's whole output, whatever logger wrote it (a
		// library's default one included): the demo card
		// 4242 4242 4242 4242 may show its last four only.
		t.Errorf("the demo's output holds the card number:\n%s", out)
	}

	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	call := regexp.MustCompile(`^\d+\s+([a-z0-9_]+)\((.*)`)
	used := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := call.FindStringSubmatch(sc.Text())
		if m == nil {
			continue // a resumed call, a signal, an exit
		}
		name, rest := m[1], m[2]
		used[name]++
		switch {
		case name == "socket":
			fam, _, _ := strings.Cut(rest, ",")
			if !slices.Contains(families, fam) {
				t.Errorf("socket(%s…): outside RestrictAddressFamilies %v", fam, families)
			}
		case (name == "mmap" || name == "mprotect") && strings.Contains(rest, "PROT_WRITE") && strings.Contains(rest, "PROT_EXEC"):
			t.Errorf("%s(%s: writable and executable, refused by MemoryDenyWriteExecute", name, rest)
		case strings.Contains(rest, "CLONE_NEW") || name == "unshare" || name == "setns":
			t.Errorf("%s(%s: a new namespace, refused by RestrictNamespaces", name, rest)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if used["sendto"] == 0 || used["socket"] == 0 {
		t.Fatalf("the trace shows no network calls (%d kinds of call): strace did not follow the gateway", len(used))
	}
	for name, n := range used {
		if !allow[name] || deny[name] {
			t.Errorf("%s (%d calls): outside the unit's SystemCallFilter: under systemd it would fail", name, n)
		}
	}
	t.Logf("%d kinds of system call, all inside the unit's filter", len(used))
}

// expandSyscalls returns the system calls a SystemCallFilter name stands
// for: itself, or a group's members, groups expanded, as systemd-analyze
// syscall-filter lists them.
func expandSyscalls(t *testing.T, analyze, name string, depth int) []string {
	t.Helper()
	if !strings.HasPrefix(name, "@") {
		return []string{name}
	}
	if depth > 8 {
		t.Fatalf("syscall group %s nests too deep", name)
	}
	out, err := exec.Command(analyze, "syscall-filter", name).Output()
	if err != nil {
		t.Fatalf("systemd-analyze syscall-filter %s: %v", name, err)
	}
	var calls []string
	for i, line := range strings.Split(string(out), "\n") {
		line, _, _ = strings.Cut(line, "#")
		line = strings.TrimSpace(line)
		if i == 0 || line == "" {
			continue // the group's own name, comments
		}
		calls = append(calls, expandSyscalls(t, analyze, line, depth+1)...)
	}
	if len(calls) == 0 {
		t.Fatalf("systemd-analyze knows no syscall group %s", name)
	}
	return calls
}

package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"dtmfgw/call"
	"dtmfgw/sip"
)

const systemdUnit = "systemd/dtmfgw.service"

// unitFile is a parsed systemd unit: section → key → values in order (a
// key may repeat, e.g. SystemCallFilter).
type unitFile map[string]map[string][]string

// parseUnit reads the subset of systemd.syntax(7) the unit uses: sections,
// KEY=VALUE lines, # and ; comments. A line it does not understand is an
// error, so a typo cannot hide a key.
func parseUnit(path string) (unitFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
			continue
		case strings.HasSuffix(line, `\`):
			return nil, &os.PathError{Op: "parse", Path: path, Err: errLine(n, "line continuations are not supported here")}
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			return nil, &os.PathError{Op: "parse", Path: path, Err: errLine(n, "not KEY=VALUE in a section")}
		}
		key = strings.TrimSpace(key)
		u[section][key] = append(u[section][key], strings.TrimSpace(value))
	}
	return u, sc.Err()
}

type lineError struct {
	line int
	msg  string
}

func (e lineError) Error() string { return "line " + strconv.Itoa(e.line) + ": " + e.msg }

func errLine(n int, msg string) error { return lineError{n, msg} }

// get returns the last value of a [Service] key (systemd: a later
// assignment wins for single-valued keys).
func (u unitFile) get(section, key string) (string, bool) {
	v := u[section][key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// systemdSeconds parses a systemd time span as the unit writes them: "45s",
// "2min", or bare seconds.
func systemdSeconds(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(strings.Replace(s, "min", "m", 1))
}

// TestSystemdUnitHardening checks the unit's essentials: the hardening keys,
// a stop timeout above the drain timeout, descriptors for every port of the
// default RTP range, reload on SIGHUP.
func TestSystemdUnitHardening(t *testing.T) {
	u, err := parseUnit(systemdUnit)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ key, want string }{
		{"Type", "exec"},
		{"DynamicUser", "yes"},
		{"StateDirectory", "dtmfgw"},
		{"WorkingDirectory", "/var/lib/dtmfgw"},
		{"ConfigurationDirectory", "dtmfgw"},
		{"ProtectSystem", "strict"},
		{"ProtectHome", "yes"},
		{"PrivateTmp", "yes"},
		{"PrivateDevices", "yes"},
		{"NoNewPrivileges", "yes"},
		{"LimitCORE", "0"}, // a core dump would hold the card digits being captured
		{"CapabilityBoundingSet", ""},
		{"AmbientCapabilities", ""},
		{"RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
		{"RestrictNamespaces", "yes"},
		{"RestrictSUIDSGID", "yes"},
		{"MemoryDenyWriteExecute", "yes"},
		{"LockPersonality", "yes"},
		{"SystemCallArchitectures", "native"},
		{"UMask", "0077"},
		{"KillSignal", "SIGTERM"},
		{"ExecReload", "/bin/kill -HUP $MAINPID"},
	} {
		got, ok := u.get("Service", tc.key)
		if !ok || got != tc.want {
			t.Errorf("[Service] %s = %q (set: %v), want %q", tc.key, got, ok, tc.want)
		}
	}
	if exec, _ := u.get("Service", "ExecStart"); !strings.HasPrefix(exec, "/usr/local/bin/dtmfgw serve") {
		t.Errorf("ExecStart = %q, want /usr/local/bin/dtmfgw serve ...", exec)
	}
	if filters := u["Service"]["SystemCallFilter"]; len(filters) == 0 || filters[0] != "@system-service" {
		t.Errorf("SystemCallFilter = %q, want @system-service first", filters)
	}

	stop, _ := u.get("Service", "TimeoutStopSec")
	d, err := systemdSeconds(stop)
	if err != nil {
		t.Fatalf("TimeoutStopSec %q: %v", stop, err)
	}
	if d <= sip.DefaultDrainTimeout {
		t.Errorf("TimeoutStopSec %v is not above sip.drain_timeout's default %v: systemd would kill calls mid-drain", d, sip.DefaultDrainTimeout)
	}

	// Every RTP/RTCP pair of the default range open at once (two pairs per
	// call, two sockets per pair), plus room for SIP, HTTP and the database.
	nofile, _ := u.get("Service", "LimitNOFILE")
	n, err := strconv.Atoi(nofile)
	if err != nil {
		t.Fatalf("LimitNOFILE %q: %v", nofile, err)
	}
	sockets := 2 * call.DefaultMediaConfig().RTPPorts.Pairs()
	if n < sockets+1024 {
		t.Errorf("LimitNOFILE %d < %d RTP/RTCP sockets of the default range + 1024", n, sockets)
	}
}

// TestSystemdAnalyze runs systemd's own checks on the unit (make deps
// installs systemd-analyze; no systemd need be running): verify (syntax,
// unknown keys, the executable) and security (the exposure score,
// offline).
func TestSystemdAnalyze(t *testing.T) {
	bin := needTool(t, "systemd-analyze", "systemd")
	unit, err := os.ReadFile(systemdUnit)
	if err != nil {
		t.Fatal(err)
	}
	// verify wants ExecStart's binary to exist and be executable: point it
	// at a stand-in under a temporary directory.
	dir := t.TempDir()
	stand := filepath.Join(dir, "dtmfgw")
	if err := os.WriteFile(stand, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "dtmfgw.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/dtmfgw", stand)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Exposure is printed 0.0 (locked down) to 10.0 (unprotected) but
	// --threshold counts tenths: 20 is 2.0. The unit scores 1.2.
	out, err = exec.Command(bin, "security", "--offline=true", "--threshold=20", path).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security above 2.0: %v\n%s", err, out)
	}
}

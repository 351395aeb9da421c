package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// serveCLI runs `dtmfgw serve` with args and environ, as run would, and
// returns the exit code and what it wrote.
func serveCLI(t *testing.T, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	err := serve(context.Background(), args, environ, nil, &o, &e)
	code = exitCode(err)
	if code == 1 {
		e.WriteString(err.Error())
	}
	return code, o.String(), e.String()
}

// TestServeCheckAndPrintConfig: --check-config says whether the
// configuration from the file, the environment and the flags is valid,
// naming the key and where the value came from when it is not;
// --print-config prints it with secrets redacted. Neither starts a
// gateway.
func TestServeCheckAndPrintConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dtmfgw.yaml")
	if err := os.WriteFile(path, []byte("storage:\n  dsn: postgres://dtmfgw:hunter2@db.example/dtmfgw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := serveCLI(t, nil, "--check-config"); code != 0 || out != "configuration valid\n" {
		t.Errorf("defaults: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, _, errOut := serveCLI(t, []string{"DTMFGW_SIP_LISTEN=nowhere"}, "--check-config", "--config", path, "--log-level", "loud")
	for _, want := range []string{"configuration refused", `DTMFGW_SIP_LISTEN (sip.listen): "nowhere" is not IP:port`, "--log-level (log.level)"} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("exit %d, stderr lacks %q:\n%s", code, want, errOut)
		}
	}
	code, out, errOut := serveCLI(t, nil, "--print-config", "--config", path, "--sip-listen", "127.0.0.1:5111")
	if code != 0 || !strings.Contains(out, "listen: 127.0.0.1:5111") || !strings.Contains(out, "postgres://dtmfgw:<redacted>@db.example") || strings.Contains(out, "hunter2") {
		t.Errorf("--print-config: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
}

func TestServeUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"-h"}, 0},
		{[]string{"extra"}, 2},
		{[]string{"--nope"}, 2},
	} {
		code, out, errOut := serveCLI(t, nil, c.args...)
		if code != c.code || out != "" || !strings.Contains(errOut, "usage: dtmfgw serve") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", c.args, code, out, errOut)
		}
	}
}

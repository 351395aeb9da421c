package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dtmfgw/internal/testkit"
)

// TestServeRefusesATakenPort: a listener that cannot open (its port taken)
// ends serve with an error naming the key, after closing what was already
// open — not a panic in the clean-up (the bug: the clean-up used the named
// result, nil by then).
func TestServeRefusesATakenPort(t *testing.T) {
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	first := testkit.FreeRange(t, testkit.ZoneE2E, 4)
	for _, c := range []struct{ key, yaml string }{
		{"http.listen", "http:\n  listen: " + busy.Addr().String() + "\nadmin:\n  listen: 127.0.0.1:0\n"},
		{"admin.listen", "http:\n  listen: 127.0.0.1:0\nadmin:\n  listen: " + busy.Addr().String() + "\n"},
	} {
		t.Run(c.key, func(t *testing.T) {
			cfg := fmt.Sprintf("sip:\n  listen: 127.0.0.1:0\nmedia:\n  rtp_ports: %d-%d\nstorage:\n  dsn: sqlite:%s\n%s",
				first, first+7, filepath.Join(dir, "dtmfgw.db"), c.yaml)
			path := filepath.Join(t.TempDir(), "dtmfgw.yaml")
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			code := run(context.Background(), []string{"serve", "--config", path, "--api-key", "taken-port-key-0123456789"}, &bytes.Buffer{}, &stderr)
			if code != 1 || !strings.Contains(stderr.String(), c.key+":") || !strings.Contains(stderr.String(), "address already in use") {
				t.Fatalf("exit %d, want 1 naming %s; stderr:\n%s", code, c.key, stderr.String())
			}
		})
	}
}

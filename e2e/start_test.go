package e2e

import (
	"net"
	"strings"
	"testing"
)

// TestStartRefusesATakenPort: a listener that cannot open (its port taken)
// ends the start with an error naming the key, after closing what was
// already open — not a panic in the clean-up (the bug: the clean-up used
// the named result, nil by then).
func TestStartRefusesATakenPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, c := range []struct{ key, yaml string }{
		{"http.listen", "http:\n  listen: " + busy.Addr().String() + "\n"},
		{"admin.listen", "admin:\n  listen: " + busy.Addr().String() + "\n"},
	} {
		t.Run(c.key, func(t *testing.T) {
			_, err := tryStartGateway(t, c.yaml)
			if err == nil || !strings.Contains(err.Error(), c.key+":") || !strings.Contains(err.Error(), "address already in use") {
				t.Fatalf("%v, want a refusal naming %s", err, c.key)
			}
		})
	}
}

// Package stripemock runs stripe-mock (github.com/stripe/stripe-mock),
// Stripe's own mock of its API, on a free loopback port, for the tests
// that talk to Stripe: it validates every request against Stripe's
// OpenAPI spec and answers with fixtures. `make tools` installs it into
// bin/; a test that cannot start it fails (never skips).
//
// stripe-mock is stateless: it answers with the same fixture whatever the
// card (a PaymentIntent or SetupIntent "requires_payment_method"), ignores
// Idempotency-Key, and returns search fixtures that match no metadata. A
// test that needs another outcome rewrites the answers in a proxy of its
// own.
package stripemock

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// StartTimeout bounds stripe-mock's start (it loads the whole OpenAPI
// spec: about a second).
const StartTimeout = 60 * time.Second

// Binary finds stripe-mock: $STRIPE_MOCK, bin/ at the repository's root
// (make tools; looked for from the working directory up), or $PATH.
func Binary() (string, error) {
	if p := os.Getenv("STRIPE_MOCK"); p != "" {
		return p, nil
	}
	if dir, err := os.Getwd(); err == nil {
		for range 8 { // a package directory is a few levels below the root
			p := filepath.Join(dir, "bin", "stripe-mock")
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				break
			}
			dir = filepath.Dir(dir)
		}
	}
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, nil
	}
	return "", errors.New("stripe-mock not found in $STRIPE_MOCK, bin/ or $PATH: run `make tools` (go install github.com/stripe/stripe-mock into bin/)")
}

// Start runs stripe-mock on loopback and returns its base URL
// ("http://127.0.0.1:PORT") and a stop function that kills it.
func Start() (baseURL string, stop func(), err error) {
	bin, err := Binary()
	if err != nil {
		return "", nil, err
	}
	// An empty port lets the system choose; both listeners on loopback.
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start %s: %w", bin, err)
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() { // until stripe-mock exits: keeps its pipe drained
			if addr, ok := ListeningAddr(sc.Text()); ok && !sent {
				found <- addr
				sent = true
			}
		}
		if !sent {
			close(found)
		}
	}()
	t := time.NewTimer(StartTimeout)
	defer t.Stop()
	select {
	case addr, ok := <-found:
		if !ok {
			stop()
			return "", nil, fmt.Errorf("%s exited without listening", bin)
		}
		return "http://" + addr, stop, nil
	case <-t.C:
		stop()
		return "", nil, fmt.Errorf("%s did not listen within %v", bin, StartTimeout)
	}
}

// ListeningAddr reads stripe-mock's "Listening for HTTP at address:
// 127.0.0.1:PORT" line.
func ListeningAddr(line string) (string, bool) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "Listening for HTTP at address: ")
	if !ok {
		return "", false
	}
	ap, err := netip.ParseAddrPort(rest)
	if err != nil || !ap.Addr().IsLoopback() || ap.Port() == 0 {
		return "", false
	}
	return ap.String(), true
}

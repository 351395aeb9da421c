// Command healthcheck is the Docker HEALTHCHECK of the dtmfgw image. The
// distroless runtime has no shell and no HTTP client, so this small static
// binary fetches one URL (default http://127.0.0.1:9464/healthz, the admin
// listener) and exits 0 when it answers 2xx within the timeout, 1 when it
// does not, 2 for a usage error.
//
//	healthcheck [--timeout 2s] [URL]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// defaultURL is the admin listener's liveness endpoint on its default port,
// reached over loopback inside the container.
const defaultURL = "http://127.0.0.1:9464/healthz"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stderr))
}

// run checks the URL the arguments name and returns the exit code.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 2*time.Second, "how long the whole check may take")
	if err := fs.Parse(args); err != nil || fs.NArg() > 1 || *timeout <= 0 {
		fmt.Fprintln(stderr, "usage: healthcheck [--timeout 2s] [URL]")
		return 2
	}
	url := defaultURL
	if fs.NArg() == 1 {
		url = fs.Arg(0)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := check(ctx, url); err != nil {
		fmt.Fprintf(stderr, "unhealthy: %v\n", err)
		return 1
	}
	return 0
}

// errStatus is a non-2xx answer.
var errStatus = errors.New("status")

// check fetches url and reports whether it answered 2xx.
func check(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// No proxy from the environment: the check is of this container.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	// Drain a little so the connection closes cleanly; the body is not used.
	io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("%w %d from %s", errStatus, res.StatusCode, url)
	}
	return nil
}

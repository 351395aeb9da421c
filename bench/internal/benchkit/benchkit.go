// Package benchkit holds what the benchmarks that run `dtmfgw serve` as
// a child process share (bench/loadrelay, bench/clusterload): building
// it from this tree, its environment, reading its admin listener, and
// quoting its log in an error.
package benchkit

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// BuildDtmfgw builds ./cmd/dtmfgw into dir with the go tool and returns
// the binary's path; the build's output goes to stderr.
func BuildDtmfgw(dir string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building dtmfgw: %w (or give -dtmfgw)", err)
	}
	out := filepath.Join(dir, "dtmfgw")
	cmd := exec.Command(goTool, "build", "-o", out, "dtmfgw/cmd/dtmfgw")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build dtmfgw/cmd/dtmfgw: %w", err)
	}
	return out, nil
}

// ServeEnv is this process's environment without DTMFGW_ variables, so
// that the gateway runs on its defaults and files whatever the shell has
// set, plus extra.
func ServeEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DTMFGW_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// HTTPGet GETs url and wants 200; the body (up to 16 MiB) goes to w if
// not nil.
func HTTPGet(ctx context.Context, c *http.Client, url string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if w == nil {
		w = io.Discard
	}
	if _, err := io.Copy(w, io.LimitReader(res.Body, 16<<20)); err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return nil
}

// SeriesValue returns the value of an unlabelled series in a Prometheus
// text exposition, or −1 if it is not there.
func SeriesValue(text, name string) int {
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				return int(f)
			}
		}
	}
	return -1
}

// LogTail returns the last n lines of the log file at path, introduced
// by who said them, for an error message; "" when there is none.
func LogTail(path, who string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	lines = lines[max(0, len(lines)-n):]
	return "\n  " + who + " said:\n    " + strings.Join(lines, "\n    ")
}

// LoadAverage returns the first field of /proc/loadavg (the 1-minute
// load), or "?", for a report's header.
func LoadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

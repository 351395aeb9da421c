// Package chromium starts the headless Chromium the browser tests drive
// with chromedp: Debian's chromium package, one browser per test, a
// missing one a failure that says what to install (a skipped browser test
// would pass unnoticed).
package chromium

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path is where Debian's chromium package puts the browser.
const Path = "/usr/bin/chromium"

// Start starts headless Chromium with a w×h window for t (and its
// subtests), stopped when t ends, and returns its context. extra adds
// allocator options to chromedp's defaults.
func Start(t testing.TB, w, h int, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if _, err := os.Stat(Path); err != nil {
		t.Fatalf("the browser tests need Chromium at %s: apt-get install chromium (make deps): %v", Path, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Path),
		chromedp.WindowSize(w, h),
	)
	opts = append(opts, extra...)
	if os.Geteuid() == 0 {
		// Chromium's sandbox refuses to run as root; we are root in CI.
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil { // start it, with no timeout
		t.Fatalf("starting %s: %v", Path, err)
	}
	return bctx
}

// ArtifactsDir is where a test's screenshots go: $DTMFGW_ARTIFACTS, or
// test-artifacts/sub at the repository's root (tests run in their
// package's folder, one below it), as an absolute path.
func ArtifactsDir(t testing.TB, sub string) string {
	t.Helper()
	dir := os.Getenv("DTMFGW_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "test-artifacts", sub)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// PollAcrossNavigation polls the JavaScript condition cond on the page of
// ctx until it holds, or deadline passes: a poll cut short because the
// page itself navigated (its old document gone) starts again on the new
// one. It returns the last error when the condition never held.
func PollAcrossNavigation(ctx context.Context, cond string, deadline time.Time) error {
	for {
		pctx, cancel := context.WithDeadline(ctx, deadline)
		_, err := chromedp.Run(pctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(time.Until(deadline))))
		cancel()
		if err == nil || time.Now().After(deadline) || !navigated(err) {
			return err
		}
	}
}

// navigated reports whether err is a page's evaluation failing because
// the page went away under it.
func navigated(err error) bool {
	s := err.Error()
	return strings.Contains(s, "navigated") || strings.Contains(s, "attached") || strings.Contains(s, "context")
}

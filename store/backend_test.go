package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
	"dtmfgw/internal/testkit/pgtest"
)

func TestMain(m *testing.M) {
	if dsn := os.Getenv(crashChildEnv); dsn != "" {
		os.Exit(crashChild(dsn))
	}
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

// backend is a database the whole suite runs against.
type backend struct {
	name string
	// fresh returns the DSN of a new, empty database for t.
	fresh func(t *testing.T) string
}

var backends = []backend{
	{"sqlite", func(t *testing.T) string {
		return "sqlite:" + filepath.Join(t.TempDir(), "db", "dtmfgw.db")
	}},
	{"postgres", func(t *testing.T) string { return pgtest.Fresh(t) }},
}

// eachBackend runs f as a subtest per backend.
func eachBackend(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b.fresh(t)) })
	}
}

// newTestClock returns a clock that moves 1 ms at every reading, so that
// every timestamp differs and ordering by time is deterministic.
func newTestClock() *testkit.Clock {
	return testkit.NewSteppingClock(time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC), time.Millisecond)
}

// openStore opens dsn with a test clock and closes it at the end of t.
func openStore(t *testing.T, dsn string, clock *testkit.Clock) *Store {
	t.Helper()
	return openStoreWith(t, dsn, clock)
}

// openStoreWith is openStore with more options.
func openStoreWith(t *testing.T, dsn string, clock *testkit.Clock, opts ...Option) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, dsn, append([]Option{WithClock(clock.Now)}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// ctxT is a context that ends with the test (or after 30 s).
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

package webhook

import (
	"os"
	"testing"

	"dtmfgw/internal/testkit/pgtest"
)

// TestMain stops the test PostgreSQL server once the tests are done.
func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.Stop()
	os.Exit(code)
}

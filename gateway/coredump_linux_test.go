package gateway

import (
	"syscall"
	"testing"
)

// TestDisableCoreDumps: after it, the process may write no core file (soft
// and hard limits zero).
func TestDisableCoreDumps(t *testing.T) {
	if err := disableCoreDumps(); err != nil {
		t.Fatal(err)
	}
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_CORE, &l); err != nil {
		t.Fatal(err)
	}
	if l.Cur != 0 || l.Max != 0 {
		t.Errorf("RLIMIT_CORE = %d/%d, want 0/0", l.Cur, l.Max)
	}
}

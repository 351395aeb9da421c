//go:build !linux

package gateway

// disableCoreDumps does nothing where there is no RLIMIT_CORE to set.
func disableCoreDumps() error { return nil }

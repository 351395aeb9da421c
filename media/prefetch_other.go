//go:build !amd64

package media

// prefetchSupported says prefetchLines does something here: a Reactor's
// legs then get no warm list, and handlers name nothing.
const prefetchSupported = false

// prefetchLines would fetch n cache lines from addr; Go has no portable
// prefetch, so elsewhere than amd64 it does nothing and the reactor's
// calls take their cache misses one by one.
func prefetchLines(addr, n uintptr) {}

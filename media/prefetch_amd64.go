package media

// prefetchSupported says prefetchLines does something here.
const prefetchSupported = true

// prefetchLines asks the processor to fetch n cache lines from addr into
// its caches, without waiting for them (prefetch_amd64.s).
func prefetchLines(addr, n uintptr)

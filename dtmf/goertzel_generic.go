//go:build !amd64

package dtmf

// feed runs the recurrences over xs, which must not run past the end of
// the current block; it reports whether the block is now complete.
func (g *goertzelBank) feed(xs []int16) bool { return g.feedGeneric(xs) }

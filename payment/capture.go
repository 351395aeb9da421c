package payment

import (
	"fmt"
	"io"
	"strconv"

	"dtmfgw/dtmf"
)

// capture is one field's card data while it is typed: ASCII digits in a
// buffer of fixed capacity, made once with the payment. It never grows
// (an Append beyond the capacity is refused, never reallocated), never
// becomes a string, and its whole backing array is zeroed by clear and
// zero, so no earlier digit survives in memory the buffer owns.
//
// A capture is not safe for concurrent use: the Payment's lock guards it.
type capture struct {
	b      []byte // len: digits typed; cap: the field's capacity
	zeroed bool   // after zero: refuses digits for good
}

// newCaptures makes one capture per capacity, all on one backing array
// (one allocation per payment). Each slice is capped at its own end, so
// no capture can reach into its neighbour's digits.
func newCaptures(capacities []int) []capture {
	total := 0
	for _, n := range capacities {
		total += n
	}
	backing := make([]byte, total)
	cs := make([]capture, len(capacities))
	off := 0
	for i, n := range capacities {
		cs[i].b = backing[off : off : off+n]
		off += n
	}
	return cs
}

// append adds a digit key ('0'–'9'). It reports false, and keeps nothing,
// for any other key, when the buffer is full, or after zero.
func (c *capture) append(k dtmf.Key) bool {
	if c.zeroed || k < '0' || k > '9' || len(c.b) == cap(c.b) {
		return false
	}
	n := len(c.b)
	c.b = c.b[:n+1]
	c.b[n] = byte(k)
	return true
}

// bytes returns the digits typed. The slice aliases the buffer: it is
// zeroed by clear and zero, and must not be kept beyond the lock.
func (c *capture) bytes() []byte { return c.b }

// len returns how many digits are typed.
func (c *capture) len() int { return len(c.b) }

// clear zeroes the whole buffer and empties it; digits may be typed again.
func (c *capture) clear() {
	full := c.b[:cap(c.b)]
	clear(full)
	c.b = full[:0]
}

// zero zeroes the whole buffer and refuses digits from then on: the
// payment is over (handed off, ended, timed out).
func (c *capture) zero() {
	c.clear()
	c.zeroed = true
}

// Format prints the buffer's length only, whatever the verb (%v, %+v,
// %#v, %s, %x…): a capture printed by mistake shows no digit.
func (c capture) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "capture("+strconv.Itoa(len(c.b))+" digits)")
}

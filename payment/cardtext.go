package payment

import "errors"

// ErrCardNumberInText is wrapped by every refusal of a free-text value
// (a reference, a cardholder name, a configuration's name or label) that
// holds what looks like a card number. The message names the value's key
// or field, never the value.
var ErrCardNumberInText = errors.New("payment: a card number in free text")

// Bounds of a card number in text: the shortest and longest PAN that
// ISO/IEC 7812 issues.
const (
	minTextPAN = 12
	maxTextPAN = 19
)

// isTextSeparator reports whether c may stand between the digits of a card
// number written out: "4111 1111 1111 1111", "4111-1111-…", "4111.1111.…".
func isTextSeparator(c byte) bool { return c == ' ' || c == '-' || c == '.' }

// HoldsCardNumber reports whether s holds what looks like a card number,
// so that free text (a reference, a name, a label) can be refused before
// it is stored, logged or sent: card numbers reach dtmfgw only through the
// caller's keypad.
//
// The rule, exactly: a group is a maximal run of ASCII digits; groups
// separated only by spaces, hyphens and dots (one or more) form a run.
// s holds a card number when some consecutive groups of one run — one
// group alone, or several — hold 12 to 19 digits together and those
// digits pass the Luhn check. So "4111 1111 1111 1111", "4111-1111-1111-
// 1111 123" (a security code after it) and "pan4111111111111111" are
// caught, while a 20-digit group, a date ("2026-12-07") or a phone number
// that fails Luhn is not. Groups are taken whole: a card number glued to
// more digits without a separator is not looked for inside them, which
// keeps long order numbers from being refused by chance.
//
// It allocates nothing and is linear in len(s) (at most 19 digits are
// checked from each group).
func HoldsCardNumber(s string) bool {
	// groups of the current run: start and end offsets in s.
	var starts, ends [maxTextPAN]int
	n := 0 // groups held (only the last maxTextPAN can still matter)
	i := 0
	for i < len(s) {
		if !isDigit(s[i]) {
			// A non-separator ends the run; a separator keeps it only if
			// a digit follows the separators.
			j := i
			for j < len(s) && isTextSeparator(s[j]) {
				j++
			}
			if j == i || j == len(s) || !isDigit(s[j]) {
				n = 0
				if j == i {
					j++
				}
			}
			i = j
			continue
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if n == maxTextPAN {
			// A group holds a digit at least: 19 groups back no window of
			// at most 19 digits can reach.
			copy(starts[:], starts[1:])
			copy(ends[:], ends[1:])
			n--
		}
		starts[n], ends[n] = i, j
		n++
		if runEndsInCard(s, starts[:n], ends[:n]) {
			return true
		}
		i = j
	}
	return false
}

// runEndsInCard reports whether the last groups of a run, ending with its
// newest, hold 12 to 19 digits that pass Luhn.
func runEndsInCard(s string, starts, ends []int) bool {
	var buf [maxTextPAN]byte
	digits := 0
	for k := len(starts) - 1; k >= 0; k-- {
		digits += ends[k] - starts[k]
		if digits > maxTextPAN {
			return false
		}
		if digits < minTextPAN {
			continue
		}
		n := 0
		for g := k; g < len(starts); g++ {
			n += copy(buf[n:], s[starts[g]:ends[g]])
		}
		if Luhn(buf[:n]) {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

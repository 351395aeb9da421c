package store

import (
	"fmt"
	"unicode"
)

// minDigitRun is the shortest run of digits refused as possible card data.
// Six digits are a card's issuer identification number; anything shorter
// (an amount, a count, a time of day) is ordinary text.
const minDigitRun = 6

// checkNoCardData refuses s when it holds a run of minDigitRun or more
// digits (any script's decimal digits). Digits separated by one space or
// dash still count as one run, since card numbers are usually written in
// groups ("4111 1111 1111 1111"). This is a safety net for a caller's
// mistake, not a filter: the text is refused whole, and the error names
// only the field.
func checkNoCardData(field, s string) error {
	if digitRun(s) >= minDigitRun {
		return fmt.Errorf("%w: %s holds a run of %d or more digits", ErrCardData, field, minDigitRun)
	}
	return nil
}

// digitRun returns the length, in digits, of the longest run of digits in
// s, where one space or dash between two digits does not end a run.
func digitRun(s string) int {
	longest, run := 0, 0
	sep := false // one separator seen since the last digit
	for _, r := range s {
		switch {
		case unicode.IsDigit(r):
			run++
			sep = false
			longest = max(longest, run)
		case run > 0 && !sep && (unicode.IsSpace(r) || unicode.Is(unicode.Pd, r)):
			sep = true
		default:
			run, sep = 0, false
		}
	}
	return longest
}

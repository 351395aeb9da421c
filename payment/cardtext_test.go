package payment

import (
	"strings"
	"testing"
)

func TestHoldsCardNumber(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"", false},
		{"order-7", false},
		{"4111111111111111", true},
		{"4111 1111 1111 1111", true},
		{"4111-1111-1111-1111", true},
		{"4111.1111.1111.1111", true},
		{"4111 - 1111 - 1111 - 1111", true},         // several separators
		{"card 4111 1111 1111 1111 exp 1228", true}, // inside a sentence
		{"4111 1111 1111 1111 123", true},           // a security code after it
		{"99 4111 1111 1111 1111", true},            // digits before it
		{"pan4111111111111111", true},               // glued to a word
		{"Mr 4111111111111111x", true},
		{"378282246310005", true},     // 15 digits (Amex)
		{"6221260000000000001", true}, // 19 digits (UnionPay)
		{"411111111111", false},       // 12 digits, Luhn fails
		{"411111111117", true},        // 12 digits, Luhn passes
		{"41111111111", false},        // 11 digits: too short whatever Luhn says
		{"4111111111111111111", false},
		{"42424242424242424242", false}, // 20 digits in one group: not a card number
		{"4111111111111111 0", true},    // the card number's group alone passes
		{"4111_1111_1111_1111", false},  // '_' is not a separator
		{"4111/1111/1111/1111", false},
		{"4111,1111,1111,1111", false},
		{"4111 1111 1111 111", false}, // 15 digits, Luhn fails
		{"2026-12-07", false},
		{"INV-2026-000123", false},
		{"+44 20 7946 0958", false},
		{"0000 0000 0000", true}, // Luhn passes on zeros: refused, like any 12-digit run that passes
		{"4111 1111 1111 1111.", true},
		{"4111 1111 1111 1111 ", true},
		{"x 4111 1111 1111 1111 x", true},
		{strings.Repeat("1 ", 40) + "4111111111111111", true}, // a long run of short groups
		{strings.Repeat("1", 60), false},
	} {
		if got := HoldsCardNumber(tc.s); got != tc.want {
			t.Errorf("HoldsCardNumber(%q) = %v, want %v", tc.s, got, tc.want)
		}
		if got := holdsCardNumberOracle(tc.s); got != tc.want {
			t.Errorf("oracle(%q) = %v, want %v (the test's oracle is wrong)", tc.s, got, tc.want)
		}
	}
}

func TestHoldsCardNumberAllocs(t *testing.T) {
	s := "reference 99 4111-1111-1111-1112 and 2026-12-07"
	if n := testing.AllocsPerRun(100, func() { _ = HoldsCardNumber(s) }); n != 0 {
		t.Fatalf("%v allocations per call", n)
	}
}

// holdsCardNumberOracle is HoldsCardNumber's rule written the slow way:
// split s into groups numbered by run, try every span of consecutive
// groups of a run, and check the digits with a Luhn of its own.
func holdsCardNumberOracle(s string) bool {
	type group struct {
		digits string
		run    int
	}
	var groups []group
	run := 0
	for i := 0; i < len(s); {
		if s[i] >= '0' && s[i] <= '9' {
			j := i
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			groups = append(groups, group{s[i:j], run})
			i = j
			continue
		}
		j := i
		for j < len(s) && strings.IndexByte(" -.", s[j]) >= 0 {
			j++
		}
		if j == i || j == len(s) || s[j] < '0' || s[j] > '9' {
			run++ // anything else, or separators not followed by a digit
			if j == i {
				j++
			}
		}
		i = j
	}
	for a := range groups {
		digits := ""
		for b := a; b < len(groups) && groups[b].run == groups[a].run; b++ {
			digits += groups[b].digits
			if len(digits) >= 12 && len(digits) <= 19 && oracleLuhn(digits) {
				return true
			}
		}
	}
	return false
}

// oracleLuhn sums digits from the left, doubling those an even distance
// from the right end.
func oracleLuhn(d string) bool {
	sum := 0
	for i := 0; i < len(d); i++ {
		v := int(d[i] - '0')
		if (len(d)-i)%2 == 0 {
			v = v*2%10 + v*2/10
		}
		sum += v
	}
	return sum%10 == 0
}

// FuzzHoldsCardNumber checks HoldsCardNumber against the oracle, and that
// a card number written out with any of the separators is found wherever
// it is put between two words.
func FuzzHoldsCardNumber(f *testing.F) {
	for _, s := range []string{"", "4111 1111 1111 1111", "ref 4111-1111-1111-1111 x", "411111111117", "2026-12-07",
		"4111.1111 - 1111..1111", "1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0", "pan4111111111111111", "\xff4111111111111111"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := HoldsCardNumber(s)
		if want := holdsCardNumberOracle(s); got != want {
			t.Fatalf("HoldsCardNumber(%q) = %v, the oracle says %v", s, got, want)
		}
		// The canary, its digits split by what s holds between them.
		const pan = "4111111111111111"
		var b strings.Builder
		b.WriteString(s + "x")
		for i := 0; i < len(pan); i++ {
			b.WriteByte(pan[i])
			if i+1 < len(pan) && len(s) > 0 {
				b.WriteByte(" -."[int(s[i%len(s)])%3])
			}
		}
		b.WriteString("x" + s)
		if !HoldsCardNumber(b.String()) {
			t.Fatalf("a written-out card number not found in %q", b.String())
		}
	})
}

package payment

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// withCheckDigit appends the Luhn check digit to body, computed the long
// way (double every second digit from the right of the full number), so
// that the tests do not judge Luhn by itself.
func withCheckDigit(body string) string {
	for d := byte('0'); d <= '9'; d++ {
		s := body + string(d)
		sum := 0
		for i := 0; i < len(s); i++ {
			v := int(s[len(s)-1-i] - '0')
			if i%2 == 1 {
				v *= 2
				if v > 9 {
					v -= 9
				}
			}
			sum += v
		}
		if sum%10 == 0 {
			return s
		}
	}
	panic("unreachable")
}

// fill pads prefix with '0' to n-1 digits and adds the check digit.
func fill(prefix string, n int) string {
	return withCheckDigit(prefix + strings.Repeat("0", n-1-len(prefix)))
}

// breakCheck changes the check digit so Luhn fails.
func breakCheck(pan string) string {
	last := pan[len(pan)-1]
	return pan[:len(pan)-1] + string('0'+(last-'0'+1)%10)
}

func TestBrandAndValidityPerBrand(t *testing.T) {
	cases := []struct {
		pan   string
		brand Brand
		valid bool
	}{
		// Published test numbers.
		{"4242424242424242", BrandVisa, true},
		{"4111111111111111", BrandVisa, true},
		{"4012888888881881", BrandVisa, true},
		{"4222222222222", BrandVisa, true}, // 13 digits
		{fill("4", 19), BrandVisa, true},
		{fill("4", 15), BrandVisa, false}, // Visa numbers are 13, 16 or 19 digits long
		{"5555555555554444", BrandMastercard, true},
		{"5105105105105100", BrandMastercard, true},
		{"2223003122003222", BrandMastercard, true},
		{fill("2221", 16), BrandMastercard, true},
		{fill("2720", 16), BrandMastercard, true},
		{fill("51", 19), BrandMastercard, false}, // 16 only
		{"378282246310005", BrandAmex, true},
		{"371449635398431", BrandAmex, true},
		{fill("34", 15), BrandAmex, true},
		{fill("34", 16), BrandAmex, false},
		{"6011111111111117", BrandDiscover, true},
		{"6011000990139424", BrandDiscover, true},
		{fill("644", 16), BrandDiscover, true},
		{fill("649", 19), BrandDiscover, true},
		{fill("65", 16), BrandDiscover, true},
		{fill("6011", 15), BrandDiscover, false},
		{"36227206271667", BrandDiners, true},
		{"3056930009020004", BrandDiners, true},
		{"38520000023237", BrandDiners, true},
		{fill("300", 14), BrandDiners, true},
		{fill("305", 14), BrandDiners, true},
		{fill("39", 16), BrandDiners, true},
		{fill("36", 13), BrandDiners, false},
		{"3566002020360505", BrandJCB, true},
		{"3530111333300000", BrandJCB, true},
		{fill("3528", 16), BrandJCB, true},
		{fill("3589", 19), BrandJCB, true},
		{fill("50", 12), BrandMaestro, true},
		{fill("56", 16), BrandMaestro, true},
		{fill("58", 19), BrandMaestro, true},
		{fill("6304", 16), BrandMaestro, true},
		{fill("6390", 16), BrandMaestro, true},
		{fill("67", 16), BrandMaestro, true},
		{fill("50", 11), BrandMaestro, false},
		{"6200000000000005", BrandUnionPay, true},
		{fill("622126", 16), BrandUnionPay, true}, // co-branded with Discover: UnionPay here
		{fill("62", 19), BrandUnionPay, true},
		{fill("62", 15), BrandUnionPay, false},
		// Ranges no brand here owns.
		{fill("1", 16), BrandUnknown, false},
		{fill("2220", 16), BrandUnknown, false},
		{fill("2721", 16), BrandUnknown, false},
		{fill("306", 16), BrandUnknown, false},
		{fill("35", 16), BrandUnknown, false}, // 3500…3527
		{fill("3590", 16), BrandUnknown, false},
		{fill("59", 16), BrandUnknown, false},
		{fill("6012", 16), BrandUnknown, false},
		{fill("643", 16), BrandUnknown, false},
		{fill("9", 16), BrandUnknown, false},
	}
	for _, tc := range cases {
		t.Run(tc.brand.String()+"/"+fmt.Sprint(len(tc.pan)), func(t *testing.T) {
			pan := []byte(tc.pan)
			if got := BrandOf(pan); got != tc.brand {
				t.Errorf("BrandOf = %v, want %v", got, tc.brand)
			}
			b, ok := ValidPAN(pan, nil)
			if b != tc.brand || ok != tc.valid {
				t.Errorf("ValidPAN = %v, %v; want %v, %v", b, ok, tc.brand, tc.valid)
			}
			if tc.valid {
				if _, ok := ValidPAN([]byte(breakCheck(tc.pan)), nil); ok {
					t.Error("valid with a wrong check digit")
				}
				if _, ok := ValidPAN(pan, []Brand{tc.brand}); !ok {
					t.Error("not valid with its brand accepted")
				}
				other := BrandVisa
				if tc.brand == BrandVisa {
					other = BrandAmex
				}
				if _, ok := ValidPAN(pan, []Brand{other}); ok {
					t.Error("valid with its brand not accepted")
				}
			}
		})
	}
}

// TestBrandRulesDisjoint: at most one rule matches any prefix (the rules
// read at most four digits, so four-digit prefixes cover all), and a brand
// once told from a prefix never changes as digits are added.
func TestBrandRulesDisjoint(t *testing.T) {
	for v := range 10000 {
		p := []byte(fmt.Sprintf("%04d", v))
		matches := 0
		for _, r := range brandRules {
			n := 0
			for _, c := range p[:r.digits] {
				n = n*10 + int(c-'0')
			}
			if uint32(n) >= r.lo && uint32(n) <= r.hi {
				matches++
			}
		}
		if matches > 1 {
			t.Fatalf("prefix %s matches %d rules", p, matches)
		}
		whole := BrandOf(p)
		for k := 1; k < len(p); k++ {
			if b := BrandOf(p[:k]); b != BrandUnknown && b != whole {
				t.Fatalf("prefix %s is %v, its first %d digits %v", p, whole, k, b)
			}
		}
	}
}

func TestBrandNeedsItsDigits(t *testing.T) {
	cases := []struct {
		typed string
		want  Brand
	}{
		{"", BrandUnknown}, {"4", BrandVisa}, {"5", BrandUnknown}, {"52", BrandMastercard},
		{"2", BrandUnknown}, {"22", BrandUnknown}, {"222", BrandUnknown}, {"2221", BrandMastercard},
		{"3", BrandUnknown}, {"37", BrandAmex}, {"30", BrandUnknown}, {"301", BrandDiners},
		{"35", BrandUnknown}, {"352", BrandUnknown}, {"3528", BrandJCB},
		{"6", BrandUnknown}, {"60", BrandUnknown}, {"601", BrandUnknown}, {"6011", BrandDiscover},
		{"62", BrandUnionPay}, {"64", BrandUnknown}, {"644", BrandDiscover}, {"65", BrandDiscover},
		{"4x", BrandVisa}, {"x4", BrandUnknown},
	}
	for _, tc := range cases {
		if got := BrandOf([]byte(tc.typed)); got != tc.want {
			t.Errorf("BrandOf(%q) = %v, want %v", tc.typed, got, tc.want)
		}
	}
}

func TestLuhn(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"", false}, {"0", true}, {"00", true}, {"18", true}, {"17", false}, {"79927398713", true},
		{"79927398710", false}, {"4242424242424242", true}, {"4242424242424241", false},
		{"4242 4242 4242 4242", false}, {"42424242424242a2", false},
	}
	for _, tc := range cases {
		if got := Luhn([]byte(tc.in)); got != tc.want {
			t.Errorf("Luhn(%q) = %v", tc.in, got)
		}
	}
	// Luhn catches every single-digit error and every adjacent
	// transposition but 09↔90.
	pan := "4539148803436467"
	if !Luhn([]byte(pan)) {
		t.Fatal("base number fails")
	}
	for i := range len(pan) {
		for d := byte('0'); d <= '9'; d++ {
			if d == pan[i] {
				continue
			}
			b := []byte(pan)
			b[i] = d
			if Luhn(b) {
				t.Errorf("single-digit error at %d passes", i)
			}
		}
	}
}

func TestPANComplete(t *testing.T) {
	visa16 := "4242424242424242"
	cases := []struct {
		name string
		pan  string
		want bool
	}{
		{"visa-15", visa16[:15], false},
		{"visa-16-valid", visa16, true},
		{"visa-16-bad-check-waits", breakCheck(visa16), false},
		{"visa-13-waits-for-hash", "4222222222222", false},
		{"visa-19", fill("4", 19), true},
		{"visa-19-bad-check", breakCheck(fill("4", 19)), true},
		{"mastercard-16-bad-check", breakCheck("5555555555554444"), true},
		{"mastercard-15", "555555555555444", false},
		{"amex-15", "378282246310005", true},
		{"amex-15-bad-check", breakCheck("378282246310005"), true},
		{"amex-14", "37828224631000", false},
		{"diners-36-14", "36227206271667", true},
		{"diners-38-14-waits", "38520000023237", false},
		{"diners-38-16", fill("38", 16), true},
		{"unknown-16-valid", fill("9", 16), true},
		{"unknown-16-bad", breakCheck(fill("9", 16)), false},
		{"unknown-19", fill("9", 19), true},
		{"empty", "", false},
	}
	for _, tc := range cases {
		if got := panComplete([]byte(tc.pan)); got != tc.want {
			t.Errorf("%s: panComplete(%d digits) = %v, want %v", tc.name, len(tc.pan), got, tc.want)
		}
	}
}

func TestExpiry(t *testing.T) {
	now := time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		mmyy  string
		valid bool
	}{
		{"0326", true},  // this month: valid to its last day
		{"0226", false}, // last month
		{"1225", false},
		{"0427", true},
		{"1230", true},
		{"0346", true},  // MaxExpiryYears ahead
		{"0446", false}, // beyond
		{"1299", false}, // 1999
		{"0026", false},
		{"1326", false},
		{"326", false},
		{"03265", false},
		{"03a6", false},
		{"", false},
	}
	for _, tc := range cases {
		if got := ValidExpiry([]byte(tc.mmyy), now); got != tc.valid {
			t.Errorf("ValidExpiry(%q) = %v, want %v", tc.mmyy, got, tc.valid)
		}
	}
	if m, y, ok := ExpiryOf([]byte("0730"), now); !ok || m != 7 || y != 2030 {
		t.Errorf("ExpiryOf(0730) = %d, %d, %v", m, y, ok)
	}
	// The month ends at midnight in now's location.
	lastDay := time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC)
	if !ValidExpiry([]byte("0326"), lastDay) || ValidExpiry([]byte("0326"), lastDay.Add(time.Second)) {
		t.Error("a card expiring 03/26 must be valid through 31 March and not after")
	}
}

func TestSecurityCode(t *testing.T) {
	cases := []struct {
		code  string
		brand Brand
		want  bool
	}{
		{"123", BrandVisa, true}, {"1234", BrandVisa, false}, {"12", BrandVisa, false},
		{"1234", BrandAmex, true}, {"123", BrandAmex, false},
		{"123", BrandMastercard, true}, {"123", BrandDiscover, true}, {"123", BrandDiners, true},
		{"123", BrandJCB, true}, {"123", BrandMaestro, true}, {"123", BrandUnionPay, true},
		{"123", BrandUnknown, true}, {"1234", BrandUnknown, true}, {"12", BrandUnknown, false},
		{"12a", BrandVisa, false},
	}
	for _, tc := range cases {
		if got := ValidSecurityCode([]byte(tc.code), tc.brand); got != tc.want {
			t.Errorf("ValidSecurityCode(%d digits, %v) = %v", len(tc.code), tc.brand, got)
		}
	}
}

func TestBrandText(t *testing.T) {
	for _, b := range AllBrands() {
		txt, err := b.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Brand
		if err := back.UnmarshalText([]byte(strings.ToUpper(string(txt)))); err != nil || back != b {
			t.Errorf("%v: round trip gave %v, %v", b, back, err)
		}
	}
	var b Brand
	for _, bad := range []string{"", "unknown", "visa ", "amexx"} {
		if err := b.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) accepted", bad)
		}
	}
	if _, err := Brand(99).MarshalText(); err == nil {
		t.Error("MarshalText of brand 99 succeeded")
	}
}

func TestCardChecksAllocateNothing(t *testing.T) {
	pan := []byte("5555555555554444")
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = ValidPAN(pan, AllBrands()[:3])
		_ = panComplete(pan)
		_ = ValidExpiry([]byte("1230"), time.Time{})
	})
	if allocs != 0 {
		t.Errorf("%v allocations per check", allocs)
	}
}

var sinkBool bool

func BenchmarkLuhnAndBrand(b *testing.B) {
	pans := [][]byte{[]byte("4242424242424242"), []byte("2223003122003222"), []byte("378282246310005"), []byte("6011111111111117")}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p := pans[i%len(pans)]
		sinkBool = Luhn(p) && BrandOf(p) != BrandUnknown
	}
}

func BenchmarkPANComplete(b *testing.B) {
	pan := []byte("4242424242424242")
	b.ReportAllocs()
	for b.Loop() {
		sinkBool = panComplete(pan)
	}
}

// FuzzCardChecks runs the card checks on any bytes: no panic, and the
// promises hold (a brand never changes as digits are added, a valid card
// number passes Luhn at a length its brand issues, an expiry's month is a
// month).
func FuzzCardChecks(f *testing.F) {
	for _, s := range []string{"4242424242424242", "378282246310005", "2221", "3528", "6011", "1230", "0000", "", "9", "62212600000"} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		whole := BrandOf(b)
		for k := range len(b) {
			if p := BrandOf(b[:k]); p != BrandUnknown && p != whole {
				t.Fatalf("brand %v of a prefix, %v of the whole", p, whole)
			}
		}
		if brand, ok := ValidPAN(b, nil); ok && (!Luhn(b) || !brand.ValidLength(len(b)) || !allDigits(b)) {
			t.Fatal("ValidPAN accepted a number that fails its own rules")
		}
		if Luhn(b) && !allDigits(b) {
			t.Fatal("Luhn accepted a non-digit")
		}
		_ = panComplete(b)
		if m, _, ok := ExpiryOf(b, now); ok && (m < 1 || m > 12) {
			t.Fatalf("month %d", m)
		}
		if ValidExpiry(b, now) && len(b) != 4 {
			t.Fatal("expiry of a length other than 4")
		}
		_ = ValidSecurityCode(b, whole)
	})
}

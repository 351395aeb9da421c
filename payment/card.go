package payment

import (
	"fmt"
	"strings"
	"time"

	"dtmfgw/internal/enumtext"
)

// Brand is a card scheme, told from the leading digits of the card number
// (the issuer identification number, ISO/IEC 7812-1). The zero Brand is
// BrandUnknown: too few digits yet, or a range no scheme here owns.
type Brand uint8

// The brands dtmfgw knows; brandRules holds their ranges.
const (
	BrandUnknown Brand = iota
	BrandVisa
	BrandMastercard
	BrandAmex
	BrandDiscover
	BrandDiners
	BrandJCB
	BrandMaestro
	BrandUnionPay

	numBrands
)

var brandText = enumtext.Table[Brand]{What: "payment: brand", Invalid: "invalid", FoldCase: true, Names: []string{
	BrandUnknown: "unknown", BrandVisa: "visa", BrandMastercard: "mastercard", BrandAmex: "amex",
	BrandDiscover: "discover", BrandDiners: "diners", BrandJCB: "jcb", BrandMaestro: "maestro", BrandUnionPay: "unionpay",
}}

// AllBrands returns every known brand, in a fixed order.
func AllBrands() []Brand {
	return []Brand{BrandVisa, BrandMastercard, BrandAmex, BrandDiscover, BrandDiners, BrandJCB, BrandMaestro, BrandUnionPay}
}

// String returns the brand's configuration name ("visa", "amex", …).
func (b Brand) String() string { return brandText.String(b) }

// MarshalText writes the brand's configuration name, for YAML and JSON.
func (b Brand) MarshalText() ([]byte, error) { return brandText.MarshalText(b) }

// UnmarshalText reads a brand's configuration name (ASCII case ignored).
// "unknown" is not a brand one can accept, so it is refused.
func (b *Brand) UnmarshalText(t []byte) error {
	if v, ok := brandText.Parse(t); ok && v != BrandUnknown {
		*b = v
		return nil
	}
	return fmt.Errorf("card brand %q: want one of %s", clip(t, 32), strings.Join(brandText.Names[BrandVisa:], ", "))
}

// lengths is a set of card-number lengths: bit n is length n.
type lengths uint32

func lengthRange(lo, hi int) lengths {
	var l lengths
	for n := lo; n <= hi; n++ {
		l |= 1 << n
	}
	return l
}

func (l lengths) has(n int) bool { return n >= 0 && n < 32 && l&(1<<n) != 0 }

func (l lengths) max() int {
	for n := 31; n > 0; n-- {
		if l.has(n) {
			return n
		}
	}
	return 0
}

// Card-number lengths (ISO/IEC 7812-1 allows 8–19; the schemes here issue
// 12–19).
const (
	MinPANLen = 12
	MaxPANLen = 19
)

// brandLengths are the card-number lengths each brand issues.
var brandLengths = [numBrands]lengths{
	BrandVisa:       1<<13 | 1<<16 | 1<<19,
	BrandMastercard: 1 << 16,
	BrandAmex:       1 << 15,
	BrandDiscover:   lengthRange(16, 19),
	BrandDiners:     lengthRange(14, 19),
	BrandJCB:        lengthRange(16, 19),
	BrandMaestro:    lengthRange(12, 19),
	BrandUnionPay:   lengthRange(16, 19),
}

// brandRule is one IIN range: the first digits leading digits, read as a
// number, lie in lo…hi. usual is the length most cards of the range have,
// at which a number whose Luhn check passes is taken as complete without
// waiting for `#`.
type brandRule struct {
	lo, hi uint32
	digits uint8
	usual  uint8
	brand  Brand
}

// brandRules are disjoint (a test proves it over every 6-digit prefix), so
// the first rule whose prefix is all typed decides the brand, and a brand
// once told never changes as more digits arrive. 622126–622925 are
// UnionPay cards that Discover's network also honours: all of 62 is
// UnionPay here. Maestro has no single published list; these are
// its ranges that no other scheme here claims.
var brandRules = [...]brandRule{
	{4, 4, 1, 16, BrandVisa},
	{51, 55, 2, 16, BrandMastercard},
	{2221, 2720, 4, 16, BrandMastercard},
	{34, 34, 2, 15, BrandAmex},
	{37, 37, 2, 15, BrandAmex},
	{6011, 6011, 4, 16, BrandDiscover},
	{644, 649, 3, 16, BrandDiscover},
	{65, 65, 2, 16, BrandDiscover},
	{300, 305, 3, 14, BrandDiners},
	{36, 36, 2, 14, BrandDiners},
	{38, 39, 2, 16, BrandDiners},
	{3528, 3589, 4, 16, BrandJCB},
	{50, 50, 2, 16, BrandMaestro},
	{56, 58, 2, 16, BrandMaestro},
	{6304, 6304, 4, 16, BrandMaestro},
	{6390, 6390, 4, 16, BrandMaestro},
	{67, 67, 2, 16, BrandMaestro},
	{62, 62, 2, 16, BrandUnionPay},
}

// maxRuleDigits is the longest prefix any rule reads.
const maxRuleDigits = 4

// ruleOf returns the rule the typed digits of pan fall in, or nil when no
// rule's prefix is complete and matching yet. pan holds ASCII digits.
func ruleOf(pan []byte) *brandRule {
	var prefix [maxRuleDigits + 1]uint32 // prefix[n]: the first n digits
	n := 0
	for n < len(pan) && n < maxRuleDigits {
		c := pan[n]
		if c < '0' || c > '9' {
			break
		}
		prefix[n+1] = prefix[n]*10 + uint32(c-'0')
		n++
	}
	for i := range brandRules {
		r := &brandRules[i]
		if int(r.digits) <= n {
			if v := prefix[r.digits]; v >= r.lo && v <= r.hi {
				return r
			}
		}
	}
	return nil
}

// BrandOf returns the brand of a card number, or of its first digits as
// they are typed: BrandUnknown until the digits that tell it are in (one
// for Visa, up to four for the 2-series Mastercard, JCB or Discover 6011).
// pan holds ASCII digits; it is read, never kept or copied.
func BrandOf(pan []byte) Brand {
	if r := ruleOf(pan); r != nil {
		return r.brand
	}
	return BrandUnknown
}

// ValidLength reports whether the brand issues card numbers of n digits.
func (b Brand) ValidLength(n int) bool { return b < numBrands && brandLengths[b].has(n) }

// SecurityCodeLen returns the length of the brand's security code: 4 for
// American Express (its CID), 3 for the others (CVV2, CVC2, CAV2, …). An
// unknown brand gives 0.
func (b Brand) SecurityCodeLen() int {
	switch {
	case b == BrandAmex:
		return 4
	case b == BrandUnknown || b >= numBrands:
		return 0
	}
	return 3
}

// Luhn reports whether pan, ASCII digits, passes the Luhn (mod 10) check
// of ISO/IEC 7812-1 Annex B. Anything but digits, or no digits, fails. It
// allocates nothing.
func Luhn(pan []byte) bool {
	if len(pan) == 0 {
		return false
	}
	sum := 0
	double := false
	for i := len(pan) - 1; i >= 0; i-- {
		c := pan[i]
		if c < '0' || c > '9' {
			return false
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// allDigits reports whether b is ASCII digits only.
func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ValidPAN reports whether pan is a whole card number dtmfgw would hand to
// a processor: a known brand, one of the lengths that brand issues, a
// passing Luhn check, and, when accepted is not empty, a brand in it.
func ValidPAN(pan []byte, accepted []Brand) (Brand, bool) {
	b := BrandOf(pan)
	if b == BrandUnknown || !b.ValidLength(len(pan)) || !Luhn(pan) {
		return b, false
	}
	return b, acceptedBrand(b, accepted)
}

func acceptedBrand(b Brand, accepted []Brand) bool {
	if len(accepted) == 0 {
		return true
	}
	for _, a := range accepted {
		if a == b {
			return true
		}
	}
	return false
}

// panComplete reports whether a card number being typed is whole, without
// waiting for `#`: at the longest length its brand issues (19 when the
// brand is unknown), or at its range's usual length when the Luhn check
// passes there. A 16-digit Visa is done at 16; a 19-digit one, whose first
// 16 digits pass the check by chance one time in ten, needs `#` or the
// agent. A number whose brand has one length (Mastercard, Amex) is done at
// that length whatever the check says: more digits cannot make it valid.
func panComplete(pan []byte) bool {
	n := len(pan)
	if n >= MaxPANLen {
		return true
	}
	usual, longest := 16, MaxPANLen
	if r := ruleOf(pan); r != nil {
		usual, longest = int(r.usual), brandLengths[r.brand].max()
	}
	return n >= longest || (n == usual && Luhn(pan))
}

// MaxExpiryYears bounds how far ahead an expiry date may lie. Cards are
// issued for at most a few years; a date decades ahead is a typing error.
const MaxExpiryYears = 20

// ExpiryOf reads an expiry date typed as MMYY. ok is false unless mmyy is
// four digits with a month of 01–12. The century is the one that puts the
// year nearest after now's, less 50 years (so "99" read in 2026 is 2099 if
// not past, 1999 otherwise).
func ExpiryOf(mmyy []byte, now time.Time) (month, year int, ok bool) {
	if len(mmyy) != 4 || !allDigits(mmyy) {
		return 0, 0, false
	}
	month = int(mmyy[0]-'0')*10 + int(mmyy[1]-'0')
	yy := int(mmyy[2]-'0')*10 + int(mmyy[3]-'0')
	if month < 1 || month > 12 {
		return 0, 0, false
	}
	year = now.Year()/100*100 + yy
	if year < now.Year()-50 {
		year += 100
	} else if year >= now.Year()+50 {
		year -= 100
	}
	return month, year, true
}

// ValidExpiry reports whether mmyy is an expiry date a processor would
// take at now: MMYY, a real month, not before now's month (a card is
// valid through the last day of its expiry month), and at most
// MaxExpiryYears ahead. now's location decides the month.
func ValidExpiry(mmyy []byte, now time.Time) bool {
	month, year, ok := ExpiryOf(mmyy, now)
	if !ok {
		return false
	}
	card := year*12 + month - 1
	cur := now.Year()*12 + int(now.Month()) - 1
	return card >= cur && card <= cur+MaxExpiryYears*12
}

// ValidSecurityCode reports whether code, ASCII digits, has the length of
// the brand's security code. For BrandUnknown any of 3 or 4 digits will
// do: the card number decides later.
func ValidSecurityCode(code []byte, b Brand) bool {
	if !allDigits(code) {
		return false
	}
	if want := b.SecurityCodeLen(); want != 0 {
		return len(code) == want
	}
	return len(code) == 3 || len(code) == 4
}

// clip returns at most n bytes of b as a string, for error messages about
// configuration text or a name a client sent (never card data). Text that
// holds a card number, whole or clipped, is not repeated: a card number
// typed into the wrong place must not reach a log through the error that
// refuses it.
func clip(b []byte, n int) string {
	if HoldsCardNumber(string(b)) {
		return cardNumberWithheld
	}
	if len(b) > n {
		b = b[:n]
	}
	if HoldsCardNumber(string(b)) {
		return cardNumberWithheld
	}
	return string(b)
}

// unmarshalName sets *v to the value of t that text names, or returns
// "<what> "<text>": <want>" with text clipped: it comes from a
// configuration file or a request and may be anything, a card number too.
func unmarshalName[E ~uint8](t enumtext.Table[E], v *E, text []byte, what, want string) error {
	got, ok := t.Parse(text)
	if !ok {
		return fmt.Errorf("%s %q: %s", what, clip(text, 32), want)
	}
	*v = got
	return nil
}

// cardNumberWithheld stands in an error message for a value that holds a
// card number.
const cardNumberWithheld = "(a value that looks like a card number, not repeated)"

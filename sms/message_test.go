package sms

import (
	"errors"
	"strings"
	"testing"
)

func TestValidE164(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"+441234567890", true},
		{"+14155552671", true},
		{"+12345678", true},          // 8 digits: the shortest
		{"+123456789012345", true},   // 15 digits: the longest
		{"+1234567", false},          // 7 digits
		{"+1234567890123456", false}, // 16 digits
		{"+0441234567890", false},    // a country code does not start with 0
		{"441234567890", false},      // no +
		{"0044441234567890", false},  // 00 is NormalizeE164's to read
		{"+44 1234 567890", false},   // spaces
		{"+44-1234-567890", false},
		{"+44123456789a", false},
		{"++441234567890", false},
		{"+", false},
		{"", false},
		{"+４４1234567890", false}, // full-width digits are not ASCII
	}
	for _, tc := range cases {
		if got := ValidE164(tc.in); got != tc.want {
			t.Errorf("ValidE164(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestNormalizeE164(t *testing.T) {
	cases := []struct {
		in, want string
		err      string // a part of the error, when one is wanted
	}{
		{in: "+441234567890", want: "+441234567890"},
		{in: "  +44 1234 567890 ", want: "+441234567890"},
		{in: "+44 (0)20 7946 0958", want: "+442079460958"},
		{in: "+44(0)2079460958", want: "+442079460958"},
		{in: "+1 (415) 555-2671", want: "+14155552671"},
		{in: "+1.415.555.2671", want: "+14155552671"},
		{in: "0044 20 7946 0958", want: "+442079460958"},
		{in: "00 1 415 555 2671", want: "+14155552671"},
		{in: "+49\t30\t1234567", want: "+49301234567"},
		{in: "+123456789012345", want: "+123456789012345"},
		{in: "", err: "empty"},
		{in: "   ", err: "empty"},
		{in: "07700 900123", err: "no country code"},
		{in: "(415) 555-2671", err: "no country code"},
		{in: "+", err: "no digits"},
		{in: "00", err: "no digits"},
		{in: "+0 20 7946 0958", err: "cannot start with 0"},
		{in: "000 44 20 7946 0958", err: "cannot start with 0"},
		{in: "+1 555 010", err: "7 digits"},
		{in: "+1234567890123456", err: "16 digits"},
		{in: "+44 20 7946 0958 ext 12", err: "a character other than"},
		{in: "+44/20/7946/0958", err: "a character other than"},
		{in: "44+2079460958", err: "not at the start"},
		{in: "++442079460958", err: "not at the start"},
		{in: "tel:+442079460958", err: "a character other than"},
		{in: strings.Repeat("1", 65), err: "longer than"},
		{in: "+44 20 7946 0958\n", want: "+442079460958"}, // surrounding space, a newline included
		{in: "+44 20\n7946 0958", err: "a character other than"},
	}
	for _, tc := range cases {
		got, err := NormalizeE164(tc.in)
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("NormalizeE164(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			if !ValidE164(got) {
				t.Errorf("NormalizeE164(%q) = %q, not valid E.164", tc.in, got)
			}
			continue
		}
		if err == nil || got != "" {
			t.Errorf("NormalizeE164(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
			continue
		}
		if !errors.Is(err, ErrInvalidNumber) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("NormalizeE164(%q) error %q; want ErrInvalidNumber with %q", tc.in, err, tc.err)
		}
		// The error never echoes the number: no run of 3 digits (it may
		// say "16 digits", "8 to 15").
		if longestDigitRun(err.Error()) >= 3 {
			t.Errorf("NormalizeE164(%q) error %q has a digit run", tc.in, err)
		}
	}
}

// longestDigitRun is the length of the longest run of ASCII digits in s.
func longestDigitRun(s string) int {
	best, run := 0, 0
	for i := 0; i < len(s); i++ {
		if '0' <= s[i] && s[i] <= '9' {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return best
}

func TestNewMessage(t *testing.T) {
	const token = "tok_9f8e7d6c5b4a39281706"
	m, err := NewMessage("+44 7700 900123", "pay_1", linkText(token), token)
	if err != nil {
		t.Fatal(err)
	}
	if m.To != "+447700900123" || m.PaymentID != "pay_1" || m.Body != linkText(token) {
		t.Errorf("NewMessage = %+v", []string{m.To, m.PaymentID, m.Body})
	}
	if want := linkText(RedactedMark); m.Redacted != want {
		t.Errorf("Redacted = %q, want %q", m.Redacted, want)
	}
	if len(m.ID) != 22 || !safeIdent(m.ID, MaxIDLen) {
		t.Errorf("ID = %q, want 22 characters of base64url", m.ID)
	}
	other, err := NewMessage("+447700900123", "pay_1", linkText(token), token)
	if err != nil || other.ID == m.ID {
		t.Errorf("a second message has id %q (first %q), %v", other.ID, m.ID, err)
	}
	if m, err := NewMessage("+447700900123", "", "no secret here", ""); err != nil || m.Redacted != m.Body {
		t.Errorf("a message without a secret: %v, %v", m, err)
	}

	for _, tc := range []struct {
		name                          string
		to, paymentID, body, secret   string
		wantNumberErr, wantInvalidErr bool
	}{
		{name: "local number", to: "07700 900123", body: linkText(token), secret: token, wantNumberErr: true, wantInvalidErr: true},
		{name: "secret not in body", to: "+447700900123", body: "hello", secret: token, wantInvalidErr: true},
		{name: "empty body", to: "+447700900123", body: " ", wantInvalidErr: true},
		{name: "body too long", to: "+447700900123", body: strings.Repeat("é", MaxBodyLen+1), wantInvalidErr: true},
		{name: "bad payment id", to: "+447700900123", paymentID: "pay 1\n", body: "x", wantInvalidErr: true},
	} {
		_, err := NewMessage(tc.to, tc.paymentID, tc.body, tc.secret)
		if errors.Is(err, ErrInvalidNumber) != tc.wantNumberErr || errors.Is(err, ErrInvalidMessage) != tc.wantInvalidErr {
			t.Errorf("%s: error %v", tc.name, err)
		}
		if err != nil && (!errors.Is(err, ErrPermanent) || strings.Contains(err.Error(), token) || longestDigitRun(err.Error()) >= 6) {
			t.Errorf("%s: error %q is not permanent or quotes a value", tc.name, err)
		}
	}
}

func TestMessageValidate(t *testing.T) {
	good := Message{ID: "m1", To: "+447700900123", Body: "b", Redacted: "r", PaymentID: "p1"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	longest := good
	longest.Body = strings.Repeat("😀", MaxBodyLen)
	if err := longest.Validate(); err != nil {
		t.Errorf("a body of MaxBodyLen characters: %v", err)
	}
	for _, tc := range []struct {
		field string
		edit  func(*Message)
	}{
		{"id", func(m *Message) { m.ID = "" }},
		{"id", func(m *Message) { m.ID = "a b" }},
		{"id", func(m *Message) { m.ID = strings.Repeat("a", MaxIDLen+1) }},
		{"to", func(m *Message) { m.To = "447700900123" }},
		{"body", func(m *Message) { m.Body = "" }},
		{"body", func(m *Message) { m.Body = "\xff" }},
		{"body", func(m *Message) { m.Body = strings.Repeat("é", MaxBodyLen+1) }},
		{"redacted", func(m *Message) { m.Redacted = strings.Repeat("é", maxRedactedLen+1) }},
		{"redacted", func(m *Message) { m.Redacted = "" }},
		{"payment_id", func(m *Message) { m.PaymentID = "p\n1" }},
	} {
		m := good
		tc.edit(&m)
		err := m.Validate()
		if !errors.Is(err, ErrInvalidMessage) || !strings.Contains(err.Error(), tc.field+":") {
			t.Errorf("%s: Validate = %v", tc.field, err)
		}
	}
}

func TestMaskedTo(t *testing.T) {
	for in, want := range map[string]string{
		"+447700900123": "+44*******123",
		"+12345678":     "+12***678",
		"0044":          "[invalid number]",
	} {
		if got := (Message{To: in}).MaskedTo(); got != want {
			t.Errorf("MaskedTo(%q) = %q, want %q", in, got, want)
		}
	}
}

package sms

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Seed corpora are in testdata/fuzz/FuzzXxx/.

// NormalizeE164 never panics; what it accepts is valid E.164, made of the
// input's digits in their order, and normalises to itself; its errors
// never quote the number.
func FuzzNormalizeE164(f *testing.F) {
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeE164(in)
		if err != nil {
			if out != "" {
				t.Fatalf("NormalizeE164(%q) = %q with an error", in, out)
			}
			if longestDigitRun(err.Error()) >= 3 {
				t.Fatalf("NormalizeE164(%q): the error has a digit run: %v", in, err)
			}
			return
		}
		if !ValidE164(out) {
			t.Fatalf("NormalizeE164(%q) = %q, not E.164", in, out)
		}
		if again, err := NormalizeE164(out); err != nil || again != out {
			t.Fatalf("NormalizeE164(%q) = %q, %v: not idempotent", out, again, err)
		}
		// The output's digits are the input's, in order, less a leading
		// 00 or a "(0)".
		rest := in
		for _, d := range out[1:] {
			i := strings.IndexRune(rest, d)
			if i < 0 {
				t.Fatalf("NormalizeE164(%q) = %q: digits not from the input", in, out)
			}
			rest = rest[i+1:]
		}
	})
}

// Whatever a provider sends, cleanText returns bounded, printable UTF-8
// with no number of minNumberRun digits left.
func FuzzCleanText(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		c := cleanText(s)
		if !utf8.ValidString(c) || utf8.RuneCountInString(c) > maxProviderText+1 {
			t.Fatalf("cleanText(%q) = %q", s, c)
		}
		for _, r := range c {
			if r != ' ' && !unicode.IsPrint(r) {
				t.Fatalf("cleanText(%q) = %q: a control character", s, c)
			}
		}
		if longestDigitRun(c) >= minNumberRun {
			t.Fatalf("cleanText(%q) = %q: a number is left", s, c)
		}
		if code := cleanCode(s); code != "" && (code != s || longestDigitRun(code) >= minNumberRun || strings.ContainsAny(code, " \r\n")) {
			t.Fatalf("cleanCode(%q) = %q", s, code)
		}
	})
}

// Any answer body and status becomes either a Receipt with a valid sid or
// an *Error whose text is bounded, holds no number and no piece of the
// message's token.
func FuzzTwilioAnswer(f *testing.F) {
	const token = "tok_fuzz_Zq9Xw8Vu7Ts6"
	m := Message{ID: "m1", To: testTo, Body: linkText(token), Redacted: linkText(RedactedMark), PaymentID: "p1"}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		rc, err := parseTwilioAnswer(status, body, m)
		if err == nil {
			if status/100 != 2 || !twilioMessageSID(rc.ProviderID) || statusWord(rc.Status) != rc.Status {
				t.Fatalf("status %d body %q: Receipt %+v", status, body, rc)
			}
			return
		}
		e, ok := err.(*Error)
		if !ok || e.Status != status || rc != (Receipt{}) {
			t.Fatalf("status %d body %q: %#v, %+v", status, body, err, rc)
		}
		if e.Transient && status/100 == 2 {
			t.Fatalf("status %d: a 2xx failure is transient: the message could be sent twice", status)
		}
		text := e.Code + " " + e.Message
		if longestDigitRun(text) >= minNumberRun || quotesSecret(text, m) || strings.ContainsAny(text, "\r\n\x00") {
			t.Fatalf("status %d body %q: error %q", status, body, text)
		}
		if utf8.RuneCountInString(e.Message) > maxProviderText+1 {
			t.Fatalf("a message of %d characters", utf8.RuneCountInString(e.Message))
		}
	})
}

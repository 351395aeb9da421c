package sms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"The 'To' number +14155552671 is not a valid phone number.", "The 'To' number +*********** is not a valid phone number."},
		{"The 'To' number +1 415-555-2671 is not valid", "The 'To' number +* ***-***-**** is not valid"},
		{"To (415) 555.2671", "To (***) ***.****"},
		{"+1 (415) 555-2671", "+* (***) ***-****"},
		{"Error 21211: invalid", "Error 21211: invalid"}, // a 5-digit code stays
		{"12345 6", "***** *"},                           // 6 digits in one number
		{"12345  6", "*****  *"},                         // two separators: one number
		{"12345   6", "12345   6"},                       // three: two numbers
		{"at 10:30 on 12.05", "at 10:30 on 12.05"},
		{"line\nbreak\tand\x00nul", "line break and nul"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{"  padded  ", "padded"},
		{"", ""},
	}
	for _, tc := range cases {
		if got := cleanText(tc.in); got != tc.want {
			t.Errorf("cleanText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	long := cleanText(strings.Repeat("é", 3*maxProviderText))
	if n := utf8.RuneCountInString(long); n != maxProviderText+1 || !strings.HasSuffix(long, "…") {
		t.Errorf("a long text is cut to %d characters: %q", n, long)
	}
}

func TestCleanCode(t *testing.T) {
	for in, want := range map[string]string{
		"21211": "21211", "20429": "20429", "bad_request": "bad_request",
		"123456": "", "a b": "", "": "", "21211\n": "", strings.Repeat("a", 17): "",
	} {
		if got := cleanCode(in); got != want {
			t.Errorf("cleanCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQuotesSecret(t *testing.T) {
	const token = "tok-AbCdEfGh12345678"
	m := linkMessage(t, "", token)
	for text, want := range map[string]bool{
		"echo: " + m.Body: true,
		"link …/p/" + token[:secretWindow] + "…":         true, // a clipped echo
		"link …/p/" + token[3:3+secretWindow]:            true,
		"link …/p/" + token[:secretWindow-1]:             false,
		"Pay to Example Ltd: https://pay.example.com/p/": false, // the rest of the text is not secret
		"": false,
	} {
		if got := quotesSecret(text, m); got != want {
			t.Errorf("quotesSecret(%q) = %v, want %v", text, got, want)
		}
	}
	plain := Message{Body: "no secret in this text", Redacted: "no secret in this text"}
	if quotesSecret("no secret in this text", plain) {
		t.Error("a message without a secret has one")
	}
	if got := providerMessage("echo: "+m.Body, m, "fallback"); got != withheld {
		t.Errorf("providerMessage = %q, want it withheld", got)
	}
	if got := providerMessage("\x00\x01", m, "fallback"); got != "fallback" {
		t.Errorf("providerMessage of control characters = %q", got)
	}
}

func TestErrorClass(t *testing.T) {
	cause := context.DeadlineExceeded
	transientErr := fmt.Errorf("wrapped: %w", &Error{Provider: "twilio", Code: CodeTimeout, Message: "slow", Transient: true, cause: cause})
	permanentErr := &Error{Provider: "twilio", Status: 400, Code: "21211", Message: "bad number"}
	if !errors.Is(transientErr, ErrTransient) || errors.Is(transientErr, ErrPermanent) || !errors.Is(transientErr, context.DeadlineExceeded) {
		t.Errorf("%v: the classes are wrong", transientErr)
	}
	if errors.Is(permanentErr, ErrTransient) || !errors.Is(permanentErr, ErrPermanent) {
		t.Errorf("%v: the classes are wrong", permanentErr)
	}
	if got, want := permanentErr.Error(), "sms: twilio: HTTP 400, code 21211: bad number (permanent)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(ErrInvalidMessage, ErrPermanent) {
		t.Error("ErrInvalidMessage is not permanent")
	}
	for err, want := range map[error]string{
		permanentErr:                           "21211",
		&Error{Status: 503}:                    "http_503",
		&Error{}:                               "error",
		fmt.Errorf("x: %w", ErrInvalidMessage): "invalid_message",
		errors.New("other"):                    "error",
	} {
		if got := errorCode(err); got != want {
			t.Errorf("errorCode(%v) = %q, want %q", err, got, want)
		}
	}
	if transient(permanentErr) || !transient(errors.New("a provider's own error")) {
		t.Error("transient: a permanent error retried, or an unknown one not")
	}
}

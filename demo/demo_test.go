package demo

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"dtmfgw/internal/cli"
	"dtmfgw/internal/testkit"
)

// TestDemoPlaysAnApprovedPayment is the proof of `dtmfgw demo`:
// run end to end in-process (gateway, simulated caller and agent), it
// prints the form URL, a masked line per key, the approved result, and
// no card digit but the last four.
func TestDemoPlaysAnApprovedPayment(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr testkit.Buffer
	err := Run(ctx, "test", []string{"--wait", "0", "--linger", "0", "--http-listen", "127.0.0.1:0"}, &stdout, &stderr)
	out := stdout.String()
	if err != nil {
		t.Fatalf("demo: %v; stdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	checks := []struct {
		what string
		re   *regexp.Regexp
		min  int
	}{
		{"the form URL", regexp.MustCompile(`(?m)^Agent form: http://127\.0\.0\.1:\d+/form/pay_\w+#token=[\w-]+$`), 1},
		{"a masked progress line per key", regexp.MustCompile(`(?m)^  form      (card_number|expiry|security_code) +•+`), 19},
		{"the masked card number", regexp.MustCompile(`card_number +complete, valid, visa •••• 4242`), 1},
		{"the result", regexp.MustCompile(`(?m)^  result    approved: visa •••• 4242, GBP 12\.50`), 1},
		{"the count", regexp.MustCompile(`23 key presses reached the payment as dots; the agent received \d+ RTP packets, 0 of them telephone-events`), 1},
		{"a clean end", regexp.MustCompile(`(?m)Done\.$`), 1},
	}
	for _, c := range checks {
		if n := len(c.re.FindAllString(out, -1)); n < c.min {
			t.Errorf("%s: %d lines match, want at least %d; stdout:\n%s", c.what, n, c.min, out)
		}
	}
	// No card digit beyond the last four: not the number, not its first
	// twelve, not the keys as typed; "4242" only as the masked last four.
	both := out + stderr.String()
	keys := string(scriptKeys(time.Now()))
	for _, leak := range []string{demoPAN, demoPAN[:12], "4242 4242", keys, keys[len(demoPAN):]} {
		if strings.Contains(both, leak) {
			t.Errorf("the output carries card data (%d digits of it)", len(leak))
		}
	}
	if all, masked := strings.Count(both, "4242"), strings.Count(both, "•••• 4242"); all != masked {
		t.Errorf("the output has %d runs of 4242, %d of them the masked last four", all, masked)
	}
}

func TestDemoRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--wait", "-1s"},
		{"--linger", "soon"},
		{"extra"},
	} {
		var stderr bytes.Buffer
		if err := Run(context.Background(), "test", args, &bytes.Buffer{}, &stderr); !errors.Is(err, cli.ErrUsage) {
			t.Errorf("%v: %v, want a usage error; stderr:\n%s", args, err, stderr.String())
		}
	}
}

// TestDemoPlaysADigitalPayment is the proof of `dtmfgw demo --type
// digital`: the link goes out by SMS to the outbox, the demo prints it,
// and the simulated caller pays on the hosted page; no card digit but the
// last four is printed.
func TestDemoPlaysADigitalPayment(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr testkit.Buffer
	err := Run(ctx, "test", []string{"--type", "digital", "--wait", "0", "--linger", "0", "--http-listen", "127.0.0.1:0"}, &stdout, &stderr)
	out := stdout.String()
	if err != nil {
		t.Fatalf("demo: %v; stdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	for _, c := range []struct {
		what string
		re   *regexp.Regexp
	}{
		{"the SMS", regexp.MustCompile(`(?m)^  sms       to \+447700900123: Card payment: pay GBP 12\.50 securely at http://127\.0\.0\.1:\d+/pay/#[\w-]{43} `)},
		{"the link", regexp.MustCompile(`(?m)^Payment link \(the caller's SMS\): http://127\.0\.0\.1:\d+/pay/#[\w-]{43}$`)},
		{"the dots", regexp.MustCompile(`(?m)^  form      card_number +•{16}$`)},
		{"the result", regexp.MustCompile(`(?m)^  result    approved: visa •••• 4242, GBP 12\.50`)},
		{"a clean end", regexp.MustCompile(`(?m)Done\.$`)},
	} {
		if !c.re.MatchString(out) {
			t.Errorf("%s: no line matches; stdout:\n%s", c.what, out)
		}
	}
	both := out + stderr.String()
	for _, leak := range []string{demoPAN, demoPAN[:12], "4242 4242"} {
		if strings.Contains(both, leak) {
			t.Errorf("the output carries card data (%d digits of it)", len(leak))
		}
	}
}

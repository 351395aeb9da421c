package e2e

// Key press → dot latency: from the caller's RTP packet
// arriving at the gateway to the dot drawn in the agent's form, measured
// in headless Chromium. The gateway stamps each field_length event with
// when the press's first packet arrived (payment.Event.PressAt); the form
// puts it on the dot as data-press-at and, in the animation frame after
// inserting the dot, data-drawn-at (both ms since the epoch, one clock:
// the same machine).

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"dtmfgw/internal/testkit/sipptest"
)

// latencyReport names a Markdown file (docs/reports/benchmarks.md) whose section
// for this measurement the latency test writes: make bench passes it.
var latencyReport = flag.String("latency-report", "", "write the key→dot latency figures into this Markdown file's section for them")

// Latency run: rounds of a whole card (number, expiry, security code)
// keyed by a fast caller, on one payment; the bar is the issue's.
const (
	latencyRounds = 7 // 7 × 23 = 161 presses
	latencyBar    = 100 * time.Millisecond
	minPresses    = 150
)

// latencyStats are the figures of a latency run.
type latencyStats struct {
	N                  int
	P50, P99, Max, Min time.Duration
}

// percentile returns the p-th percentile (nearest rank) of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func statsOf(d []time.Duration) latencyStats {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return latencyStats{}
	}
	return latencyStats{N: len(s), P50: percentile(s, 50), P99: percentile(s, 99), Max: s[len(s)-1], Min: s[0]}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var out []time.Duration
		for _, x := range v {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	for _, c := range []struct {
		in       []time.Duration
		p50, p99 time.Duration
	}{
		{nil, 0, 0},
		{ms(5), 5 * time.Millisecond, 5 * time.Millisecond},
		{ms(4, 1, 3, 2), 2 * time.Millisecond, 4 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 5 * time.Millisecond, 10 * time.Millisecond},
	} {
		s := statsOf(c.in)
		if s.P50 != c.p50 || s.P99 != c.p99 {
			t.Errorf("%v: p50 %v p99 %v, want %v %v", c.in, s.P50, s.P99, c.p50, c.p99)
		}
	}
}

// TestE2EKeyToDotLatency keys 161 presses at about 8 a second through
// SIPp and dtmfgw and measures each dot's drawn-at − press-at in the form.
// The bar, p99 < 100 ms, is the product requirement on this
// machine.
func TestE2EKeyToDotLatency(t *testing.T) {
	if raceEnabled {
		// make test runs it again without -race, where the figures mean
		// something: the race detector slows the gateway's Go code.
		t.Skip("timing is measured without the race detector: make test runs go test -run '^TestE2EKeyToDotLatency$' ./e2e")
	}
	card := sipptest.CanaryCard
	steps := make([]string, latencyRounds)
	for i := range steps {
		steps[i] = card + cardExpiry + cardCVC
	}
	r := startRun(t, "agent-latency", e2eOptions{}, steps...)
	b := r.browser
	var lat []time.Duration
	for round := range latencyRounds {
		if round == 0 {
			r.click("arm the card number", field("card_number")+" .arm")
		} else {
			// Clear the three fields; the last clear arms the card number,
			// and auto-advance arms the others as they complete.
			for _, f := range []string{"security_code", "expiry", "card_number"} {
				r.api.must(r.ctx, 200, "POST", "/v1/payments/"+r.payment.Payment.ID+"/fields/"+f+"/clear", nil, nil)
			}
		}
		b.until("card number armed and the form empty", fieldArmed("card_number", 0)+` && document.querySelectorAll('.dot').length === 0`, e2eWait)
		r.cue()
		b.until("the card keyed", fieldDone("card_number", 16, true)+" && "+fieldDone("expiry", 4, true)+" && "+fieldDone("security_code", 3, true), e2eWait)
		b.until("every dot drawn", `Array.from(document.querySelectorAll('.dot')).every(d => d.dataset.drawnAt)`, e2eWait)
		if round == 0 {
			b.shot("card-keyed")
		}
		pairs := eval[[][2]float64](b, `Array.from(document.querySelectorAll('.dot')).map(d => [Number(d.dataset.pressAt || 0), Number(d.dataset.drawnAt || 0)])`)
		if len(pairs) != 23 {
			t.Fatalf("round %d: %d dots, want 23", round+1, len(pairs))
		}
		for i, p := range pairs {
			if p[0] <= 0 || p[1] <= 0 {
				t.Fatalf("round %d: dot %d lacks data-press-at or data-drawn-at", round+1, i+1)
			}
			lat = append(lat, time.Duration((p[1]-p[0])*float64(time.Millisecond)))
		}
	}
	r.hangUp()
	r.checkArtifacts(card)

	s := statsOf(lat)
	gw := statsOf(gatewayLatencies(t, r.stream.String()))
	t.Logf("key press → dot: %d presses, p50 %v, p99 %v, max %v, min %v (bar: p99 < %v)", s.N, ms(s.P50), ms(s.P99), ms(s.Max), ms(s.Min), latencyBar)
	t.Logf("of which press → event published in the gateway: %d events, p50 %v, p99 %v, max %v", gw.N, ms(gw.P50), ms(gw.P99), ms(gw.Max))
	if s.N < minPresses {
		t.Errorf("%d presses measured, want at least %d", s.N, minPresses)
	}
	if s.Min < -5*time.Millisecond {
		t.Errorf("a dot drawn %v before its press arrived: the clocks disagree", ms(s.Min))
	}
	if *latencyReport != "" {
		ua := eval[string](b, `navigator.userAgent`)
		if err := writeLatencyReport(*latencyReport, s, gw, ua); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote the figures into %s", *latencyReport)
	}
	// The bar is a speed, so it is judged where speed is measured: make
	// bench, which asks for the report. Under make test the machine may
	// be busy with other tests, and the run proves the path (every press
	// a dot, stamped, in order) and logs the figures.
	if *latencyReport != "" && s.P99 >= latencyBar {
		t.Errorf("key press → dot p99 %v, the bar is < %v", ms(s.P99), latencyBar)
	}
}

// ms rounds a duration to 0.1 ms for printing.
func ms(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }

// The markers around the section the latency test owns in the report.
const (
	latencyBegin = "<!-- key-to-dot latency: written by TestE2EKeyToDotLatency (make bench) -->"
	latencyEnd   = "<!-- end of key-to-dot latency -->"
)

// writeLatencyReport puts the figures into path's section for them,
// replacing the old one or appending a new one.
func writeLatencyReport(path string, s, gw latencyStats, userAgent string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n## Key press → dot latency (agent form, headless Chromium)\n\n", latencyBegin)
	b.WriteString("From the caller's first RTP packet of a press arriving at dtmfgw (the payment event's `press_at`) to the dot drawn in the form (the animation frame after it is inserted, `data-drawn-at`), ")
	fmt.Fprintf(&b, "for %d RFC 4733 presses keyed by SIPp at about 8 a second (%v tones, %v gaps) through dtmfgw serving in-process, the form in headless Chromium on the same machine. The bar is p99 < %v.\n\n", s.N, pressTone, pressGap, latencyBar)
	fmt.Fprintf(&b, "- Command: `make bench  (go test -run '^TestE2EKeyToDotLatency$' -count=1 ./e2e -args -latency-report docs/reports/benchmarks.md)`\n")
	fmt.Fprintf(&b, "- Date: %s\n- CPUs: %d\n- Go: %s %s/%s\n- Browser: %s\n\n", time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, userAgent)
	verdict := "met"
	if s.P99 >= latencyBar {
		verdict = "NOT met"
	}
	b.WriteString("| presses | p50 | p99 | max | min | bar p99 < 100 ms |\n|---:|---:|---:|---:|---:|---|\n")
	fmt.Fprintf(&b, "| %d | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %s |\n\n", s.N, msf(s.P50), msf(s.P99), msf(s.Max), msf(s.Min), verdict)
	fmt.Fprintf(&b, "Of which inside dtmfgw, from the press's first packet to its event published (the event's `at` − `press_at`, read from the SSE stream): p50 %.2f ms, p99 %.2f ms, max %.2f ms over %d events; the rest is the SSE delivery and the browser's frame.\n%s\n", msf(gw.P50), msf(gw.P99), msf(gw.Max), gw.N, latencyEnd)
	text := string(old)
	if i := strings.Index(text, latencyBegin); i >= 0 {
		if j := strings.Index(text[i:], latencyEnd); j >= 0 {
			rest := strings.TrimPrefix(text[i+j+len(latencyEnd):], "\n")
			text = text[:i] + b.String() + rest
			return os.WriteFile(path, []byte(text), 0o644)
		}
	}
	if text != "" && !strings.HasSuffix(text, "\n\n") {
		text = strings.TrimRight(text, "\n") + "\n\n"
	}
	return os.WriteFile(path, []byte(text+b.String()), 0o644)
}

// gatewayLatencies reads the field_length events of an SSE stream and
// returns each one's at − press_at: the gateway's own share.
func gatewayLatencies(t *testing.T, stream string) []time.Duration {
	t.Helper()
	var out []time.Duration
	for line := range strings.Lines(stream) {
		data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: ")
		if !ok || !strings.Contains(data, `"press_at"`) {
			continue
		}
		var e struct {
			Type    string    `json:"type"`
			At      time.Time `json:"at"`
			PressAt time.Time `json:"press_at"`
		}
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatalf("SSE data: %v", err)
		}
		if e.Type == "field_length" && !e.PressAt.IsZero() {
			out = append(out, e.At.Sub(e.PressAt))
		}
	}
	return out
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func TestWriteLatencyReport(t *testing.T) {
	s := latencyStats{N: 161, P50: 12 * time.Millisecond, P99: 40 * time.Millisecond, Max: 55 * time.Millisecond, Min: 3 * time.Millisecond}
	for _, c := range []struct{ name, before string }{
		{"no file", ""},
		{"a report without the section", "# Benchmarks\n\n## dtmfgw/dtmf\n\n| x |\n"},
		{"a report with the section", "# Benchmarks\n\n" + latencyBegin + "\nold figures\n" + latencyEnd + "\n\n## after\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := t.TempDir() + "/benchmarks.md"
			if c.before != "" {
				if err := os.WriteFile(path, []byte(c.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for range 2 { // writing twice leaves one section
				if err := writeLatencyReport(path, s, s, "HeadlessChrome"); err != nil {
					t.Fatal(err)
				}
			}
			got := readFile(path)
			if strings.Count(got, latencyBegin) != 1 || strings.Count(got, latencyEnd) != 1 || strings.Contains(got, "old figures") {
				t.Errorf("report:\n%s", got)
			}
			if !strings.Contains(got, "| 161 | 12.0 ms | 40.0 ms | 55.0 ms | 3.0 ms | met |") {
				t.Errorf("figures missing:\n%s", got)
			}
			for _, keep := range []string{"# Benchmarks", "## after", "## dtmfgw/dtmf"} {
				if strings.Contains(c.before, keep) && !strings.Contains(got, keep) {
					t.Errorf("lost %q:\n%s", keep, got)
				}
			}
		})
	}
}

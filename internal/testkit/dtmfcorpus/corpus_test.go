package dtmfcorpus

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"dtmfgw/dtmf"
	"dtmfgw/internal/audiofile"
)

var (
	reportPath = flag.String("report", "", "write the Markdown report (docs/reports/dtmf-detector.md) to this path; env DTMF_CORPUS_REPORT also works")
	caseFilter = flag.String("case", "", "score only cases whose category, codec or name contains this substring")
	dumpDir    = flag.String("dump", "", "write the audio of every failing case as a WAV file into this directory")
)

// minTalkOffMinutes is the least distinct talk-off material the corpus must
// hold.
const minTalkOffMinutes = 30

// TestDetectorCorpus runs dtmf.Detector over the whole corpus and asserts
// the bar: every Q.24 must-detect case exactly once, every must-reject case
// rejected, and no false digit in any talk-off material. The hard line
// conditions (HardConditionCases) are scored and reported in the same run
// but not held to the bar (see UnderBar); the test asserts only that they
// were scored and reported.
func TestDetectorCorpus(t *testing.T) {
	// Clone: the shared builds must not be thinned or appended to in place.
	cases := slices.Clone(builtQ24())
	cases = append(cases, SequenceCases()...)
	cases = append(cases, LongPressCases()...)
	cases = append(cases, LostPacketCases()...)
	cases = append(cases, builtMusic()...)
	cases = append(cases, Companded(builtMusic(), CodecAlaw)...)
	speech, rendered, speechInfo, err := speechCases(t)
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, speech...)
	hardCats := map[string]bool{}
	for _, c := range HardConditionCases(rendered) {
		cases = append(cases, c)
		hardCats[c.Category] = true
	}
	if *caseFilter != "" {
		cases = slices.DeleteFunc(cases, func(c Case) bool {
			return !strings.Contains(c.Category+" "+c.Codec+" "+c.Name, *caseFilter)
		})
	}
	full := *caseFilter == "" && corpusStride == 1
	if !full && reportFile() != "" {
		t.Fatal("the report needs the whole corpus: write it without -race and without -case")
	}
	if corpusStride > 1 {
		cases = thin(cases, corpusStride)
		t.Logf("race build: scoring every %dth case of each category (%d cases)", corpusStride, len(cases))
	}

	outcomes := runAll(cases, func() Detector { return dtmf.NewDetector(dtmf.DetectorConfig{}) })
	stats := Summarise(outcomes)

	var margins []Margin
	if full {
		margins = Margins(func() Detector { return dtmf.NewDetector(dtmf.DetectorConfig{}) })
		for _, m := range margins {
			t.Logf("margin: %-36s Q.24 detect %-9s reject %-9s detector up to %s (worst key) / %s (best key)", m.Parameter, m.Detect, m.Reject, m.Worst, m.Best)
		}
	}

	// The report is always rendered, so that the test can check the hard
	// line conditions reach it; it is written only when asked for.
	var report strings.Builder
	if err := WriteReport(&report, stats, ReportInfo{
		Detector:    "`dtmf.NewDetector(dtmf.DetectorConfig{})` (the defaults)",
		Speech:      speechInfo,
		MaxFailures: 200,
		Margins:     margins,
	}); err != nil {
		t.Fatal(err)
	}
	if path := reportFile(); path != "" {
		if err := os.WriteFile(path, []byte(report.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("report written to %s", path)
	}
	if *caseFilter == "" {
		checkHardScored(t, stats, hardCats, report.String())
	}

	for _, s := range stats {
		t.Logf("%-52s %-6s %5d cases %7s pass  %3d false  %6.1f min  latency p99/max %s/%s  onset/end error ≤ %s/%s",
			s.Category, s.Codec, s.Cases, pct(s.Passed, s.Cases), s.FalseDigits, s.Seconds/60, msOrDash(s.LatencyP99), msOrDash(s.LatencyMax),
			msOrDash(int(s.MaxOnsetError)), msOrDash(int(s.MaxEndError)))
	}
	if full {
		if m := TalkOffMinutes(stats); m < minTalkOffMinutes {
			t.Errorf("talk-off material is %.1f min, want at least %d", m, minTalkOffMinutes)
		}
	}

	// The bar, with the failing cases listed (bounded) so the detector's
	// author can act on them.
	const maxListed = 60
	listed := 0
	for _, s := range stats {
		if len(s.Failures) == 0 || !UnderBar(s.Category) {
			continue
		}
		var what string
		switch s.Kind {
		case MustDetect:
			what = "detected exactly once"
		default:
			what = "rejected"
		}
		t.Errorf("%s · %s: %d of %d cases %s (want all), %d false digits", s.Category, s.Codec, s.Passed, s.Cases, what, s.FalseDigits)
		for _, o := range s.Failures {
			if listed < maxListed {
				t.Log("  " + o.Describe())
				listed++
			}
			if *dumpDir != "" {
				dump(t, o.Case)
			}
		}
	}
	if listed == maxListed {
		t.Logf("(failure list cut at %d; -report PATH lists up to 200)", maxListed)
	}
}

// TestDetectorIgnoresChunkSize runs part of the corpus with packet sizes
// other than 20 ms, from single samples to half a second: a streaming
// detector must report the same events however its input is cut.
func TestDetectorIgnoresChunkSize(t *testing.T) {
	cases := thin(slices.Concat(builtQ24()[:len(builtQ24())/3], SequenceCases()[:len(samplePANs)]), 7*corpusStride)
	if corpusStride == 1 {
		// Long stretches of talk-off too; in single samples these are slow
		// under the race detector.
		cases = append(cases, builtMusic()[:2]...)
	}
	var want, got []dtmf.KeyEvent
	for i := range cases {
		c := &cases[i]
		want = RunChunked(dtmf.NewDetector(dtmf.DetectorConfig{}), c, ChunkSamples, want[:0])
		for _, chunk := range []int{1, 7, 80, 240, 333, 4000} {
			got = RunChunked(dtmf.NewDetector(dtmf.DetectorConfig{}), c, chunk, got[:0])
			if !slices.Equal(got, want) {
				t.Errorf("[%s · %s] %s: %d-sample chunks give %v, 160-sample chunks %v", c.Category, c.Codec, c.Name, chunk, got, want)
				break
			}
		}
	}
}

// checkHardScored asserts that every hard-line-condition category was
// scored through every codec and has its row in the report's own section:
// their pass rate is measured, not yet asserted.
func checkHardScored(t *testing.T, stats []*Stats, cats map[string]bool, report string) {
	t.Helper()
	if len(cats) == 0 {
		t.Fatal("HardConditionCases returned no cases")
	}
	_, section, ok := strings.Cut(report, "## "+HardSection+"\n")
	if !ok {
		t.Fatalf("report has no %q section", HardSection)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for cat := range cats {
		for _, codec := range []string{CodecLinear, CodecUlaw} {
			i := slices.IndexFunc(stats, func(s *Stats) bool { return s.Category == cat && s.Codec == codec })
			if i < 0 || stats[i].Cases == 0 || stats[i].Digits == 0 {
				t.Errorf("%s · %s: not scored", cat, codec)
				continue
			}
			if UnderBar(cat) {
				t.Errorf("%s is held to the bar but built by HardConditionCases", cat)
			}
			row := fmt.Sprintf("| %s | %s | %d |", strings.TrimPrefix(cat, CatHardPrefix), codec, stats[i].Cases)
			if !strings.Contains(section, row) {
				t.Errorf("the report's %q section lacks %q", HardSection, row)
			}
		}
	}
}

// thin keeps every stride-th case of each category and codec, starting with
// the first, so every category is still scored.
func thin(cases []Case, stride int) []Case {
	seen := map[[2]string]int{}
	return slices.DeleteFunc(cases, func(c Case) bool {
		k := [2]string{c.Category, c.Codec}
		seen[k]++
		return (seen[k]-1)%stride != 0
	})
}

func reportFile() string {
	if *reportPath != "" {
		return *reportPath
	}
	return os.Getenv("DTMF_CORPUS_REPORT")
}

// runAll scores every case with a fresh detector, the cases spread over the
// CPUs (detectors share nothing).
func runAll(cases []Case, newDetector func() Detector) []Outcome {
	outcomes := make([]Outcome, len(cases))
	var wg sync.WaitGroup
	workers := runtime.NumCPU()
	for w := range workers {
		wg.Go(func() {
			var events []dtmf.KeyEvent
			for i := w; i < len(cases); i += workers {
				events = Run(newDetector(), &cases[i], events[:0])
				outcomes[i] = Score(&cases[i], slices.Clone(events))
			}
		})
	}
	wg.Wait()
	return outcomes
}

// speechCases renders the speech plan (from the cache when possible) and
// returns it as talk-off cases, linear and through µ-law, and as rendered
// (plan order, linear) for the hard line conditions to mix under digits. Without espeak-ng
// the test fails: the talk-off bar cannot be checked without speech.
func speechCases(t *testing.T) ([]Case, [][]int16, string, error) {
	t.Helper()
	plan := SpeechPlan()
	pcm, err := Speech(context.Background(), plan, SpeechCacheDir(), 0)
	if err != nil {
		return nil, nil, "", fmt.Errorf("talk-off speech: %w", err)
	}
	var out []Case
	voices, langs := map[string]bool{}, map[string]bool{}
	for i, u := range plan {
		name := fmt.Sprintf("espeak-ng %s", strings.Join(quoteArgs(u.Args()), " "))
		cat := "talk-off speech: " + u.Lang
		out = append(out, Case{Category: cat, Name: fmt.Sprintf("%s level=%gdBm0", name, u.LevelDBm0), PCM: pcm[i], Kind: TalkOff, Codec: CodecLinear})
		voices[u.Voice] = true
		langs[u.Lang] = true
	}
	mu := Companded(out, CodecUlaw)
	for i := range mu {
		mu[i].Category = "talk-off speech: all languages"
	}
	out = append(out, mu...)
	info := fmt.Sprintf("%d espeak-ng renderings in %d languages (%s) with %d voice/variant combinations, speeds 125–224 wpm and pitches 20–89, reading counting, card-number-like digit strings, dates and amounts, and call-centre scripts",
		len(plan), len(langs), strings.Join(sortedKeys(langs), ", "), len(voices))
	return out, pcm, info, nil
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " '\"") {
			// Cut long texts by runes, so no character is split.
			if r := []rune(a); len(r) > 36 {
				a = string(r[:36]) + "…"
			}
			a = fmt.Sprintf("%q", a)
		}
		out[i] = a
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9.=+-]+`)

func TestDumpWritesAPlayableWAV(t *testing.T) {
	old := *dumpDir
	*dumpDir = t.TempDir()
	defer func() { *dumpDir = old }()
	c := &Case{Category: "Q.24 x (detect)", Codec: CodecUlaw, Name: "key=# low=+1.5% espeak-ng \"été\"", PCM: []int16{1, -2, 3}}
	dump(t, c)
	files, _ := filepath.Glob(filepath.Join(*dumpDir, "*.wav"))
	if len(files) != 1 {
		t.Fatalf("dumped %v", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	pcm, info, err := audiofile.DecodeWAV(b)
	if err != nil || info.SourceRate != SampleRate || !slices.Equal(pcm, c.PCM) {
		t.Errorf("dump reads back as %v at %d Hz (%v)", pcm, info.SourceRate, err)
	}
}

func TestQuoteArgsKeepsUTF8Whole(t *testing.T) {
	got := quoteArgs([]string{"-v", "pl", "Dzień dobry, tu dział płatności, nazywam się Anna."})
	if got[0] != "-v" || got[1] != "pl" || !utf8.ValidString(got[2]) || !strings.HasSuffix(got[2], `…"`) {
		t.Errorf("quoteArgs = %q", got)
	}
}

func dump(t *testing.T, c *Case) {
	t.Helper()
	if err := os.MkdirAll(*dumpDir, 0o755); err != nil {
		t.Fatal(err)
	}
	name := unsafeName.ReplaceAllString(c.Category+"_"+c.Codec+"_"+c.Name, "_")
	if len(name) > 150 {
		name = name[:150]
	}
	if err := os.WriteFile(filepath.Join(*dumpDir, name+".wav"), audiofile.AppendWAV(nil, c.PCM), 0o644); err != nil {
		t.Fatal(err)
	}
}

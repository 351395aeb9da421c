package dtmfcorpus

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSpeechPlanCoversLanguagesVoicesAndTexts(t *testing.T) {
	plan := SpeechPlan()
	if !slices.Equal(plan, SpeechPlan()) {
		t.Fatal("plan differs between calls")
	}
	langs, voices, texts := map[string]int{}, map[string]bool{}, map[string]int{}
	for _, u := range plan {
		langs[u.Lang]++
		voices[u.Voice] = true
		texts[u.Text]++
		if u.Speed < 80 || u.Speed > 450 || u.Pitch < 0 || u.Pitch > 99 || u.LevelDBm0 > -6 || u.LevelDBm0 < -30 {
			t.Errorf("%+v: setting out of range", u)
		}
		base := strings.SplitN(u.Voice, "+", 2)[0]
		if !slices.Contains(speechVoices[u.Lang], base) {
			t.Errorf("%s text read by voice %s", u.Lang, u.Voice)
		}
	}
	for _, l := range []string{"en", "en-us", "de", "fr", "es", "it", "pt", "nl", "pl"} {
		if langs[l] == 0 {
			t.Errorf("no %s speech", l)
		}
	}
	for text, n := range texts {
		if n != rendersPerText {
			t.Errorf("%q read %d times, want %d", text[:20], n, rendersPerText)
		}
	}
	female, male := 0, 0
	for v := range voices {
		female += strings.Count(v, "+f")
		male += strings.Count(v, "+m")
	}
	if len(voices) < 40 || female < 10 || male < 10 {
		t.Errorf("%d voices (%d female, %d male variants), want a wide mix", len(voices), female, male)
	}
}

func TestSpeechWithoutEspeakFailsLoudly(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Speech(context.Background(), SpeechPlan()[:1], t.TempDir(), 1)
	if !errors.Is(err, ErrNoEspeak) || !strings.Contains(err.Error(), "install espeak-ng (make test does it)") {
		t.Errorf("err = %v, want ErrNoEspeak", err)
	}
}

func TestSpeechRendersCachesAndScales(t *testing.T) {
	dir := t.TempDir()
	u := Utterance{Voice: "en+f3", Lang: "en", Speed: 175, Pitch: 50, Text: "four one one one", LevelDBm0: -16}
	first, err := Speech(context.Background(), []Utterance{u}, dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	pcm := first[0]
	if secs := float64(len(pcm)) / SampleRate; secs < 0.5 || secs > 5 {
		t.Fatalf("%.2f s of speech for four words", secs)
	}
	entries, err := filepath.Glob(filepath.Join(dir, "*.s16"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("cache holds %v (%v), want one entry", entries, err)
	}
	// A second run reads the cache: spoil the entry's audio and see it come back.
	raw, err := os.ReadFile(entries[0])
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		raw[i] = 0
	}
	raw[0] = 100
	if err := os.WriteFile(entries[0], raw, 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := Speech(context.Background(), []Utterance{u}, dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(again[0], pcm) || again[0][0] == 0 {
		t.Error("second run did not come from the cache")
	}
	// Fresh renderings are identical: espeak-ng is deterministic.
	fresh, err := Speech(context.Background(), []Utterance{u}, t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fresh[0], pcm) {
		t.Error("two fresh renderings differ")
	}
	if got := activeLevel(pcm); math.Abs(got-u.LevelDBm0) > 0.1 {
		t.Errorf("active level %.2f dBm0, want %g", got, u.LevelDBm0)
	}
}

func TestPruneCacheRemovesStaleEntriesOnly(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	files := []struct {
		name string
		age  time.Duration
		keep bool // in the current plan
		left bool
	}{
		{"a.s16", 30 * 24 * time.Hour, true, true},   // old but in use: kept, touched
		{"b.s16", 30 * 24 * time.Hour, false, false}, // old and unused: removed
		{"c.s16", 24 * time.Hour, false, true},       // another plan's, recent: kept
		{".tmp-1", 2 * time.Hour, false, false},      // killed run: removed
		{".tmp-2", time.Minute, false, true},         // a parallel run writing now: kept
		{"notes.txt", 300 * 24 * time.Hour, false, true},
	}
	keep := map[string]bool{}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.WriteFile(p, []byte{0, 0}, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-f.age), now.Add(-f.age)); err != nil {
			t.Fatal(err)
		}
		keep[f.name] = f.keep
	}
	pruneCache(dir, keep, now)
	for _, f := range files {
		info, err := os.Stat(filepath.Join(dir, f.name))
		if (err == nil) != f.left {
			t.Errorf("%s: present=%v, want %v", f.name, err == nil, f.left)
		}
		if f.keep && err == nil && !info.ModTime().Equal(now) {
			t.Errorf("%s: in use but not touched (%v)", f.name, info.ModTime())
		}
	}
}

func TestCacheKeyChangesWithEveryInput(t *testing.T) {
	u := Utterance{Voice: "de", Speed: 150, Pitch: 40, Text: "eins", LevelDBm0: -20}
	base := cacheKey(u, "1.51")
	variants := []Utterance{u, u, u, u}
	variants[0].Voice = "de+f2"
	variants[1].Speed = 151
	variants[2].Pitch = 41
	variants[3].Text = "zwei"
	for _, v := range variants {
		if cacheKey(v, "1.51") == base {
			t.Errorf("%+v shares the key of %+v", v, u)
		}
	}
	if cacheKey(u, "1.52") == base {
		t.Error("espeak-ng version not in the key")
	}
	// The level is applied after the cache, so it must not split entries.
	louder := u
	louder.LevelDBm0 = -10
	if cacheKey(louder, "1.51") != base {
		t.Error("level changes the cache key")
	}
}

// activeLevel measures pcm the way scaleToLevel defines the active level.
func activeLevel(pcm []int16) float64 {
	const frame = SampleRate / 50
	var es []float64
	maxE := 0.0
	for i := 0; i+frame <= len(pcm); i += frame {
		var e float64
		for _, v := range pcm[i : i+frame] {
			e += float64(v) * float64(v)
		}
		es = append(es, e/frame)
		maxE = max(maxE, e/frame)
	}
	var sum float64
	n := 0
	for _, e := range es {
		if e >= maxE*1e-3 {
			sum += e
			n++
		}
	}
	return dBm0RMS(sum / float64(n))
}

func TestScaleToLevel(t *testing.T) {
	x := sine(500, 1000, SampleRate, SampleRate)
	for _, level := range []float64{-10, -20, -26} {
		y := scaleToLevel(x, level)
		if got := activeLevel(y); math.Abs(got-level) > 0.05 {
			t.Errorf("scaled to %g dBm0, measured %.2f", level, got)
		}
	}
	if y := scaleToLevel(make([]int16, 800), -10); slices.ContainsFunc(y, func(v int16) bool { return v != 0 }) {
		t.Error("silence scaled into sound")
	}
}

func TestSpeechVariantsExist(t *testing.T) {
	// espeak-ng falls back to the plain voice for an unknown variant without
	// a word, so compare each rendering with the plain one.
	ctx := context.Background()
	plain, err := render(ctx, Utterance{Voice: "en", Speed: 175, Pitch: 50, Text: "four one"})
	if errors.Is(err, exec.ErrNotFound) {
		t.Fatal(ErrNoEspeak)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range speechVariants[1:] {
		got, err := render(ctx, Utterance{Voice: "en" + v, Speed: 175, Pitch: 50, Text: "four one"})
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(got, plain) {
			t.Errorf("variant %s renders like the plain voice: not installed or misspelt", v)
		}
	}
}

package dtmfcorpus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"dtmfgw/dtmf"
	"dtmfgw/internal/audiofile"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Utterance is one espeak-ng rendering in the talk-off corpus.
type Utterance struct {
	// Voice is the espeak-ng voice, a language with an optional variant,
	// e.g. "de" or "en+f3".
	Voice string
	// Lang names the texts' language, for the report.
	Lang string
	// Speed in words per minute and Pitch (0–99), espeak-ng's -s and -p.
	Speed, Pitch int
	// Text is what is read.
	Text string
	// LevelDBm0 is the active speech level the rendering is scaled to.
	LevelDBm0 float64
}

// Args returns the espeak-ng command-line arguments that render u to a WAV
// file on standard output.
func (u Utterance) Args() []string {
	return []string{"-v", u.Voice, "-s", strconv.Itoa(u.Speed), "-p", strconv.Itoa(u.Pitch), "--stdout", u.Text}
}

// speechVoices lists, per text language, the espeak-ng language codes that
// read it: English is read in several accents.
var speechVoices = map[string][]string{
	"en":    {"en", "en-gb-scotland", "en-029", "en-us"},
	"en-us": {"en-us", "en-us-nyc", "en"},
	"de":    {"de"},
	"fr":    {"fr", "fr-be"},
	"es":    {"es", "es-419"},
	"it":    {"it"},
	"pt":    {"pt", "pt-br"},
	"nl":    {"nl"},
	"pl":    {"pl"},
	"sv":    {"sv"},
	"ru":    {"ru"},
	"cs":    {"cs"},
}

// speechVariants are espeak-ng voice variants: male, female, Klatt-synthesis
// and rough voices, which move the pitch and formants around, and robotic,
// near-monotone ones, whose steady harmonics are the hardest speech for a
// DTMF receiver. The count is coprime with SpeechPlan's stride of 5, so every
// variant is used.
var speechVariants = []string{
	"", "+f3", "+m3", "+f2", "+m7", "+klatt2", "+f4", "+m1", "+croak", "+f1", "+klatt4", "+m5", "+f5", "+m2",
	"+robosoft", "+Alicia", "+UniRobot", "+belinda", "+Tweaky", "+steph", "+robosoft3", "+linda", "+RicishayMax",
	"+grandma", "+Storm", "+whisperf", "+announcer", "+anikaRobot",
}

// speechLevels are the active speech levels, from loud to quiet talkers.
var speechLevels = []float64{-10, -14, -18, -22, -26}

// rendersPerText is how many voice/pitch/speed combinations read each text.
const rendersPerText = 3

// SpeechPlan returns the talk-off speech renderings in a fixed order: every
// text of every language read rendersPerText times with voice, variant,
// pitch, speed and level stepped through their ranges.
func SpeechPlan() []Utterance {
	langs := make([]string, 0, len(speechTexts))
	for l := range speechTexts {
		langs = append(langs, l)
	}
	slices.Sort(langs)
	var out []Utterance
	n := 0
	for _, lang := range langs {
		voices := speechVoices[lang]
		for _, text := range speechTexts[lang] {
			for range rendersPerText {
				out = append(out, Utterance{
					Voice:     voices[n%len(voices)] + speechVariants[(n*5)%len(speechVariants)],
					Lang:      lang,
					Speed:     125 + (n*37)%100, // 125–224 wpm
					Pitch:     20 + (n*53)%70,   // 20–89
					Text:      text,
					LevelDBm0: speechLevels[n%len(speechLevels)],
				})
				n++
			}
		}
	}
	return out
}

// ErrNoEspeak is returned when espeak-ng is not on PATH.
var ErrNoEspeak = errors.New("espeak-ng not found on PATH: install espeak-ng (make test does it)")

// SpeechCacheDir returns where rendered speech is cached: $DTMF_CORPUS_CACHE
// if set, else dtmfgw-corpus under the user cache directory, else under the
// system temporary directory.
func SpeechCacheDir() string {
	if d := os.Getenv("DTMF_CORPUS_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "dtmfgw-corpus")
	}
	return filepath.Join(os.TempDir(), "dtmfgw-corpus")
}

// Speech renders the plan with espeak-ng, resampled to 8 kHz and scaled to
// each utterance's level, reusing cached renderings from cacheDir. At most
// workers espeak-ng processes run at once (≤ 0 means the number of CPUs).
// It returns one PCM slice per utterance, in plan order.
func Speech(ctx context.Context, plan []Utterance, cacheDir string, workers int) ([][]int16, error) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		return nil, ErrNoEspeak
	}
	version, err := espeakVersion(ctx)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("speech cache: %w", err)
	}
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	out := make([][]int16, len(plan))
	errs := make([]error, len(plan))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(plan)) {
		wg.Go(func() {
			for i := range jobs {
				out[i], errs[i] = renderCached(ctx, plan[i], version, cacheDir)
			}
		})
	}
	for i := range plan {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	keep := make(map[string]bool, len(plan))
	for _, u := range plan {
		keep[cacheKey(u, version)+".s16"] = true
	}
	pruneCache(cacheDir, keep, time.Now())
	return out, nil
}

// Cache entries not used by the current plan are removed after staleAfter,
// so the cache holds about one plan's worth (≈ 50 MB) however often the
// plan changes, while two checkouts with different plans can share it.
const (
	staleAfter   = 7 * 24 * time.Hour
	tmpStaleTime = time.Hour // a .tmp- file this old is from a killed run
)

// pruneCache marks the plan's entries as used (their modification time is
// the last use) and removes stale ones and leftovers of interrupted writes.
// Errors are ignored: the cache is an optimisation.
func pruneCache(dir string, keep map[string]bool, now time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		if keep[name] {
			_ = os.Chtimes(path, now, now) // best effort: a stale time only lets the entry expire sooner
			continue
		}
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		switch {
		case strings.HasPrefix(name, ".tmp-") && now.Sub(info.ModTime()) > tmpStaleTime,
			strings.HasSuffix(name, ".s16") && now.Sub(info.ModTime()) > staleAfter:
			os.Remove(path)
		}
	}
}

// speechFormat changes whenever the cached content would: the resampler, the
// file layout.
const speechFormat = "dtmfcorpus speech v2: 8000 Hz s16le, audiofile.DecodeWAV resampling"

func cacheKey(u Utterance, version string) string {
	h := sha256.New()
	for _, s := range append([]string{speechFormat, version}, u.Args()...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// renderCached returns the utterance at 8 kHz, scaled to its level. The cache
// holds the unscaled 8 kHz rendering, keyed by everything that determines it.
func renderCached(ctx context.Context, u Utterance, version, dir string) ([]int16, error) {
	path := filepath.Join(dir, cacheKey(u, version)+".s16")
	pcm, err := readPCM(path)
	if err != nil {
		pcm, err = render(ctx, u)
		if err != nil {
			return nil, err
		}
		if err := writePCM(path, pcm); err != nil {
			return nil, err
		}
	}
	return scaleToLevel(pcm, u.LevelDBm0), nil
}

// maxWAVBytes bounds what is read from one espeak-ng run: the longest text
// at the slowest speed is well under a minute, about 2.6 MB at 22050 Hz.
const maxWAVBytes = 32 << 20

func render(ctx context.Context, u Utterance) ([]int16, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "espeak-ng", u.Args()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("espeak-ng %s: %w", u.Voice, err)
	}
	wav, readErr := io.ReadAll(io.LimitReader(stdout, maxWAVBytes+1))
	if len(wav) > maxWAVBytes {
		// Stop espeak-ng rather than wait for it to fill a pipe nobody reads.
		cancel()
		_ = cmd.Wait() // killed: the error says so, and the size is the failure to report
		return nil, fmt.Errorf("espeak-ng %s: more than %d bytes of WAV for %q", u.Voice, maxWAVBytes, u.Text)
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("espeak-ng %s: %w: %s", u.Voice, err, strings.TrimSpace(stderr.String()))
	}
	if readErr != nil {
		return nil, readErr
	}
	// DecodeWAV resamples espeak-ng's 22050 Hz to 8 kHz.
	pcm, _, err := audiofile.DecodeWAV(wav)
	if err != nil {
		return nil, fmt.Errorf("espeak-ng %s: %w", u.Voice, err)
	}
	if len(pcm) == 0 {
		return nil, fmt.Errorf("espeak-ng %s: no audio for %q", u.Voice, u.Text)
	}
	return pcm, nil
}

func espeakVersion(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "espeak-ng", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("espeak-ng --version: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

func readPCM(path string) ([]int16, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 || len(b)%2 != 0 {
		return nil, fmt.Errorf("%s: truncated", path)
	}
	pcm := make([]int16, len(b)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return pcm, nil
}

// writePCM writes through a temporary file and a rename, so that a parallel
// or interrupted run never leaves a half-written entry behind.
func writePCM(path string, pcm []int16) error {
	b := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), path)
}

// scaleToLevel returns a copy of pcm scaled so that its active level is
// dBm0: the RMS over the 20 ms frames within 30 dB of the loudest frame, a
// simple stand-in for ITU-T P.56 active speech level that ignores pauses.
func scaleToLevel(pcm []int16, dBm0 float64) []int16 {
	const frame = SampleRate / 50
	var frames []float64
	maxE := 0.0
	for i := 0; i+frame <= len(pcm); i += frame {
		var e float64
		for _, v := range pcm[i : i+frame] {
			e += float64(v) * float64(v)
		}
		e /= frame
		frames = append(frames, e)
		maxE = max(maxE, e)
	}
	var sum float64
	var n int
	for _, e := range frames {
		if e >= maxE*1e-3 {
			sum += e
			n++
		}
	}
	out := make([]int16, len(pcm))
	if n == 0 || sum == 0 {
		return out
	}
	rms := math.Sqrt(sum / float64(n))
	// 0 dBm0 is a sine of peak ZeroDBm0Peak, RMS peak/√2.
	target := zeroDBm0RMS * math.Pow(10, dBm0/20)
	g := target / rms
	for i, v := range pcm {
		out[i] = dtmf.Clip16(g * float64(v))
	}
	return out
}

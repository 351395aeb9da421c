package offline

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
	"dtmfgw/internal/audiofile"
	"dtmfgw/internal/cli"
)

// toneOptions are the flags of `dtmfgw tone`.
type toneOptions struct {
	level  float64
	twist  float64
	on     time.Duration
	off    time.Duration
	lead   time.Duration
	format string
	out    string
}

// Tone writes key presses as audio: a tool for telephony engineers
// testing a receiver, and the source of `make run`'s sample.
func Tone(_ context.Context, args []string, stdout, stderr io.Writer) error {
	var o toneOptions
	fs := flag.NewFlagSet("tone", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Float64Var(&o.level, "level", -10, "level of the low-group tone, dBm0")
	fs.Float64Var(&o.twist, "twist", 2, "high-group level minus low-group level, dB")
	fs.DurationVar(&o.on, "on", 100*time.Millisecond, "length of each key press")
	fs.DurationVar(&o.off, "off", 100*time.Millisecond, "silence between key presses")
	fs.DurationVar(&o.lead, "lead", 500*time.Millisecond, "silence before the first and after the last key press")
	fs.StringVar(&o.format, "format", "wav", "output format: wav (8 kHz 16-bit mono), ulaw, alaw or pcm16 (headerless)")
	fs.StringVar(&o.out, "out", "", "output file (- for standard output)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: dtmfgw tone [flags] --out FILE KEYS\n\nKEYS are DTMF keys: 0-9 * # A-D.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || o.out == "" {
		fs.Usage()
		return cli.ErrUsage
	}
	pcm, err := renderKeys([]byte(fs.Arg(0)), o)
	if err != nil {
		return err
	}
	encoded, err := encodeAudio(pcm, o.format)
	if err != nil {
		return err
	}
	if o.out == "-" {
		_, err = stdout.Write(encoded)
		return err
	}
	return os.WriteFile(o.out, encoded, 0o644)
}

// renderKeys renders the key presses with silence around and between them.
// Errors name the position of a bad character, never the character: the
// tool may be handed digits that matter.
func renderKeys(keys []byte, o toneOptions) ([]int16, error) {
	if len(keys) == 0 || len(keys) > 1000 {
		return nil, fmt.Errorf("want 1 to 1000 keys, got %d", len(keys))
	}
	if o.on < 10*time.Millisecond || o.on > 10*time.Second || o.off < 0 || o.off > 10*time.Second || o.lead < 0 || o.lead > 10*time.Second {
		return nil, fmt.Errorf("--on must be 10ms–10s, --off and --lead 0–10s")
	}
	silence := func(dst []int16, d time.Duration) []int16 {
		return append(dst, make([]int16, int(d*dtmf.SampleRate/time.Second))...)
	}
	pcm := silence(nil, o.lead)
	for i, c := range keys {
		k, ok := dtmf.KeyFromChar(c)
		if !ok {
			return nil, fmt.Errorf("character %d of KEYS is not a DTMF key (0-9 * # A-D)", i+1)
		}
		if i > 0 {
			pcm = silence(pcm, o.off)
		}
		pcm = dtmf.AppendDTMF(pcm, dtmf.ToneSpec{Key: k, LevelDBm0: o.level, TwistDB: o.twist, Duration: o.on})
	}
	return silence(pcm, o.lead), nil
}

// encodeAudio encodes 8 kHz linear PCM in one of the formats `detect` reads.
func encodeAudio(pcm []int16, format string) ([]byte, error) {
	switch format {
	case "ulaw", "alaw":
		law := g711.Ulaw
		if format == "alaw" {
			law = g711.Alaw
		}
		out := make([]byte, len(pcm))
		law.Encode(out, pcm)
		return out, nil
	case "pcm16":
		return binary.Append(nil, binary.LittleEndian, pcm)
	case "wav":
		return audiofile.AppendWAV(nil, pcm), nil
	}
	return nil, fmt.Errorf("unknown --format %q: want wav, ulaw, alaw or pcm16", format)
}

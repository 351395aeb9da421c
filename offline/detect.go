package offline

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"

	"dtmfgw/dtmf"
	"dtmfgw/internal/audiofile"
	"dtmfgw/internal/capture"
	"dtmfgw/internal/cli"
)

// detectFormats are the values --format accepts.
const detectFormats = "auto, wav, ulaw, alaw, pcm16, pcap"

// detection is one key press as `dtmfgw detect` prints it.
type detection struct {
	// OnsetMS is the press's start in milliseconds from the start of the
	// audio file, or from the first packet of the capture.
	OnsetMS int64 `json:"onset_ms"`
	// Digit is the key: 0-9, *, #, A-D.
	Digit string `json:"digit"`
	// Source is "inband", "rfc4733", "rfc4733+inband" for a press found
	// both ways in one stream, or "sipinfo".
	Source string `json:"source"`
	// DurationMS is the press length as measured by the source that found
	// it; for both sources, the span covering both.
	DurationMS int64 `json:"duration_ms"`
	// Stream names the RTP stream of a capture, "src>dst ssrc=0x…", or
	// the SIP hop of a SIP INFO, "src>dst call-id=…".
	Stream string `json:"stream,omitempty"`

	order int // stream index, to keep the output order stable
}

// Detect implements `dtmfgw detect [--format F] [--json] FILE`: it
// prints the DTMF key presses found in an audio file (in-band tones) or in
// a pcap/pcapng capture of RTP (telephone-event packets and in-band tones
// in G.711 audio), one line per press, in order of onset.
func Detect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("detect", flag.ContinueOnError)
	fset.SetOutput(stderr)
	format := fset.String("format", "auto", "input format: "+detectFormats+" (pcap also reads pcapng)")
	asJSON := fset.Bool("json", false, "print one JSON object per press instead of text")
	verbose := fset.Bool("v", false, "describe what was read (streams, payload types) on standard error")
	fset.Usage = func() {
		fmt.Fprint(stderr, `usage: dtmfgw detect [--format F] [--json] [-v] FILE

Prints the DTMF key presses in FILE, one per line, in order of onset:

  audio file:  ONSET_MS DIGIT
  capture:     ONSET_MS DIGIT SRC>DST ssrc=0xSSRC SOURCE

ONSET_MS counts from the start of the audio, or from the first packet of
the capture (a press already under way when the capture began may be
negative). SOURCE is rfc4733 (telephone-event packets), inband (tones in
PCMU/PCMA audio), rfc4733+inband (one press sent both ways in one stream)
or sipinfo (SIP INFO application/dtmf-relay or application/dtmf, printed
with the SIP hop and Call-ID in place of the stream). Audio at rates other
than 8 kHz is resampled. With --format auto, captures and WAV files are recognised by
their headers and headerless audio by its extension (.ul .ulaw .mulaw .al
.alaw .raw .pcm .sln). Gzipped files are read as what they contain.

Flags:
`)
		fset.PrintDefaults()
	}
	path, err := fileArg(fset, args)
	if err != nil {
		return err
	}
	f := strings.ToLower(strings.TrimSpace(*format))
	isCapture := f == "pcap" || f == "pcapng"
	var audioFormat audiofile.Format
	if !isCapture {
		if audioFormat, err = audiofile.ParseFormat(f); err != nil {
			fmt.Fprintf(stderr, "dtmfgw detect: --format %q: want one of %s\n", *format, detectFormats)
			return cli.ErrUsage
		}
	}

	found, err := detectFile(ctx, path, isCapture, audioFormat, stderr, *verbose)
	if err != nil {
		return fileError(path, err)
	}
	return printDetections(stdout, found, *asJSON)
}

// fileArg parses a file tool's flags and returns its one argument, the
// file; anything else is a usage error.
func fileArg(fset *flag.FlagSet, args []string) (string, error) {
	if err := cli.ParseFlags(fset, args); err != nil {
		return "", err
	}
	if fset.NArg() != 1 {
		fset.Usage()
		return "", cli.ErrUsage
	}
	return fset.Arg(0), nil
}

// fileError names the file in an error, once.
func fileError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s: %w", path, err)
}

// detectFile reads path as a capture or as audio and finds its presses.
func detectFile(ctx context.Context, path string, isCapture bool, af audiofile.Format, stderr io.Writer, verbose bool) ([]detection, error) {
	in, err := openInput(path)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	switch {
	case isCapture && in.kind == "":
		return nil, fmt.Errorf("--format pcap: %w (starts with % x)", capture.ErrNotCapture, in.head)
	case isCapture || (af == audiofile.FormatAuto && in.kind != ""):
		c, err := readCapture(ctx, in, "detect", stderr)
		if err != nil {
			return nil, err
		}
		return detectCapture(ctx, c, stderr, verbose)
	}
	data, err := audiofile.ReadAllBounded(in.r, audiofile.MaxFileSize)
	if err != nil {
		return nil, err
	}
	pcm, info, err := audiofile.Decode(data, af, in.name)
	if err != nil {
		return nil, err
	}
	if verbose {
		fmt.Fprintf(stderr, "%s: %s, %s, %d Hz, %d channel(s), %d samples at 8 kHz\n", path, info.Format, info.Encoding, info.SourceRate, info.Channels, len(pcm))
	}
	return detectAudio(ctx, pcm)
}

// inputFile is a file opened for detect or inspect, gunzipped when it was
// gzipped.
type inputFile struct {
	r *bufio.Reader
	// head is the first bytes of the (decompressed) content, kind the
	// capture format they announce ("pcap", "pcapng" or "").
	head []byte
	kind string
	// path is the file as named on the command line; name is path without
	// a ".gz" suffix, for recognising audio by its extension.
	path, name string
	closers    []io.Closer
}

// openInput opens path, looks through gzip, and peeks at what it holds.
func openInput(path string) (*inputFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	in := &inputFile{path: path, name: path, closers: []io.Closer{fh}}
	if st, err := fh.Stat(); err == nil && st.IsDir() {
		in.Close()
		return nil, errors.New("is a directory")
	}
	in.r = bufio.NewReaderSize(fh, 64<<10)
	in.head, _ = in.r.Peek(12)
	if len(in.head) >= 2 && in.head[0] == 0x1f && in.head[1] == 0x8b {
		// Captures and recordings are often kept gzipped (RFC 1952).
		// Everything read below is bounded after decompression.
		zr, err := gzip.NewReader(in.r)
		if err != nil {
			in.Close()
			return nil, fmt.Errorf("gzip: %w", err)
		}
		in.closers = append(in.closers, zr)
		in.r = bufio.NewReaderSize(zr, 64<<10)
		in.head, _ = in.r.Peek(12)
		in.name = strings.TrimSuffix(strings.TrimSuffix(path, ".gz"), ".GZ")
	}
	in.kind = capture.Kind(in.head)
	return in, nil
}

// Close closes the file (and the gzip reader over it).
func (in *inputFile) Close() error {
	var errs []error
	for i := len(in.closers) - 1; i >= 0; i-- {
		errs = append(errs, in.closers[i].Close())
	}
	return errors.Join(errs...)
}

// readCapture reads the input as a capture. A capture damaged part way is
// still returned, with a warning on stderr from command cmd: what came
// before the damage is reported, and the warning says why the rest is
// missing.
func readCapture(ctx context.Context, in *inputFile, cmd string, stderr io.Writer) (*capture.Capture, error) {
	c, err := capture.ReadContext(ctx, in.r)
	if err != nil {
		return nil, err
	}
	if c.Stopped != nil {
		fmt.Fprintf(stderr, "dtmfgw %s: %s: warning: %v\n", cmd, in.path, c.Stopped)
	}
	return c, nil
}

// detectAudio runs the in-band Detector over a whole recording.
func detectAudio(ctx context.Context, pcm []int16) ([]detection, error) {
	var found []detection
	err := inbandPresses(ctx, pcm, func(onset, end int64, key dtmf.Key) {
		found = append(found, detection{
			OnsetMS:    samplesToMS(onset),
			Digit:      key.Reveal(),
			Source:     dtmf.SourceInband.String(),
			DurationMS: samplesToMS(end) - samplesToMS(onset),
		})
	})
	return found, err
}

// detectChunk is how many samples are handed to the Detector at a time
// (20 ms, one G.711 packet); between chunks the context is checked.
const detectChunk = 160

// inbandPresses feeds pcm to a new Detector and calls press for every key
// press with its first sample, the sample after its last, and its key.
func inbandPresses(ctx context.Context, pcm []int16, press func(onset, end int64, key dtmf.Key)) error {
	d := dtmf.NewDetector(dtmf.DetectorConfig{})
	events := make([]dtmf.KeyEvent, 0, 8)
	var onset int64
	handle := func(evs []dtmf.KeyEvent) {
		for _, ev := range evs {
			switch ev.Kind {
			case dtmf.Begin:
				onset = ev.Onset
			case dtmf.End:
				// End carries Onset too; Begin's is kept should they differ.
				press(onset, ev.EndSample, ev.Key)
			}
		}
	}
	for i := 0; i < len(pcm); i += detectChunk {
		if i%(detectChunk*500) == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		events = d.Process(pcm[i:min(i+detectChunk, len(pcm))], events[:0])
		handle(events)
	}
	handle(d.Flush(events[:0]))
	return nil
}

// samplesToMS converts a sample index at 8 kHz to milliseconds, rounded to
// the nearest millisecond.
func samplesToMS(n int64) int64 { return (n*1000 + dtmf.SampleRate/2) / dtmf.SampleRate }

// printDetections writes the presses in order of onset.
func printDetections(w io.Writer, found []detection, asJSON bool) error {
	sort.SliceStable(found, func(i, j int) bool {
		if found[i].OnsetMS != found[j].OnsetMS {
			return found[i].OnsetMS < found[j].OnsetMS
		}
		return found[i].order < found[j].order
	})
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // stream names contain ">"
	for _, d := range found {
		if asJSON {
			if err := enc.Encode(d); err != nil {
				return err
			}
			continue
		}
		if d.Stream == "" {
			fmt.Fprintf(bw, "%d %s\n", d.OnsetMS, d.Digit)
		} else {
			fmt.Fprintf(bw, "%d %s %s %s\n", d.OnsetMS, d.Digit, d.Stream, d.Source)
		}
	}
	return bw.Flush()
}

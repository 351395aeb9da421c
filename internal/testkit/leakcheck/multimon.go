package leakcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"dtmfgw/dtmf"
	"dtmfgw/internal/testkit"
)

// ErrMultimonMissing is wrapped by NeedMultimon's error when sox or
// multimon-ng is not installed.
var ErrMultimonMissing = errors.New("leakcheck: sox and multimon-ng are needed (Debian packages sox and multimon-ng: make deps)")

// multimonRate is the sample rate multimon-ng's raw input is read at.
const multimonRate = "22050"

// maxMultimonOutput bounds what is kept of multimon-ng's output: one short
// line per key, so a megabyte is thousands of presses.
const maxMultimonOutput = 1 << 20

// NeedMultimon returns an error wrapping ErrMultimonMissing when sox or
// multimon-ng cannot be found on PATH. Tests call it first and fail (never
// skip) on an error: a leak check that did not run proves nothing.
func NeedMultimon() error {
	for _, tool := range []string{"sox", "multimon-ng"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrMultimonMissing, tool, err)
		}
	}
	return nil
}

// MultimonKeys returns the keys multimon-ng hears in 8 kHz linear PCM. sox
// resamples the audio to the 22050 Hz multimon-ng reads; the two run as a
// pipeline fed from memory, bounded by ctx. Errors never quote multimon-ng's
// output, which names the keys.
func MultimonKeys(ctx context.Context, pcm []int16) (Keys, error) {
	if err := NeedMultimon(); err != nil {
		return nil, err
	}
	raw := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		raw[2*i], raw[2*i+1] = byte(v), byte(uint16(v)>>8)
	}
	sox := exec.CommandContext(ctx, "sox",
		"-t", "raw", "-r", "8000", "-e", "signed", "-b", "16", "-c", "1", "-L", "-",
		"-t", "raw", "-r", multimonRate, "-e", "signed", "-b", "16", "-c", "1", "-")
	mm := exec.CommandContext(ctx, "multimon-ng", "-q", "-a", "DTMF", "-t", "raw", "-")
	sox.Stdin = bytes.NewReader(raw)
	pipe, err := sox.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("leakcheck: sox: %w", err)
	}
	mm.Stdin = pipe
	// Bounded, so that a runaway child cannot fill memory.
	soxErr, out, mmErr := testkit.NewLimitedBuffer(4096), testkit.NewLimitedBuffer(maxMultimonOutput), testkit.NewLimitedBuffer(4096)
	sox.Stderr, mm.Stdout, mm.Stderr = soxErr, out, mmErr
	if err := sox.Start(); err != nil {
		return nil, fmt.Errorf("leakcheck: start sox: %w", err)
	}
	if err := mm.Start(); err != nil {
		_ = sox.Process.Kill()
		_ = sox.Wait()
		return nil, fmt.Errorf("leakcheck: start multimon-ng: %w", err)
	}
	mmWait := mm.Wait()
	soxWait := sox.Wait()
	if soxWait != nil {
		return nil, fmt.Errorf("leakcheck: sox: %w: %s", soxWait, strings.TrimSpace(soxErr.String()))
	}
	if mmWait != nil {
		// multimon-ng's stderr holds diagnostics, never decoded keys.
		return nil, fmt.Errorf("leakcheck: multimon-ng: %w: %s", mmWait, strings.TrimSpace(mmErr.String()))
	}
	return parseMultimon(out.Bytes()), nil
}

// parseMultimon picks the keys out of multimon-ng's "DTMF: K" lines.
func parseMultimon(out []byte) Keys {
	var keys Keys
	for line := range strings.Lines(string(out)) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "DTMF: ")
		if !ok || len(v) != 1 {
			continue
		}
		if k, ok := dtmf.KeyFromChar(v[0]); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

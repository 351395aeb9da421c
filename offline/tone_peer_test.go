package offline

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An independent receiver must hear what `dtmfgw tone` writes: multimon-ng
// (Debian's multimon-ng, fed through sox at the 22050 Hz it reads) decodes
// every key, at the default level and at the quiet, short, twisted end of
// what Q.24 asks a receiver to accept. This checks the synthesiser the
// detector's whole corpus is built on against a decoder we did not write.
func TestToneDecodedByMultimonNG(t *testing.T) {
	for _, tool := range []string{"sox", "multimon-ng"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: install the Debian packages sox and multimon-ng (make test does it)", tool)
		}
	}
	const keys = "0123456789*#ABCD"
	for _, args := range [][]string{
		{},
		{"--level", "-20", "--twist", "-4", "--on", "60ms", "--off", "60ms"},
	} {
		wav := filepath.Join(t.TempDir(), "keys.wav")
		var stdout, stderr bytes.Buffer
		argv := append([]string{"--out", wav}, args...)
		if err := Tone(context.Background(), append(argv, keys), &stdout, &stderr); err != nil {
			t.Fatalf("tone %v: %v: %s", args, err, stderr.String())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, "sh", "-c",
			`sox -t wav "$1" -t raw -r 22050 -e signed -b 16 -c 1 - | multimon-ng -q -a DTMF -t raw -`, "sh", wav)
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("sox | multimon-ng: %v\n%s", err, out)
		}
		var got strings.Builder
		for line := range strings.Lines(string(out)) {
			if k, ok := strings.CutPrefix(strings.TrimSpace(line), "DTMF: "); ok {
				got.WriteString(k)
			}
		}
		if got.String() != keys {
			t.Errorf("tone %v: multimon-ng heard %q, want %q\n%s", args, got.String(), keys, out)
		}
	}
}

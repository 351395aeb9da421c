package dtmfcorpus

import (
	"slices"
	"testing"

	"dtmfgw/dtmf"
)

func TestStepsAndFormat(t *testing.T) {
	if got := steps(1.5, 2, 0.1); len(got) != 6 || got[0] != 1.5 || got[5] < 1.999 || got[5] > 2.001 {
		t.Errorf("steps(1.5, 2, 0.1) = %v", got)
	}
	if got := steps(40, 20, -5); !slices.Equal(got, []float64{40, 35, 30, 25, 20}) {
		t.Errorf("steps(40, 20, -5) = %v", got)
	}
	sw := marginSweep{unit: "%", values: steps(-1.5, -2, -0.1)}
	tests := []struct {
		i    int
		want string
	}{{-1, "none"}, {0, "−1.5%"}, {2, "−1.7%"}, {5, "beyond −2.0%"}}
	for _, tt := range tests {
		if got := sw.format(tt.i); got != tt.want {
			t.Errorf("format(%d) = %q, want %q", tt.i, got, tt.want)
		}
	}
}

// deaf is a Detector that reports nothing: every margin must come out
// as "none".
type deaf struct{}

func (deaf) Process(_ []int16, out []dtmf.KeyEvent) []dtmf.KeyEvent { return out }
func (deaf) Flush(out []dtmf.KeyEvent) []dtmf.KeyEvent              { return out }

func TestMarginsOfADeafDetectorAreNone(t *testing.T) {
	for _, m := range Margins(func() Detector { return deaf{} }) {
		if m.Worst != "none" || m.Best != "none" {
			t.Errorf("%s: %s / %s, want none", m.Parameter, m.Worst, m.Best)
		}
	}
}

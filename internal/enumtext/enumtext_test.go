package enumtext

import (
	"strings"
	"testing"
)

type color uint8

const (
	red color = iota + 1
	green
	numColors
)

var colors = Table[color]{What: "test: color", Invalid: "invalid", Names: []string{red: "red", green: "green"}}

func TestString(t *testing.T) {
	for v, want := range map[color]string{0: "invalid", red: "red", green: "green", numColors: "invalid", 200: "invalid"} {
		if got := colors.String(v); got != want {
			t.Errorf("String(%d) = %q, want %q", v, got, want)
		}
	}
}

func TestMarshalText(t *testing.T) {
	if b, err := colors.MarshalText(green); err != nil || string(b) != "green" {
		t.Errorf("MarshalText(green) = %q, %v", b, err)
	}
	for _, v := range []color{0, numColors} {
		_, err := colors.MarshalText(v)
		if err == nil || !strings.HasPrefix(err.Error(), "test: color ") {
			t.Errorf("MarshalText(%d): %v, want an error naming the enum", v, err)
		}
	}
}

func TestParse(t *testing.T) {
	if v, ok := colors.Parse([]byte("green")); !ok || v != green {
		t.Errorf(`Parse("green") = %d, %v`, v, ok)
	}
	for _, s := range []string{"", "Green", "blue", "invalid"} {
		if v, ok := colors.Parse([]byte(s)); ok {
			t.Errorf("Parse(%q) = %d, want none", s, v)
		}
	}
	folded := colors
	folded.FoldCase = true
	if v, ok := folded.Parse([]byte("GREEN")); !ok || v != green {
		t.Errorf(`folded Parse("GREEN") = %d, %v`, v, ok)
	}
	if _, ok := folded.Parse([]byte("")); ok {
		t.Error(`folded Parse("") found a value`)
	}
}

func TestZeroIsAValue(t *testing.T) {
	levels := Table[uint8]{What: "test: level", Invalid: "unknown", Names: []string{"none", "some"}}
	if s := levels.String(0); s != "none" {
		t.Errorf("String(0) = %q", s)
	}
	if v, ok := levels.Parse([]byte("none")); !ok || v != 0 {
		t.Errorf(`Parse("none") = %d, %v`, v, ok)
	}
	if s := levels.String(2); s != "unknown" {
		t.Errorf("String(2) = %q", s)
	}
}

package cli

import (
	"errors"
	"flag"
	"io"
	"testing"
)

func TestParseFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want error
	}{
		{[]string{"-v"}, nil},
		{[]string{"-h"}, flag.ErrHelp},
		{[]string{"--nope"}, ErrUsage},
	} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Bool("v", false, "")
		if err := ParseFlags(fs, c.args); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%v: %v, want %v", c.args, err, c.want)
		}
	}
}

func TestExitStatus(t *testing.T) {
	var err error = ExitStatus(3)
	var s ExitStatus
	if !errors.As(err, &s) || s != 3 || err.Error() != "exit status 3" {
		t.Errorf("%v (%d)", err, s)
	}
}

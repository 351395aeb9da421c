package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"dtmfgw/internal/cli"
)

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"no command", nil, 2, "", "Commands:"},
		{"help", []string{"help"}, 0, "", "detect"},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"version", []string{"version"}, 0, "dtmfgw ", ""},
		{"version takes no arguments", []string{"version", "x"}, 2, "", "usage: dtmfgw version"},
		{"command help", []string{"tone", "-h"}, 0, "", "usage: dtmfgw tone"},
		{"bad flag", []string{"tone", "--nope"}, 2, "", "flag provided but not defined"},
		{"help lists inspect", []string{"help"}, 0, "", "  inspect  "},
		{"inspect help", []string{"inspect", "-h"}, 0, "", "usage: dtmfgw inspect"},
		{"inspect without a file", []string{"inspect"}, 2, "", "usage: dtmfgw inspect"},
		{"detect without a file", []string{"detect"}, 2, "", "usage: dtmfgw detect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errOut)
			if code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, errOut.String())
			}
			if !strings.Contains(out.String(), tt.stdout) {
				t.Errorf("stdout %q lacks %q", out.String(), tt.stdout)
			}
			if !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tt.stderr)
			}
		})
	}
}

func TestDetectBadFlagIsUsageError(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"detect", "--bogus", "x.wav"}, &out, &errOut); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
	if n := strings.Count(errOut.String(), "flag provided but not defined"); n != 1 {
		t.Fatalf("the flag error is reported %d times, want once:\n%s", n, errOut.String())
	}
}

// A command's failure is printed once, after the command's name, and
// exits 1: the missing file is named.
func TestCommandFailureExitsOne(t *testing.T) {
	for _, cmd := range []string{"detect", "inspect"} {
		var o, e bytes.Buffer
		missing := filepath.Join(t.TempDir(), "none.pcap")
		if code := run(context.Background(), []string{cmd, missing}, &o, &e); code != 1 {
			t.Errorf("%s of a missing file: exit %d, want 1", cmd, code)
		}
		if o.Len() != 0 || !strings.HasPrefix(e.String(), "dtmfgw "+cmd+": ") || !strings.Contains(e.String(), "none.pcap") {
			t.Errorf("%s: stdout %q, stderr %q", cmd, o.String(), e.String())
		}
	}
}

// TestExitCode: what a command returns (package cli) becomes the exit
// code.
func TestExitCode(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
	}{
		{nil, 0},
		{flag.ErrHelp, 0},
		{fmt.Errorf("wrapped: %w", flag.ErrHelp), 0},
		{cli.ErrUsage, 2},
		{cli.ExitStatus(3), 3},
		{fmt.Errorf("inspect: %w", cli.ExitStatus(3)), 3},
		{errors.New("broken"), 1},
	} {
		if got := exitCode(c.err); got != c.code {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.code)
		}
	}
}

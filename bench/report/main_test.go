package main

import (
	"strings"
	"testing"
	"time"
)

const sample = `goos: linux
goarch: amd64
pkg: dtmfgw/dtmf/g711
cpu: Example CPU @ 2.00GHz
BenchmarkDecodeUlawFrame-2   	18879654	        60.84 ns/op	2629.83 MB/s	       0 B/op	       0 allocs/op
BenchmarkDecodeUlawFrame-2   	18879654	        70.00 ns/op	2000.00 MB/s	       0 B/op	       0 allocs/op
BenchmarkDecodeUlawFrame-2   	18879654	        65.00 ns/op	2100.00 MB/s	       0 B/op	       0 allocs/op
PASS
pkg: dtmfgw/dtmf
BenchmarkTrackerFeed-2   	1000	  120.5 ns/op	  16 B/op	  1 allocs/op
ok  	dtmfgw/dtmf	1.0s
`

func TestParseAndWrite(t *testing.T) {
	results, cpu, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if cpu != "Example CPU @ 2.00GHz" || len(results) != 2 {
		t.Fatalf("cpu %q, %d results", cpu, len(results))
	}
	if r := results[0]; r.pkg != "dtmfgw/dtmf/g711" || r.name != "BenchmarkDecodeUlawFrame" || len(r.nsPerOp) != 3 {
		t.Fatalf("first result %+v", r)
	}
	var b strings.Builder
	write(&b, results, cpu, "make bench", time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	out := b.String()
	for _, want := range []string{
		"- Command: `make bench`",
		"| BenchmarkDecodeUlawFrame | 3 | 65.0 | 0 | 0 | 2100 MB/s |", // medians
		"| BenchmarkTrackerFeed | 1 | 120.5 | 16 | 1 |  |",
		"## dtmfgw/dtmf\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

func TestParseRejectsGarbledFigures(t *testing.T) {
	if _, _, err := parse(strings.NewReader("BenchmarkX-2 10 abc ns/op\n")); err == nil {
		t.Fatal("want an error for a figure that is not a number")
	}
}

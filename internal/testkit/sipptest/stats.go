package sipptest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// errStats is wrapped by parseStats's errors.
var errStats = errors.New("sipptest: malformed SIPp statistics")

// maxStatsColumns bounds the columns parseStats accepts: SIPp writes about
// 80, plus two per response-time and call-length bucket.
const maxStatsColumns = 1024

// parseStats reads SIPp's -trace_stat CSV (one header line of ';'-separated
// column names, then one line per -fd period and one at exit) and returns
// the last complete line by column name.
func parseStats(data []byte) (map[string]string, error) {
	lines := bytes.Split(bytes.TrimRight(data, "\r\n"), []byte("\n"))
	if len(lines) < 2 {
		return nil, fmt.Errorf("%w: no data line", errStats)
	}
	header := bytes.Split(bytes.TrimRight(lines[0], "\r;"), []byte(";"))
	if len(header) > maxStatsColumns {
		return nil, fmt.Errorf("%w: %d columns", errStats, len(header))
	}
	for i := len(lines) - 1; i > 0; i-- {
		fields := bytes.Split(bytes.TrimRight(lines[i], "\r;"), []byte(";"))
		if len(fields) != len(header) {
			continue // a line cut short by an interrupted SIPp
		}
		row := make(map[string]string, len(header))
		for j, h := range header {
			row[string(h)] = string(fields[j])
		}
		return row, nil
	}
	return nil, fmt.Errorf("%w: no line has the header's %d columns", errStats, len(header))
}

// errStatDuration is wrapped by parseStatDuration's errors.
var errStatDuration = errors.New("sipptest: malformed SIPp statistics time")

// maxStatHours bounds the hours parseStatDuration accepts: far beyond any
// run, far below time.Duration's range.
const maxStatHours = 100_000

// parseStatDuration parses a time of SIPp's statistics file,
// "HH:MM:SS:uuuuuu" (hours, minutes, seconds, microseconds), as the
// ResponseTime and CallLength columns hold it.
func parseStatDuration(s string) (time.Duration, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) != 4 {
		return 0, fmt.Errorf("%w: %d fields", errStatDuration, len(parts))
	}
	limits := [4]int{maxStatHours, 59, 59, 999_999}
	units := [4]time.Duration{time.Hour, time.Minute, time.Second, time.Microsecond}
	var d time.Duration
	for i, p := range parts {
		if p == "" || len(p) > 9 || strings.TrimLeft(p, "0123456789") != "" {
			return 0, fmt.Errorf("%w: field %d is not a number", errStatDuration, i+1)
		}
		n, err := strconv.Atoi(p)
		if err != nil || n > limits[i] {
			return 0, fmt.Errorf("%w: field %d out of range", errStatDuration, i+1)
		}
		d += time.Duration(n) * units[i]
	}
	return d, nil
}

// peakColumn returns the highest integer value of column col over the
// complete lines of SIPp's -trace_stat CSV, or 0.
func peakColumn(data []byte, col string) int {
	lines := bytes.Split(bytes.TrimRight(data, "\r\n"), []byte("\n"))
	if len(lines) < 2 {
		return 0
	}
	header := bytes.Split(bytes.TrimRight(lines[0], "\r;"), []byte(";"))
	at := -1
	for i, h := range header {
		if string(h) == col {
			at = i
		}
	}
	if at < 0 {
		return 0
	}
	peak := 0
	for _, line := range lines[1:] {
		fields := bytes.Split(bytes.TrimRight(line, "\r;"), []byte(";"))
		if len(fields) != len(header) {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimSpace(string(fields[at]))); err == nil {
			peak = max(peak, n)
		}
	}
	return peak
}

// ResponseBuckets lists the non-empty buckets of SIPp's response-time
// distribution (the scenario's ResponseTimeRepartition: "…1_<10" and so
// on) in a statistics row such as Result.Stats, in order, as
// "< 10 ms: 990, < 50 ms: 8"; "-" when there is none.
func ResponseBuckets(stats map[string]string) string {
	type bucket struct {
		limit int
		label string
		n     string
	}
	var bs []bucket
	for k, v := range stats {
		rest, ok := strings.CutPrefix(k, "ResponseTimeRepartition1_")
		if !ok {
			continue
		}
		op := "<"
		num, ok := strings.CutPrefix(rest, "<")
		if !ok {
			op = "≥"
			if num, ok = strings.CutPrefix(rest, ">="); !ok {
				continue
			}
		}
		limit, err := strconv.Atoi(num)
		if err != nil {
			continue
		}
		if op == "≥" {
			limit++ // after the "<" bucket of the same bound
		}
		bs = append(bs, bucket{limit, op + " " + num + " ms", strings.TrimSpace(v)})
	}
	slices.SortFunc(bs, func(a, b bucket) int { return a.limit - b.limit })
	parts := make([]string, 0, len(bs))
	for _, b := range bs {
		if b.n != "0" {
			parts = append(parts, b.label+": "+b.n)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

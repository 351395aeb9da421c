package sipptest

import (
	"bytes"
	"errors"
	"fmt"
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

package store

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestDigitRun(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want int
	}{
		{"", 0},
		{"no digits", 0},
		{"2 of 3", 1}, // "2 of" — a word ends the run
		{"amount 12345", 5},
		{"12:30", 2},
		{"411111", 6},
		{"4111 1111 1111 1111", 16},
		{"4111-1111-1111-1111", 16},
		{"4111  1111", 4}, // two spaces end a run
		{"4111 -1111", 4},
		{"41 11 11", 6},
		{"2026-03-14", 8}, // a date looks like a run: write times in At
		{"192.168.10.20", 3},
		{"card ４１１１１１", 6}, // fullwidth digits are digits
		{"1 2 3 4 5 6", 6},
		{"1 2 3 4 5 x 6", 5},
		{"4111\u00a01111", 8}, // no-break space
		{"4111\u20131111", 8}, // en dash
		{"v1.2.3.4.5.6", 1},
		{"trailing 123 ", 3},
	} {
		if got := digitRun(tc.s); got != tc.want {
			t.Errorf("digitRun(%q) = %d, want %d", tc.s, got, tc.want)
		}
		err := checkNoCardData("detail", tc.s)
		if (err != nil) != (tc.want >= minDigitRun) {
			t.Errorf("checkNoCardData(%q) = %v", tc.s, err)
		}
		if err != nil && (!errors.Is(err, ErrCardData) || strings.ContainsFunc(err.Error(), func(r rune) bool { return r != '6' && unicode.IsDigit(r) })) {
			t.Errorf("checkNoCardData(%q) error %q: not ErrCardData, or holds digits", tc.s, err)
		}
	}
}

// runPattern is digitRun's definition written another way: a digit, then
// digits each after at most one space or dash.
var runPattern = regexp.MustCompile(`\p{Nd}(?:[\p{Zs}\t\n\v\f\r\x{85}\x{2028}\x{2029}\p{Pd}]?\p{Nd})*`)

func FuzzDigitRun(f *testing.F) {
	f.Add("4111 1111 1111 1111")
	f.Add("amount 12345 at 12:30")
	f.Fuzz(func(t *testing.T, s string) {
		got := digitRun(s)
		want := 0
		for _, m := range runPattern.FindAllString(s, -1) {
			n := 0
			for _, r := range m {
				if unicode.IsDigit(r) {
					n++
				}
			}
			want = max(want, n)
		}
		if got != want {
			t.Fatalf("digitRun(%q) = %d, the pattern says %d", s, got, want)
		}
		err := checkNoCardData("detail", s)
		if (err != nil) != (got >= minDigitRun) {
			t.Fatalf("checkNoCardData(%q) = %v with a run of %d", s, err, got)
		}
		if err != nil && utf8.RuneCountInString(s) >= 6 && strings.Contains(err.Error(), s) {
			t.Fatalf("error %q repeats the text", err)
		}
	})
}

func FuzzParseDSN(f *testing.F) {
	f.Add("sqlite:data/dtmfgw.db")
	f.Add("postgres://u:p@127.0.0.1:5432/db?sslmode=disable")
	f.Fuzz(func(t *testing.T, dsn string) {
		d, source, err := parseDSN(dsn)
		if err != nil {
			if !errors.Is(err, ErrDSN) {
				t.Fatalf("parseDSN(%q) error %v is not ErrDSN", dsn, err)
			}
			if len(dsn) >= 12 && strings.Contains(err.Error(), dsn) {
				t.Fatalf("parseDSN(%q) error repeats the DSN", dsn)
			}
			return
		}
		switch d.name {
		case "postgres":
			if source != dsn {
				t.Fatalf("parseDSN(%q) changed a PostgreSQL URL to %q", dsn, source)
			}
		case "sqlite":
			if source == "" {
				t.Fatalf("parseDSN(%q): empty SQLite path", dsn)
			}
			// Whatever the path, the driver sees our settings and no
			// others: a path cannot turn durability off.
			path, query, ok := strings.Cut(sqliteSource(source), "?")
			if !ok || path != source {
				t.Fatalf("sqliteSource(%q) = %q", source, sqliteSource(source))
			}
			q, err := url.ParseQuery(query)
			if err != nil || q.Get("_txlock") != "immediate" || len(q["_pragma"]) != 4 ||
				!strings.Contains(query, "synchronous%28FULL%29") || !strings.Contains(query, "journal_mode%28WAL%29") {
				t.Fatalf("sqliteSource(%q) settings %q", source, query)
			}
		default:
			t.Fatalf("parseDSN(%q): dialect %q", dsn, d.name)
		}
	})
}

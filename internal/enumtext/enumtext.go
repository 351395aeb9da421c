// Package enumtext gives small integer enums their text forms from one
// table of names, so that an enum's String, MarshalText and parsing agree
// by construction: a value added to the enum needs only its name added to
// the table.
package enumtext

import (
	"fmt"
	"strings"
)

// Table holds the names of an enum E's values.
type Table[E ~uint8] struct {
	// What names the enum in MarshalText's error, with its package
	// ("payment: event type").
	What string
	// Invalid is what String returns for a value that is none of E's.
	Invalid string
	// FoldCase makes Parse ignore ASCII case.
	FoldCase bool
	// Names[v] is the name of E(v). An empty name, or a value past the
	// end, marks a value that is none of E's (such as the zero value of
	// an enum whose values start at one).
	Names []string
}

// Valid reports whether v is one of E's values.
func (t Table[E]) Valid(v E) bool { return int(v) < len(t.Names) && t.Names[v] != "" }

// String returns v's name, or t.Invalid.
func (t Table[E]) String(v E) string {
	if !t.Valid(v) {
		return t.Invalid
	}
	return t.Names[v]
}

// MarshalText returns v's name, and an error for a value that is none of
// E's: text written for another program must name a value it can read
// back.
func (t Table[E]) MarshalText(v E) ([]byte, error) {
	if !t.Valid(v) {
		return nil, fmt.Errorf("%s %d: unknown", t.What, uint8(v))
	}
	return []byte(t.Names[v]), nil
}

// Parse returns the value named text, and false when no value is.
func (t Table[E]) Parse(text []byte) (E, bool) {
	for i, name := range t.Names {
		if name != "" && (string(text) == name || t.FoldCase && strings.EqualFold(string(text), name)) {
			return E(i), true
		}
	}
	return 0, false
}

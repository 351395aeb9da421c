package payment

import (
	"bytes"
	"fmt"
	"testing"
	"unsafe"

	"dtmfgw/dtmf"
)

func TestCaptureAppendClearZero(t *testing.T) {
	cs := newCaptures([]int{4, 3})
	a, b := &cs[0], &cs[1]
	// Both buffers live on one array of 7 bytes: look at all of it.
	backing := unsafe.Slice(unsafe.SliceData(a.b), 7)

	for _, k := range "12*#A3456" {
		a.append(dtmf.Key(k))
	}
	if got := string(a.bytes()); got != "1234" {
		t.Fatalf("typed %q, want the first four digits only", got)
	}
	if a.append('7') {
		t.Error("appended beyond the capacity")
	}
	if cap(a.b) != 4 {
		t.Errorf("capacity grew to %d", cap(a.b))
	}
	for _, k := range "999" {
		b.append(dtmf.Key(k))
	}
	if !bytes.Equal(backing, []byte("1234999")) {
		t.Fatalf("backing %q: a buffer reached its neighbour", backing)
	}

	a.clear()
	if a.len() != 0 || !bytes.Equal(backing[:4], make([]byte, 4)) || string(backing[4:]) != "999" {
		t.Fatalf("after clear: len %d, backing %q", a.len(), backing)
	}
	if !a.append('5') || string(a.bytes()) != "5" {
		t.Error("no digits after clear")
	}

	a.zero()
	b.zero()
	if !bytes.Equal(backing, make([]byte, 7)) {
		t.Fatalf("after zero the backing array holds %q", backing)
	}
	if a.append('1') || a.len() != 0 {
		t.Error("appended after zero")
	}
}

func TestCaptureNeverPrintsDigits(t *testing.T) {
	cs := newCaptures([]int{8})
	for _, k := range "4242" {
		cs[0].append(dtmf.Key(k))
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "%d"} {
		if s := fmt.Sprintf(verb, cs[0]); bytes.Contains([]byte(s), []byte("42")) || bytes.Contains([]byte(s), []byte("34")) {
			t.Errorf("%s printed %q", verb, s)
		}
		if s := fmt.Sprintf(verb, cs); bytes.Contains([]byte(s), []byte("4242")) {
			t.Errorf("%s of a slice printed %q", verb, s)
		}
	}
}

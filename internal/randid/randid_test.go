package randid

import (
	"encoding/base64"
	"testing"
)

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := New(16)
		if len(id) != 22 {
			t.Fatalf("New(16) = %q: %d characters, want 22", id, len(id))
		}
		b, err := base64.RawURLEncoding.DecodeString(id)
		if err != nil || len(b) != 16 {
			t.Fatalf("New(16) = %q: not 16 bytes of base64url (%v)", id, err)
		}
		if seen[id] {
			t.Fatalf("New(16) repeated %q", id)
		}
		seen[id] = true
	}
	if id := New(24); len(id) != 32 {
		t.Errorf("New(24) = %q: %d characters, want 32", id, len(id))
	}
}

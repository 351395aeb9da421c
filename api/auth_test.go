package api

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFormToken(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	exp := time.Unix(1_900_000_000, 0).UTC()
	tok := mintFormToken(secret, "pay_abc", exp)
	got, err := parseFormToken(secret, tok)
	if err != nil || got.paymentID != "pay_abc" || !got.expires.Equal(exp) {
		t.Fatalf("parse: %+v %v", got, err)
	}
	if _, err := parseFormToken([]byte(strings.Repeat("t", 32)), tok); !errors.Is(err, errTokenMAC) {
		t.Errorf("other secret: %v", err)
	}
	for _, bad := range []string{"", "!!!", tok[:len(tok)-2], tok + "A", strings.Repeat("A", 400), "cGF5X2FiY3wxOTAwMDAwMDAw"} {
		if _, err := parseFormToken(secret, bad); err == nil {
			t.Errorf("token %q accepted", bad)
		}
	}
	// A token edited to name another payment fails its MAC.
	other := mintFormToken(secret, "pay_abd", exp)
	if other == tok {
		t.Error("two payments, one token")
	}
}

package webhook

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	testSecret = []byte("whsec-test-0123456789abcdef")
	testBody   = []byte(`{"id":"whd_abc","type":"payment.result","data":{"payment":{"id":"pay_x","state":"approved"}}}`)
	testNow    = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
)

func TestSignVerify(t *testing.T) {
	good := Sign(testSecret, testNow, testBody)
	if !strings.HasPrefix(good, fmt.Sprintf("t=%d,v1=", testNow.Unix())) || len(good) != len("t=1773480413,v1=")+64 {
		t.Fatalf("Sign = %q", good)
	}
	v1 := good[strings.Index(good, "v1="):]
	other := Sign([]byte("another-secret-0123456789"), testNow, testBody)
	otherV1 := other[strings.Index(other, "v1="):]
	ts := fmt.Sprintf("t=%d", testNow.Unix())
	cases := []struct {
		name      string
		secret    []byte
		header    string
		body      []byte
		now       time.Time
		tolerance time.Duration
		want      error // nil: accepted
	}{
		{"as sent", testSecret, good, testBody, testNow, 0, nil},
		{"a little later", testSecret, good, testBody, testNow.Add(4 * time.Minute), 0, nil},
		{"clock behind", testSecret, good, testBody, testNow.Add(-4 * time.Minute), 0, nil},
		{"spaces", testSecret, ts + ", " + v1, testBody, testNow, 0, nil},
		{"v1 first", testSecret, v1 + "," + ts, testBody, testNow, 0, nil},
		{"rotation: two v1, second right", testSecret, ts + "," + otherV1 + "," + v1, testBody, testNow, 0, nil},
		{"unknown scheme ignored", testSecret, good + ",v2=zzz", testBody, testNow, 0, nil},
		{"long tolerance", testSecret, good, testBody, testNow.Add(time.Hour), 2 * time.Hour, nil},
		{"changed body", testSecret, good, append([]byte(nil), strings.Replace(string(testBody), "approved", "declined", 1)...), testNow, 0, ErrSignature},
		{"body with a space more", testSecret, good, append(append([]byte(nil), testBody...), ' '), testNow, 0, ErrSignature},
		{"empty body", testSecret, good, nil, testNow, 0, ErrSignature},
		{"wrong secret", []byte("not-the-secret-0123456789"), good, testBody, testNow, 0, ErrSignature},
		{"other secret's signature", testSecret, other, testBody, testNow, 0, ErrSignature},
		{"old", testSecret, good, testBody, testNow.Add(6 * time.Minute), 0, ErrTimestamp},
		{"from the future", testSecret, good, testBody, testNow.Add(-6 * time.Minute), 0, ErrTimestamp},
		{"old under a short tolerance", testSecret, good, testBody, testNow.Add(2 * time.Minute), time.Minute, ErrTimestamp},
		{"timestamp changed", testSecret, fmt.Sprintf("t=%d,", testNow.Unix()+1) + v1, testBody, testNow, 0, ErrSignature},
		{"timestamp respelt", testSecret, fmt.Sprintf("t=0%d,", testNow.Unix()) + v1, testBody, testNow, 0, ErrSignature},
		{"empty", testSecret, "", testBody, testNow, 0, ErrNoSignature},
		{"blank", testSecret, "  ", testBody, testNow, 0, ErrNoSignature},
		{"no timestamp", testSecret, v1, testBody, testNow, 0, ErrBadHeader},
		{"no v1", testSecret, ts, testBody, testNow, 0, ErrBadHeader},
		{"two timestamps", testSecret, ts + "," + ts + "," + v1, testBody, testNow, 0, ErrBadHeader},
		{"negative timestamp", testSecret, "t=-1," + v1, testBody, testNow, 0, ErrBadHeader},
		{"hex timestamp", testSecret, "t=0x10," + v1, testBody, testNow, 0, ErrBadHeader},
		{"huge timestamp", testSecret, "t=99999999999999999999," + v1, testBody, testNow, 0, ErrBadHeader},
		{"short v1", testSecret, ts + ",v1=abcd", testBody, testNow, 0, ErrBadHeader},
		{"v1 not hex", testSecret, ts + ",v1=" + strings.Repeat("g", 64), testBody, testNow, 0, ErrBadHeader},
		{"no equals", testSecret, ts + ",v1", testBody, testNow, 0, ErrBadHeader},
		{"empty key", testSecret, ts + ",=x," + v1, testBody, testNow, 0, ErrBadHeader},
		{"too many parts", testSecret, good + strings.Repeat(",x=y", maxHeaderParts), testBody, testNow, 0, ErrBadHeader},
		{"too long", testSecret, good + ",x=" + strings.Repeat("y", maxHeaderLen), testBody, testNow, 0, ErrBadHeader},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.secret, tc.header, tc.body, tc.now, tc.tolerance)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), string(tc.secret)) || strings.Contains(err.Error(), v1[3:]) {
				t.Errorf("the error shows the secret or the signature: %v", err)
			}
		})
	}
	if err := Verify(nil, good, testBody, testNow, 0); err == nil {
		t.Error("Verify with no secret succeeded")
	}
}

// FuzzVerify: the header parser never panics, accepts only what it can
// read back, and nothing verifies that Sign did not make (the secret is
// not the fuzzer's to find).
func FuzzVerify(f *testing.F) {
	f.Add(Sign(testSecret, testNow, testBody), testBody, int64(0))
	f.Add("t=1,v1=00", []byte("{}"), int64(5))
	f.Add("", []byte(nil), int64(0))
	f.Add("t=1773480413, v1="+strings.Repeat("0", 64)+",v2=abc", []byte("x"), int64(-3))
	f.Fuzz(func(t *testing.T, header string, body []byte, skew int64) {
		now := testNow.Add(time.Duration(skew%3600) * time.Second)
		s, perr := parseSignature(header)
		err := Verify(testSecret, header, body, now, 0)
		if perr != nil {
			if !errors.Is(err, perr) && err.Error() != perr.Error() {
				t.Fatalf("parse error %v, Verify error %v", perr, err)
			}
			return
		}
		if len(s.v1) == 0 || s.t < 0 || s.ts == "" {
			t.Fatalf("parsed %+v from %q", s, header)
		}
		// Hex is read in either case (found by the fuzzer).
		if err == nil && !strings.Contains(strings.ToLower(header), Sign(testSecret, time.Unix(s.t, 0), body)[len(s.ts)+6:]) {
			t.Fatalf("verified a signature Sign did not make: %q", header)
		}
	})
}

// TestFuzzCorpusCheckedIn: the seed corpus is in testdata, as the house
// rules ask.
func TestFuzzCorpusCheckedIn(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzVerify", "*"))
	if len(files) == 0 {
		t.Fatal("no seed corpus under testdata/fuzz/FuzzVerify")
	}
	for _, f := range files {
		if b, err := os.ReadFile(f); err != nil || !strings.HasPrefix(string(b), "go test fuzz v1") {
			t.Errorf("%s is not a corpus file", f)
		}
	}
}

//go:build linux

package main

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBencodeRoundTrip(t *testing.T) {
	in := map[string]any{
		"command":       "block DTMF",
		"call-id":       "c1",
		"flags":         []any{"detect-DTMF", "x y"},
		"delay-buffer":  40,
		"nested":        map[string]any{"b": int64(-3), "a": []any{}},
		"DTMF-security": "silence",
		"sdp":           "v=0\r\nm=audio 1 RTP/AVP 0\r\n",
	}
	b, err := appendBencode(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	// Keys sorted as raw strings (uppercase before lowercase).
	if !bytes.HasPrefix(b, []byte("d13:DTMF-security7:silence7:call-id2:c17:command10:block DTMF12:delay-bufferi40e")) {
		t.Fatalf("encoded %q", b)
	}
	out, err := decodeBencode(b)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"command": "block DTMF", "call-id": "c1", "flags": []any{"detect-DTMF", "x y"}, "delay-buffer": int64(40),
		"nested": map[string]any{"b": int64(-3), "a": []any{}}, "DTMF-security": "silence", "sdp": "v=0\r\nm=audio 1 RTP/AVP 0\r\n",
	}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("decoded %#v\nwant %#v", out, want)
	}
	if _, err := appendBencode(nil, map[string]any{"x": 1.5}); err == nil {
		t.Fatal("a float encoded")
	}
}

func TestBencodeMalformed(t *testing.T) {
	for _, bad := range []string{
		"", "i42", "ie", "i4x2e", "5:abc", "-1:", "l", "li1e", "d3:keye", "d", "di1ei2ee", "x", "4:spamX",
		strings.Repeat("l", maxBencodeDepth+2) + strings.Repeat("e", maxBencodeDepth+2),
	} {
		if v, err := decodeBencode([]byte(bad)); !errors.Is(err, errBencode) {
			t.Errorf("decodeBencode(%q) = %v, %v; want errBencode", bad, v, err)
		}
	}
}

func TestSDPAudioAddr(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	for _, c := range []struct {
		name, sdp string
		want      netip.AddrPort
	}{
		{"ours", sdpBody(netip.AddrPortFrom(lo, 40000), true), netip.AddrPortFrom(lo, 40000)},
		{"rtpengine's answer", "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=loadrelay\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\na=rtcp:30001\r\n", netip.AddrPortFrom(lo, 30000)},
		{"media-level c= wins", "v=0\nc=IN IP4 10.0.0.1\nm=audio 5004 RTP/AVP 0\nc=IN IP4 127.0.0.2\n", netip.MustParseAddrPort("127.0.0.2:5004")},
		{"refused stream skipped", "v=0\nc=IN IP4 127.0.0.1\nm=audio 0 RTP/AVP 0\nm=video 7000 RTP/AVP 96\nc=IN IP4 10.9.9.9\nm=audio 6000 RTP/AVP 0\n", netip.AddrPortFrom(lo, 6000)},
		{"video's c= is not the session's", "v=0\nm=video 7000 RTP/AVP 96\nc=IN IP4 10.9.9.9\nm=audio 6000 RTP/AVP 0\nc=IN IP4 127.0.0.1\nm=audio 6100 RTP/AVP 0\n", netip.AddrPortFrom(lo, 6000)},
		{"ipv6", "v=0\nc=IN IP6 ::1\nm=audio 6000/2 RTP/AVP 0\n", netip.MustParseAddrPort("[::1]:6000")},
	} {
		got, err := sdpAudioAddr(c.sdp)
		if err != nil || got != c.want {
			t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	for _, bad := range []string{
		"", "v=0\nm=audio 6000 RTP/AVP 0\n", "v=0\nc=IN IP4 127.0.0.1\nm=video 6000 RTP/AVP 0\n",
		"v=0\nc=IN IP4 127.0.0.1\nm=audio 70000 RTP/AVP 0\n", "v=0\nc=IN IP4 nowhere\nm=audio 6000 RTP/AVP 0\n",
		"v=0\nc=IN IP4 127.0.0.1\nm=audio 0 RTP/AVP 0\n",
	} {
		if got, err := sdpAudioAddr(bad); err == nil {
			t.Errorf("sdpAudioAddr(%q) = %v, want an error", bad, got)
		}
	}
}

func TestSustainable(t *testing.T) {
	ms := time.Millisecond
	ok := func(calls int) loadFigures { return loadFigures{calls: calls, p99Up: 2 * ms, p99Down: 1 * ms} }
	lossy := ok(0)
	lossy.lossDown = 0.0011
	slow := ok(0)
	slow.p99Up = 20*ms + time.Microsecond
	at := func(f loadFigures, calls int) loadFigures { f.calls = calls; return f }
	edge := loadFigures{calls: 600, lossUp: maxLoss, lossDown: maxLoss, p99Up: maxP99, p99Down: maxP99}
	for _, c := range []struct {
		name   string
		points []loadFigures
		calls  int
		failed []int
	}{
		{"all sustained", []loadFigures{ok(100), ok(300), ok(200)}, 300, nil},
		{"the bounds themselves pass", []loadFigures{ok(100), edge}, 600, nil},
		{"loss down fails", []loadFigures{ok(100), ok(200), at(lossy, 300)}, 200, nil},
		{"p99 up fails", []loadFigures{ok(100), at(slow, 200)}, 100, nil},
		{"a dip below is told", []loadFigures{ok(100), at(slow, 200), ok(300), at(lossy, 400)}, 300, []int{200}},
		{"none", []loadFigures{at(slow, 100), at(lossy, 200)}, 0, nil},
		{"rounds of one load", []loadFigures{ok(100), ok(100)}, 100, nil},
		{"a generator behind does not count", []loadFigures{ok(100), {calls: 200, genBehind: true}}, 100, nil},
	} {
		calls, failed := sustainable(c.points)
		if calls != c.calls || !slices.Equal(failed, c.failed) {
			t.Errorf("%s: %d, %v; want %d, %v", c.name, calls, failed, c.calls, c.failed)
		}
	}
}

//go:build linux

package main

import (
	"bytes"
	"testing"
)

func TestStampDigits(t *testing.T) {
	for _, v := range []uint64{0, 1, 126, 127, 65535, 1 << 40} {
		b := make([]byte, 7)
		if !putDigits(b, v) {
			t.Fatalf("%d does not fit 7 digits", v)
		}
		if got, ok := digits(b); !ok || got != v {
			t.Fatalf("digits(putDigits(%d)) = %d, %v", v, got, ok)
		}
	}
	if putDigits(make([]byte, 2), 127*127) {
		t.Fatal("127² fitted two digits")
	}
	if _, ok := digits([]byte{1, 0x7F}); ok {
		t.Fatal("0x7F read as a digit")
	}
	// No byte of a stamp is µ-law's negative zero, whatever it says.
	p := make([]byte, stampBytes)
	for _, sent := range []int64{0, 0x7F, 0x7F7F7F7F7F, 1<<47 - 1} {
		putStamp(p, 1, true, 0x7F, 0x7F7F, sent)
		if bytes.IndexByte(p, 0x7F) >= 0 {
			t.Fatalf("stamp % x holds 0x7F", p)
		}
		st, ok := readStamp(p, 1)
		if !ok || st.call != 0x7F || st.index != 0x7F7F || st.sentNS != sent || !st.near {
			t.Fatalf("readStamp = %+v, %v", st, ok)
		}
	}
	if _, ok := readStamp(p, 0); ok {
		t.Fatal("copy 1 read as copy 0")
	}
}

// transcode does to a payload what a µ-law decode and re-encode does:
// negative zero comes back as positive zero.
func transcode(p []byte) []byte {
	out := bytes.Clone(p)
	for i, b := range out {
		if b == 0x7F {
			out[i] = 0xFF
		}
	}
	return out
}

// TestAudioCheckerUndelayed classifies what a plain relay, a transcoding
// relay and a masking one may hand the agent.
func TestAudioCheckerUndelayed(t *testing.T) {
	tones := renderTones()
	chk := newAudioChecker(0, tones)
	s := newStream(9, false)
	s.pos = 0
	b := make([]byte, maxDatagram)
	kinds := map[frameKind]int{}
	for range cycle {
		n := s.next(b, tones, 123456789)
		if b[1]&0x7F != audioPT {
			continue
		}
		p := b[rtpHeader:n]
		_, _, k := chk.check(p)
		kinds[k]++
		if k == frameIntact {
			if _, _, k := chk.check(transcode(p)); k != frameIntact {
				t.Fatalf("a transcoded frame came out %v", k)
			}
			changed := bytes.Clone(p)
			changed[100] ^= 0x10
			if _, ok, k := chk.check(changed); !ok || k != frameChanged {
				t.Fatalf("a frame with changed noise came out %v (stamp %v)", k, ok)
			}
			silence := bytes.Repeat([]byte{0xFF}, frameBytes)
			if _, ok, k := chk.check(silence); ok || k != frameReplaced {
				t.Fatalf("silence came out %v", k)
			}
		}
		if k == frameTone {
			if _, _, k := chk.check(transcode(p)); k != frameTone {
				t.Fatalf("a transcoded tone frame came out %v", k)
			}
		}
	}
	if kinds[frameTone] != toneFrames || kinds[frameIntact] != cycle-eventPackets-toneFrames || kinds[frameChanged]+kinds[frameReplaced] != 0 {
		t.Fatalf("one cycle's audio classified %v", kinds)
	}
}

// TestAudioCheckerDelayed: with the audio delayed by dtmfgw's look-ahead
// (208 samples), every output packet after the first two holds whole
// audio of the stream as sent, and the tone frames are found shifted.
func TestAudioCheckerDelayed(t *testing.T) {
	tones := renderTones()
	for _, delay := range []int{100, 208, 300} {
		chk := newAudioChecker(delay, tones)
		s := newStream(4, false)
		s.pos = toneAt - 10
		b := make([]byte, maxDatagram)
		var audio []byte
		for range 30 {
			n := s.next(b, tones, 42)
			if b[1]&0x7F == audioPT {
				audio = append(audio, b[rtpHeader:n]...)
			}
		}
		delayed := append(bytes.Repeat([]byte{0xFF}, delay), audio...)
		kinds := map[frameKind]int{}
		first := (delay + frameBytes - 1) / frameBytes
		for k := first; (k+1)*frameBytes <= len(delayed); k++ {
			_, _, kind := chk.check(delayed[k*frameBytes : (k+1)*frameBytes])
			kinds[kind]++
		}
		if kinds[frameChanged] != 0 || kinds[frameTone] < toneFrames-1 || kinds[frameReplaced] > 2 {
			t.Fatalf("delay %d: %v", delay, kinds)
		}
	}
}

// TestSentCountsClean: the packets near a press are not clean, and a
// pause takes the stream's last packets out.
func TestSentCountsClean(t *testing.T) {
	tones := renderTones()
	s := newStream(0, false)
	s.pos = 0
	s.sent = newSentCounts(1, 2*cycle)
	b := make([]byte, maxDatagram)
	for range cycle {
		s.next(b, tones, 0)
	}
	clean := func() int {
		n := 0
		for _, w := range s.sent.clean[0] {
			for ; w != 0; w &= w - 1 {
				n++
			}
		}
		return n
	}
	near := 0
	for pos := range cycle {
		if nearPress(pos) {
			near++
		}
	}
	if want := 2*pressGuard + eventPackets + 2*pressGuard + toneFrames; near != want {
		t.Fatalf("%d positions near a press, want %d", near, want)
	}
	// Every audio packet but the tone frames is stamped; those near a
	// press are not clean.
	if s.sent.stamped != cycle-eventPackets-toneFrames || s.sent.tone != toneFrames || s.sent.events != eventPackets {
		t.Fatalf("sent %+v", *s.sent)
	}
	if got, want := clean(), cycle-near; got != want {
		t.Fatalf("%d clean, want %d", got, want)
	}
	s.pause()
	if got, want := clean(), cycle-near-pauseGuard; got != want {
		t.Fatalf("after a pause %d clean, want %d", got, want)
	}
	var d direction
	d.sent = s.sent
	d.seen = [][]uint64{make([]uint64, len(s.sent.clean[0]))}
	d.markSeen(stampInfo{call: 0, index: 30})
	d.markSeen(stampInfo{call: 7, index: 30}) // no such call: ignored
	d.countLoss()
	if d.Clean != int64(cycle-near-pauseGuard) || d.Lost != d.Clean-1 {
		t.Fatalf("loss %d of %d", d.Lost, d.Clean)
	}
}

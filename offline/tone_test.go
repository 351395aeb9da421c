package offline

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dtmfgw/dtmf/g711"
)

func TestRenderKeysLayout(t *testing.T) {
	o := toneOptions{level: -10, on: 50 * time.Millisecond, off: 30 * time.Millisecond, lead: 100 * time.Millisecond}
	pcm, err := renderKeys([]byte("1#d"), o)
	if err != nil {
		t.Fatal(err)
	}
	// lead + 3 presses + 2 pauses + lead, at 8 samples per ms.
	if want := 8 * (100 + 3*50 + 2*30 + 100); len(pcm) != want {
		t.Fatalf("%d samples, want %d", len(pcm), want)
	}
	for i, s := range pcm[:800] {
		if s != 0 {
			t.Fatalf("lead-in sample %d is %d, want silence", i, s)
		}
	}
	if pcm[800+1] == 0 && pcm[800+2] == 0 {
		t.Fatal("no tone after the lead-in")
	}
}

func TestRenderKeysRefusesNonKeysWithoutEchoingThem(t *testing.T) {
	o := toneOptions{level: -10, on: 50 * time.Millisecond}
	_, err := renderKeys([]byte("41x1"), o)
	if err == nil {
		t.Fatal("want an error for 'x'")
	}
	if !strings.Contains(err.Error(), "character 3") || strings.Contains(err.Error(), "41") {
		t.Fatalf("error %q must name the position and not echo the keys", err)
	}
	if _, err := renderKeys(nil, o); err == nil {
		t.Fatal("want an error for no keys")
	}
	if _, err := renderKeys([]byte("1"), toneOptions{on: time.Millisecond}); err == nil {
		t.Fatal("want an error for a 1 ms press")
	}
}

func TestEncodeAudioFormats(t *testing.T) {
	pcm := []int16{0, 1000, -1000, 32767}
	wav, err := encodeAudio(pcm, "wav")
	if err != nil {
		t.Fatal(err)
	}
	if len(wav) != 44+8 || string(wav[:4]) != "RIFF" || string(wav[8:16]) != "WAVEfmt " || string(wav[36:40]) != "data" {
		t.Fatalf("bad WAV header % x", wav[:44])
	}
	le := binary.LittleEndian
	if le.Uint32(wav[4:]) != 36+8 || le.Uint16(wav[20:]) != 1 || le.Uint16(wav[22:]) != 1 ||
		le.Uint32(wav[24:]) != 8000 || le.Uint16(wav[34:]) != 16 || le.Uint32(wav[40:]) != 8 {
		t.Fatalf("bad WAV fields % x", wav[:44])
	}
	if int16(le.Uint16(wav[44+6:])) != 32767 {
		t.Fatal("WAV samples not little-endian PCM")
	}
	raw, _ := encodeAudio(pcm, "pcm16")
	if !bytes.Equal(raw, wav[44:]) {
		t.Fatal("pcm16 must be the WAV data without its header")
	}
	ul, _ := encodeAudio(pcm, "ulaw")
	if len(ul) != 4 || ul[3] != g711.Linear2Ulaw(32767) {
		t.Fatalf("ulaw % x", ul)
	}
	al, _ := encodeAudio(pcm, "alaw")
	if len(al) != 4 || al[1] != g711.Linear2Alaw(1000) {
		t.Fatalf("alaw % x", al)
	}
	if _, err := encodeAudio(pcm, "mp3"); err == nil {
		t.Fatal("want an error for an unknown format")
	}
}

func TestToneWritesFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "k.ul")
	var stdout, stderr bytes.Buffer
	if err := Tone(context.Background(), []string{"--format", "ulaw", "--lead", "0s", "--on", "40ms", "--out", out, "5"}, &stdout, &stderr); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 320 {
		t.Fatalf("%d bytes, want 320 (40 ms of µ-law)", len(b))
	}
}

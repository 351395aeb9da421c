package audiofile

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

func TestAppendWAVRoundTrip(t *testing.T) {
	pcm := []int16{0, 1, -1, 32767, -32768, 1234}
	b := AppendWAV([]byte("prefix"), pcm)
	if string(b[:6]) != "prefix" || len(b) != 6+44+2*len(pcm) {
		t.Fatalf("len %d: want the prefix kept and a 44-byte header plus samples", len(b))
	}
	got, info, err := DecodeWAV(b[6:])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, pcm) || info.SourceRate != SampleRate || info.Channels != 1 || info.Encoding != "pcm16" {
		t.Fatalf("read back %v %+v", got, info)
	}
}

// espeak-ng --stdout (and other writers on a pipe) cannot seek back to fill
// in the sizes and write 0x7FFFF000 as the data size: the samples run to the
// end of the file. A plainly truncated file is still refused.
func TestDecodeWAVStreamedDataSize(t *testing.T) {
	pcm := []int16{5, -5, 7}
	b := AppendWAV(nil, pcm)
	for _, size := range []uint32{0x7FFFF000, 0xFFFFFFFF} {
		s := slices.Clone(b)
		binary.LittleEndian.PutUint32(s[40:], size)
		got, _, err := DecodeWAV(s)
		if err != nil || !slices.Equal(got, pcm) {
			t.Errorf("size %#x: got %v, %v; want the samples to the end", size, got, err)
		}
	}
	s := slices.Clone(b)
	binary.LittleEndian.PutUint32(s[40:], 100)
	if _, _, err := DecodeWAV(s); !errors.Is(err, ErrMalformed) {
		t.Errorf("a data chunk claiming 100 bytes with 6 present: %v, want ErrMalformed", err)
	}
}

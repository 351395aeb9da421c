package dtmfcorpus

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// wavHeader builds a RIFF/WAVE header with the given fmt fields and a data
// chunk header claiming dataSize bytes.
func wavHeader(format, channels uint16, rate uint32, bits uint16, dataSize uint32) []byte {
	b := []byte("RIFF\xff\xff\xff\x7fWAVEfmt ")
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = binary.LittleEndian.AppendUint16(b, format)
	b = binary.LittleEndian.AppendUint16(b, channels)
	b = binary.LittleEndian.AppendUint32(b, rate)
	b = binary.LittleEndian.AppendUint32(b, rate*uint32(channels)*uint32(bits/8))
	b = binary.LittleEndian.AppendUint16(b, channels*bits/8)
	b = binary.LittleEndian.AppendUint16(b, bits)
	b = append(b, "data"...)
	return binary.LittleEndian.AppendUint32(b, dataSize)
}

func TestParseWAV(t *testing.T) {
	samples := []int16{0, 1, -1, 32767, -32768, 1234}
	body := AppendWAV(nil, samples, 8000)[44:]
	withList := wavHeader(1, 1, 22050, 16, 0)[:36]
	withList = append(withList, "LIST\x03\x00\x00\x00abc\x00"...) // odd size, padded
	withList = append(withList, "data\x04\x00\x00\x00\x01\x00\x02\x00"...)
	tests := []struct {
		name    string
		in      []byte
		want    []int16
		rate    int
		wantErr bool
	}{
		{name: "round trip of AppendWAV", in: AppendWAV(nil, samples, 8000), want: samples, rate: 8000},
		{name: "espeak-ng pipe placeholder sizes read to the end", in: append(wavHeader(1, 1, 22050, 16, 0x7ffff000), body...), want: samples, rate: 22050},
		{name: "data size shorter than the input stops there", in: append(wavHeader(1, 1, 22050, 16, 4), body...), want: samples[:2], rate: 22050},
		{name: "odd trailing byte dropped", in: append(append(wavHeader(1, 1, 16000, 16, 0xffffffff), body...), 7), want: samples, rate: 16000},
		{name: "unknown chunk with pad byte skipped", in: withList, want: []int16{1, 2}, rate: 22050},
		{name: "empty data chunk", in: wavHeader(1, 1, 8000, 16, 0), want: []int16{}, rate: 8000},
		{name: "not RIFF", in: []byte("RIFX\x00\x00\x00\x00WAVE"), wantErr: true},
		{name: "too short", in: []byte("RIFF"), wantErr: true},
		{name: "float format", in: wavHeader(3, 1, 8000, 32, 0), wantErr: true},
		{name: "stereo", in: wavHeader(1, 2, 8000, 16, 0), wantErr: true},
		{name: "8-bit", in: wavHeader(1, 1, 8000, 8, 0), wantErr: true},
		{name: "absurd rate", in: wavHeader(1, 1, 10, 16, 0), wantErr: true},
		{name: "data before fmt", in: []byte("RIFF\x00\x00\x00\x00WAVEdata\x02\x00\x00\x00\x01\x00"), wantErr: true},
		{name: "no data chunk", in: wavHeader(1, 1, 8000, 16, 0)[:36], wantErr: true},
		{name: "truncated fmt", in: []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rate, err := ParseWAV(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrWAV) {
					t.Fatalf("err = %v, want ErrWAV", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rate != tt.rate || !slices.Equal(got, tt.want) {
				t.Errorf("got %v at %d Hz, want %v at %d Hz", got, rate, tt.want, tt.rate)
			}
		})
	}
}

// FuzzParseWAV checks that no input makes ParseWAV panic or return more
// samples than its bytes can hold.
func FuzzParseWAV(f *testing.F) {
	f.Add(AppendWAV(nil, []int16{1, -2, 3}, 8000))
	f.Add(wavHeader(1, 1, 22050, 16, 0x7ffff000))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVE"))
	f.Fuzz(func(t *testing.T, b []byte) {
		samples, rate, err := ParseWAV(b)
		if err != nil {
			if samples != nil || !errors.Is(err, ErrWAV) {
				t.Fatalf("error %v with %d samples", err, len(samples))
			}
			return
		}
		if 2*len(samples) > len(b) || rate < 1000 || rate > 192000 {
			t.Fatalf("%d samples at %d Hz from %d bytes", len(samples), rate, len(b))
		}
	})
}

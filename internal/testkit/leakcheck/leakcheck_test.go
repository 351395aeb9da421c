package leakcheck

import (
	"context"
	"testing"
	"time"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"

	"github.com/pion/rtp"
)

const allKeys = "0123456789*#ABCD"

// presses synthesises keys as 80 ms tones with 80 ms pauses, after 100 ms
// of silence.
func presses(keys string) []int16 {
	pcm := make([]int16, 800)
	for i := range len(keys) {
		pcm = dtmf.AppendDTMF(pcm, dtmf.ToneSpec{Key: dtmf.Key(keys[i]), LevelDBm0: -10, Duration: 80 * time.Millisecond})
		pcm = append(pcm, make([]int16, 640)...)
	}
	return pcm
}

func TestKeysPrintMasked(t *testing.T) {
	k := Keys("4111")
	if got := k.String(); got != "••••" {
		t.Errorf("String() = %q, want four dots", got)
	}
	if got := k.Reveal(); got != "4111" {
		t.Errorf("Reveal() = %q", got)
	}
}

// Both receivers must hear every key in clean tones and nothing in silence:
// the positive and the negative control of every leak check built on them.
func TestReceiversHearTones(t *testing.T) {
	if err := NeedMultimon(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pcm  []int16
		want string
	}{
		{"all keys", presses(allKeys), allKeys},
		{"card number", presses("4929000000006"), "4929000000006"},
		{"silence", make([]int16, 8000), ""},
		{"empty", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := DetectorKeys(tc.pcm).Reveal(); got != tc.want {
				t.Errorf("Detector hears %q, want %q", got, tc.want)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			got, err := MultimonKeys(ctx, tc.pcm)
			if err != nil {
				t.Fatal(err)
			}
			if got.Reveal() != tc.want {
				t.Errorf("multimon-ng hears %q, want %q", got.Reveal(), tc.want)
			}
		})
	}
}

func TestMultimonKeysHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := MultimonKeys(ctx, presses("1")); err == nil {
		t.Fatal("MultimonKeys with a cancelled context returned no error")
	}
}

// eventPackets returns RFC 4733 packets for keys: updates every 20 ms, three
// end packets (§2.5.1.4), each press at its own timestamp.
func eventPackets(ssrc uint32, pt uint8, keys string) []rtp.Packet {
	var out []rtp.Packet
	seq := uint16(65530) // wraps inside the run
	ts := uint32(1000)
	for i := range len(keys) {
		code := dtmf.Key(keys[i]).Code()
		for n := 1; n <= 4; n++ {
			ev := dtmf.TelephoneEvent{Code: code, Volume: 10, Duration: uint16(160 * n)}
			out = append(out, rtp.Packet{Header: rtp.Header{PayloadType: pt, SSRC: ssrc, SequenceNumber: seq, Timestamp: ts, Marker: n == 1}, Payload: ev.AppendTo(nil)})
			seq++
		}
		for range 3 {
			ev := dtmf.TelephoneEvent{Code: code, End: true, Volume: 10, Duration: 640}
			out = append(out, rtp.Packet{Header: rtp.Header{PayloadType: pt, SSRC: ssrc, SequenceNumber: seq, Timestamp: ts}, Payload: ev.AppendTo(nil)})
			seq++
		}
		ts += 1600
	}
	return out
}

func TestEventKeys(t *testing.T) {
	dup := eventPackets(7, 101, "55")
	dup = append(dup[:3], append([]rtp.Packet{dup[2]}, dup[3:]...)...)
	other := eventPackets(8, 96, "9")
	for _, tc := range []struct {
		name string
		pkts []rtp.Packet
		pt   uint8
		want string
	}{
		{"card number", eventPackets(7, 101, "4929000000006"), 101, "4929000000006"},
		{"all keys", eventPackets(7, 101, allKeys), 101, allKeys},
		{"duplicate packet, repeated key", dup, 101, "55"},
		{"other payload type ignored", other, 101, ""},
		{"other payload type asked for", other, 96, "9"},
		{"two streams", append(eventPackets(1, 101, "12"), eventPackets(2, 101, "3")...), 101, "123"},
		{"none", nil, 101, ""},
	} {
		if got := EventKeys(tc.pkts, tc.pt, 0).Reveal(); got != tc.want {
			t.Errorf("%s: EventKeys = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// audioPackets cuts PCM into 20 ms G.711 packets.
func audioPackets(ssrc uint32, pt uint8, law g711.Law, pcm []int16) []rtp.Packet {
	var out []rtp.Packet
	seq := uint16(65000)
	for off := 0; off+160 <= len(pcm); off += 160 {
		pay := make([]byte, 160)
		law.Encode(pay, pcm[off:off+160])
		out = append(out, rtp.Packet{Header: rtp.Header{PayloadType: pt, SSRC: ssrc, SequenceNumber: seq, Timestamp: uint32(4294960000 + off)}, Payload: pay})
		seq++
	}
	return out
}

func TestAudio(t *testing.T) {
	tones := presses("147")
	tones = append(tones, make([]int16, 160-len(tones)%160)...)
	pk := audioPackets(3, 0, g711.Ulaw, tones)
	// Reorder two packets and lose one in a pause: the layout by timestamp
	// keeps every tone where it was.
	shuffled := append([]rtp.Packet(nil), pk...)
	shuffled[10], shuffled[11] = shuffled[11], shuffled[10]
	shuffled = append(shuffled[:9], shuffled[10:]...)
	two := append(audioPackets(1, 8, g711.Alaw, presses("2")), audioPackets(2, 8, g711.Alaw, presses("3"))...)
	for _, tc := range []struct {
		name    string
		pkts    []rtp.Packet
		pt      uint8
		law     g711.Law
		want    string
		samples int
	}{
		{"in order", pk, 0, g711.Ulaw, "147", len(tones)},
		{"reordered and one lost", shuffled, 0, g711.Ulaw, "147", len(tones)},
		{"two streams", two, 8, g711.Alaw, "23", -1},
		{"other payload type", pk, 8, g711.Alaw, "", 0},
	} {
		pcm, err := Audio(tc.pkts, tc.pt, tc.law)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if tc.samples >= 0 && len(pcm) != tc.samples {
			t.Errorf("%s: %d samples, want %d", tc.name, len(pcm), tc.samples)
		}
		if got := DetectorKeys(pcm).Reveal(); got != tc.want {
			t.Errorf("%s: Detector hears %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := Audio(pk, 0, g711.Law(0)); err == nil {
		t.Error("Audio with no law returned no error")
	}
	far := []rtp.Packet{pk[0], pk[1]}
	far[1].Timestamp += 1 << 23
	if pcm, _ := Audio(far, 0, g711.Ulaw); len(pcm) != 160 {
		t.Errorf("a packet far from the stream's start gave %d samples, want it skipped", len(pcm))
	}
}

func TestParseMultimon(t *testing.T) {
	out := "multimon-ng 1.2.0\nDTMF: 4\nDTMF: *\nDTMF: #\nDTMF: A\nDTMF: xx\nDTMF: \nZVEI1: 1\n  DTMF: 9  \n"
	if got := parseMultimon([]byte(out)).Reveal(); got != "4*#A9" {
		t.Errorf("parseMultimon = %q, want %q", got, "4*#A9")
	}
}

func FuzzParseMultimon(f *testing.F) {
	f.Add([]byte("DTMF: 1\nDTMF: #\n"))
	f.Add([]byte("DTMF: D\r\nDTMF: ?\n"))
	f.Fuzz(func(t *testing.T, out []byte) {
		for _, k := range parseMultimon(out) {
			if !k.Valid() {
				t.Fatalf("parseMultimon returned a value that is not a key: %d", k)
			}
		}
	})
}

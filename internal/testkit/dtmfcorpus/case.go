package dtmfcorpus

import (
	"math"

	"dtmfgw/dtmf"
)

// SampleRate is the rate of every case's PCM: narrowband telephony.
const SampleRate = dtmf.SampleRate

// Digit is one key press a case contains: the key, the index of the tone's
// first sample within the case, and the index one past its last sample
// (the end of the last burst, when an interruption splits the tone).
type Digit struct {
	Key        dtmf.Key
	Onset, End int64
}

// Case is one stretch of audio the detector is run over from a fresh state.
type Case struct {
	// Category groups cases in the report, e.g. "Q.24 twist, accept (µ-law)".
	Category string
	// Name identifies the case within its category, with its parameters,
	// so that a failure can be reproduced by name.
	Name string
	// PCM is 16-bit linear audio at SampleRate.
	PCM []int16
	// Want lists the digits the detector must report, each exactly once,
	// in order. It is empty for must-reject and talk-off cases.
	Want []Digit
	// Codec is the path the audio took: CodecLinear, CodecUlaw or CodecAlaw.
	Codec string
	// Kind says how the case is scored.
	Kind CaseKind
}

// CaseKind says how a case is scored.
type CaseKind uint8

const (
	// MustDetect cases hold digits that must each be reported exactly once.
	MustDetect CaseKind = iota + 1
	// MustReject cases hold a tone that Q.24 says must not be a digit.
	MustReject
	// TalkOff cases are speech, music or other tones: any digit is a false
	// digit, and the rate is reported per hour of audio.
	TalkOff
)

// String names the kind as the report does.
func (k CaseKind) String() string {
	switch k {
	case MustDetect:
		return "must-detect"
	case MustReject:
		return "must-reject"
	case TalkOff:
		return "talk-off"
	}
	return "unknown"
}

// Seconds returns the case's length in seconds.
func (c *Case) Seconds() float64 { return float64(len(c.PCM)) / SampleRate }

// samplesOf converts milliseconds to samples at SampleRate.
func samplesOf(ms float64) int { return int(ms * SampleRate / 1000) }

// zeroDBm0RMS is the RMS of a 0 dBm0 sine in 16-bit linear units.
var zeroDBm0RMS = dtmf.ZeroDBm0Peak / math.Sqrt2

// dBm0RMS returns the level, in dBm0, of a signal of mean power p (16-bit
// linear units squared).
func dBm0RMS(p float64) float64 {
	if p <= 0 {
		return math.Inf(-1)
	}
	return 10 * math.Log10(p/(zeroDBm0RMS*zeroDBm0RMS))
}

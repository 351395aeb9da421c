// Package dtmfcorpus builds the evaluation corpus for dtmf.Detector and
// scores a detector against it.
//
// The corpus has two halves. The conformance half turns every row of the
// ITU-T Q.24 receiver table (frequency deviation, level, twist, duration,
// pause, interruption, noise) into cases for all sixteen keys, on both
// sides of each limit, through linear PCM, G.711 µ-law and G.711 A-law.
// The talk-off half is audio that must produce no digit at all: speech
// from espeak-ng in several languages and voices, synthetic music,
// call-progress tones, the gateway's own mask tone and tone pairs that sit
// just outside the DTMF tolerance.
//
// Beside the two halves are hard line conditions (HardConditionCases):
// digits over a steady dial tone, tones split by one lost packet and card
// numbers keyed over speech. They are scored and reported in the same run
// but not yet held to the bar the two halves are (see UnderBar).
//
// Everything is deterministic: noise and music come from seeded generators
// written here, and espeak-ng's output for a given text, voice, pitch and
// speed is stable, so a failure seen once can be reproduced. Speech is
// cached on disk (see SpeechCacheDir) because synthesis is the only slow
// step.
//
// The package is test support: it is imported by its own tests and by
// nothing in the gateway.
package dtmfcorpus

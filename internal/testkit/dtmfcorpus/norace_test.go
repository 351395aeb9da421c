//go:build !race

package dtmfcorpus

// corpusStride is 1 in the ordinary build: every case runs.
const corpusStride = 1

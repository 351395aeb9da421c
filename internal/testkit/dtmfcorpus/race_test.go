//go:build race

package dtmfcorpus

// corpusStride thins the corpus under the race detector, which slows the
// detector about twentyfold: every eighth case of each category still runs
// (the goroutines under test are the same), and the full corpus runs in
// the ordinary build.
const corpusStride = 8

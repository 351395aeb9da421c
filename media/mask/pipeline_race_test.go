//go:build race

package mask

// onsetStep spreads the look-ahead proof's onsets over a packet; the race
// build, ~20× slower, takes every third onset of the normal build so that
// the package's race run stays within a minute.
const onsetStep = 27

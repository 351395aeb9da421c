//go:build !race

package mask

// onsetStep spreads the look-ahead proof's onsets over a packet: 18 onsets
// per 160-sample packet.
const onsetStep = 9

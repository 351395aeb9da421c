//go:build race

package e2e

// raceEnabled says the race detector is on: it slows the gateway's Go
// code several times, so timing bars are measured in a build without it.
const raceEnabled = true

//go:build race

package main

// raceEnabled: the race detector slows the relaying child several times.
const raceEnabled = true

// Package testkit is what dtmfgw's tests share: one fake clock, one
// synchronised buffer, one way to find free loopback ports, one way to wait
// for a state that has no event. The harnesses that drive real peers (SIPp,
// baresip, the detector corpus, leak checks) live in the packages under it.
//
// Product code never imports testkit or anything under it
// (internal/archtest holds that).
package testkit

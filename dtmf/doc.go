// Package dtmf is dtmfgw's DTMF core: the RFC 4733 telephone-event codec and
// per-stream Tracker, the in-band (ITU-T Q.23/Q.24) Detector, DTMF and mask
// tone synthesis, and the SIP INFO DTMF body parsers.
//
// The package is pure: it does no I/O, starts no goroutines and never reads
// the wall clock. Callers pass arrival times in, so timed behaviour (an event
// whose end packets were all lost) is driven by whatever clock the caller
// owns, a real one in the relay and a fake one in tests.
//
// It imports nothing else of dtmfgw's except its own g711 subpackage, so
// media, the call and payment domains and the command line can all build on it.
package dtmf

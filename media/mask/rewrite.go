package mask

import (
	"dtmfgw/media"
	"encoding/binary"
	"time"
)

// rtpHeaderLen is the fixed RTP header the rewriter writes: no CSRC list, no
// extension, no padding (RFC 3550 §5.1).
const rtpHeaderLen = 12

// rewriter is the last stage of the caller→agent pipeline: it gives every
// packet that leaves toward the agent a header of one stream of ours, so that
// the agent's jitter buffer and recorder see one valid RTP stream whatever the
// caller did (RFC 3550 §5.1, §8.2):
//
//   - one SSRC, ours, fixed for the call, even when the caller's SSRC changes;
//   - sequence numbers that continue the input's, minus the packets the
//     pipeline dropped (telephone-event packets on the audio's SSRC), so that
//     dropping them opens no gap: a gap out is a gap the input had;
//   - timestamps on the audio clock, offset from the input's, continuous
//     across packets the pipeline synthesised;
//   - the marker bit of the input (a talkspurt start, RFC 3551 §4.1), and set
//     on our first packet and wherever the input stream was re-anchored.
//
// CSRCs, header extensions and padding are not copied: they describe the
// caller's stream, not ours, and an audio-level extension (RFC 6464) would
// tell the agent when a tone was there.
type rewriter struct {
	ssrc uint32

	started bool
	inSSRC  uint32
	// lastInSeq is the highest input sequence number seen of inSSRC,
	// forwarded or dropped.
	lastInSeq uint16
	seqOff    uint16
	tsOff     uint32

	lastOutSeq uint16
	lastOutTS  uint32
	lastOutN   uint32    // samples in the last packet out
	lastOut    time.Time // when the last packet went out
	// resync is set after synthesised packets: the next input packet in
	// order must land after them.
	resync bool
	// reanchor is set when the rewriter carries on another pipeline's
	// stream (continueFrom): the next input packet is anchored after the
	// last packet out, whatever its SSRC.
	reanchor bool

	firstSeq uint16
	firstTS  uint32
}

// newRewriter returns a rewriter writing SSRC ssrc, starting at the given
// sequence number and timestamp (random per RFC 3550 §5.1 in production,
// fixed in tests).
func newRewriter(ssrc uint32, firstSeq uint16, firstTS uint32) rewriter {
	return rewriter{ssrc: ssrc, firstSeq: firstSeq, firstTS: firstTS}
}

// String names the stage for logs.
func (w *rewriter) String() string { return "rtp-rewriter" }

// newer reports whether sequence number a is after b (RFC 3550 §A.1 serial
// number arithmetic).
func newer(a, b uint16) bool { return int16(a-b) > 0 }

// anchor maps an input packet onto the output stream so that it directly
// follows the last packet out: used for the first packet and for a new
// caller SSRC. elapsed is the time since the last packet out.
func (w *rewriter) anchor(ssrc uint32, seq uint16, ts uint32, elapsed time.Duration) {
	if !w.started {
		w.seqOff = w.firstSeq - seq
		w.tsOff = w.firstTS - ts
		w.lastOutSeq = w.firstSeq - 1
		w.lastOutTS = w.firstTS
		w.lastOutN = 0
	} else {
		w.seqOff = w.lastOutSeq + 1 - seq
		// Keep the timestamp gap the wall clock saw (RFC 3550 §5.1: the
		// timestamp reflects the sampling instant), at least one packet.
		step := w.lastOutN
		if e := elapsed / (time.Second / media.DefaultClockRate); elapsed > 0 && e < 1<<30 && uint32(e) > step {
			step = uint32(e)
		}
		w.tsOff = w.lastOutTS + step - ts
	}
	w.started = true
	w.inSSRC = ssrc
	w.lastInSeq = seq - 1
	w.resync = false
	w.reanchor = false
}

// continueFrom makes w carry on prev's stream toward the agent: a call's
// new pipeline (a re-INVITE changed the caller's payload types) writes
// the same SSRC, the next sequence number and a timestamp advanced by the
// time that passed (RFC 3550 §5.1), with the marker set, as if one
// pipeline had written it all. A prev that never sent leaves w to start
// the stream itself.
func (w *rewriter) continueFrom(prev *rewriter) {
	if !prev.started {
		return
	}
	*w = *prev
	w.reanchor = true
}

// forward writes the header of an input packet's successor into dst (at
// least rtpHeaderLen bytes) and records it as sent. samples is the number of
// audio samples the packet carries (its timestamp span); pt the payload type
// out.
func (w *rewriter) forward(dst []byte, ssrc uint32, seq uint16, ts uint32, marker bool, pt uint8, samples uint32, now time.Time) {
	if !w.started || ssrc != w.inSSRC || w.reanchor {
		w.anchor(ssrc, seq, ts, now.Sub(w.lastOut))
		marker = true
	}
	outSeq := seq + w.seqOff
	outTS := ts + w.tsOff
	if newer(seq, w.lastInSeq) {
		w.lastInSeq = seq
		if w.resync {
			// Synthesised packets took sequence numbers and time: land
			// after them.
			if !newer(outSeq, w.lastOutSeq) {
				w.seqOff += w.lastOutSeq + 1 - outSeq
				outSeq = w.lastOutSeq + 1
			}
			if int32(outTS-w.lastOutTS) < int32(w.lastOutN) {
				w.tsOff += w.lastOutTS + w.lastOutN - outTS
				outTS = w.lastOutTS + w.lastOutN
			}
			w.resync = false
		}
	}
	writeHeader(dst, marker, pt, outSeq, outTS, w.ssrc)
	if newer(outSeq, w.lastOutSeq) {
		w.lastOutSeq = outSeq
		w.lastOutTS = outTS
		w.lastOutN = samples
	}
	w.lastOut = now
}

// drop records an input packet that is not forwarded (a telephone-event
// packet), so that the sequence numbers out close over it.
func (w *rewriter) drop(ssrc uint32, seq uint16) {
	if !w.started || w.reanchor || ssrc != w.inSSRC || !newer(seq, w.lastInSeq) {
		return
	}
	// Everything after seq moves down by one, plus any input gap between
	// lastInSeq and seq keeps its size.
	w.lastInSeq = seq
	w.seqOff--
}

// synth writes the header of a packet the pipeline made up (mask tone while
// the caller sends no audio): the next sequence number, and a timestamp one
// packet after the last.
func (w *rewriter) synth(dst []byte, pt uint8, samples uint32, now time.Time) {
	if !w.started {
		w.started = true
		w.seqOff = w.firstSeq
		w.lastOutSeq = w.firstSeq - 1
		w.lastOutTS = w.firstTS
		w.lastOutN = 0
		w.inSSRC = 0
		w.lastInSeq = 0
		w.tsOff = w.firstTS
	}
	outSeq := w.lastOutSeq + 1
	outTS := w.lastOutTS + w.lastOutN
	writeHeader(dst, false, pt, outSeq, outTS, w.ssrc)
	w.lastOutSeq, w.lastOutTS, w.lastOutN = outSeq, outTS, samples
	w.lastOut = now
	w.resync = true
}

// writeHeader writes a 12-byte RTP version 2 header (RFC 3550 §5.1).
func writeHeader(dst []byte, marker bool, pt uint8, seq uint16, ts, ssrc uint32) {
	dst[0] = 2 << 6
	dst[1] = pt & 0x7F
	if marker {
		dst[1] |= 0x80
	}
	binary.BigEndian.PutUint16(dst[2:], seq)
	binary.BigEndian.PutUint32(dst[4:], ts)
	binary.BigEndian.PutUint32(dst[8:], ssrc)
}

package simcall

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"time"

	"dtmfgw/dtmf"
)

// Frame is the packet interval of every stream here: 20 ms of 8 kHz PCMU,
// 160 samples (RFC 3551 §4.5.14, the default ptime).
const Frame = 20 * time.Millisecond

const (
	samplesPerFrame = 160
	rtpHeaderSize   = 12
	// pcmuSilence is the µ-law code of a zero sample (G.711: 0xFF).
	pcmuSilence = 0xFF
	// eventVolume is the level telephone-events report, −10 dBm0
	// (RFC 4733 §2.3.4: DTMF senders typically use 0–36).
	eventVolume = 10
	// endRepeats is how many times the final packet of an event is sent
	// (RFC 4733 §2.5.1.4: the end is retransmitted, three times in all).
	endRepeats = 3
	// maxPressFrames keeps a press within one event: its duration field is
	// 16 bits of 8 kHz units, 8.19 s (RFC 4733 §2.5.1.3 would segment a
	// longer one; no keypad needs that).
	maxPressFrames = 0xFFFF / samplesPerFrame
)

// keyJob is one KeyDigits call handed to the stream's goroutine.
type keyJob struct {
	ctx context.Context
	// codes are the RFC 4733 §3.2 event codes of the keys: card data,
	// zeroed by the stream when the job ends.
	codes       []uint8
	pressFrames int
	gapFrames   int
	// done receives the job's outcome once, then the stream forgets it.
	done chan error
}

// finish zeroes the job's codes and reports err.
func (j *keyJob) finish(err error) {
	clear(j.codes)
	j.done <- err
}

// stream is one outgoing RTP stream: a PCMU frame of silence on every
// tick, replaced by telephone-event packets while a key is pressed. Only
// the goroutine that sends the stream touches it.
type stream struct {
	ssrc    uint32
	seq     uint16
	ts      uint32 // media clock of the next frame
	eventPT uint8
	started bool
	buf     []byte

	job     *keyJob
	key     int    // index in job.codes of the key being sent
	frame   int    // frame within the current key's press, end and gap
	eventTS uint32 // the current press's timestamp (RFC 4733 §2.5.1.1)
}

// newStream starts a stream with a random SSRC, sequence number and
// timestamp (RFC 3550 §5.1).
func newStream(eventPT uint8) *stream {
	return &stream{
		ssrc:    rand.Uint32(),
		seq:     uint16(rand.Uint32()),
		ts:      rand.Uint32(),
		eventPT: eventPT,
		buf:     make([]byte, 0, rtpHeaderSize+samplesPerFrame),
	}
}

// next returns the packet for the next frame; it aliases the stream's
// buffer until the following call.
//
// A key of a job takes pressFrames packets that carry the growing event
// (the first with the marker bit, RFC 4733 §2.5.1.2; the last with the E
// bit), then the final packet twice more (§2.5.1.4), then audio until
// gapFrames have passed since the press ended. The job ends after the
// last key's final packets.
func (s *stream) next() []byte {
	if s.job != nil && s.job.ctx.Err() != nil {
		s.job.finish(s.job.ctx.Err())
		s.job = nil
	}
	var pkt []byte
	if s.job != nil {
		pkt = s.nextKeyFrame()
	} else {
		pkt = s.audio()
	}
	s.ts += samplesPerFrame
	return pkt
}

// nextKeyFrame is next while a job is in progress.
func (s *stream) nextKeyFrame() []byte {
	j := s.job
	n := j.pressFrames
	f := s.frame
	var pkt []byte
	switch {
	case f < n+endRepeats-1:
		if f == 0 {
			s.eventTS = s.ts
		}
		frames := min(f+1, n)
		ev := dtmf.TelephoneEvent{
			Code:     j.codes[s.key],
			End:      f >= n-1,
			Volume:   eventVolume,
			Duration: uint16(frames * samplesPerFrame),
		}
		pkt = s.header(s.eventPT, f == 0, s.eventTS)
		pkt = ev.AppendTo(pkt)
	default:
		pkt = s.audio()
	}
	s.frame++
	last := s.key == len(j.codes)-1
	switch {
	case last && s.frame >= n+endRepeats-1:
		s.job, s.key, s.frame = nil, 0, 0
		j.finish(nil)
	case !last && s.frame >= n+endRepeats-1+max(j.gapFrames-(endRepeats-1), 0):
		s.key++
		s.frame = 0
	}
	return pkt
}

// audio is one frame of PCMU silence at the media clock.
func (s *stream) audio() []byte {
	pkt := s.header(pcmuPT, !s.started, s.ts)
	s.started = true
	for range samplesPerFrame {
		pkt = append(pkt, pcmuSilence)
	}
	return pkt
}

// header starts a packet in the stream's buffer (RFC 3550 §5.1) with the
// next sequence number.
func (s *stream) header(pt uint8, marker bool, ts uint32) []byte {
	b := s.buf[:rtpHeaderSize]
	b[0] = 0x80 // version 2, no padding, extension or CSRC
	b[1] = pt & 0x7F
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:4], s.seq)
	binary.BigEndian.PutUint32(b[4:8], ts)
	binary.BigEndian.PutUint32(b[8:12], s.ssrc)
	s.seq++
	return b
}

// stop ends a job still in progress with err.
func (s *stream) stop(err error) {
	if s.job != nil {
		s.job.finish(err)
		s.job = nil
	}
}

// framesOf rounds d to whole frames.
func framesOf(d time.Duration) int {
	return int((d + Frame/2) / Frame)
}

package rtcp

// Building and timing our own reports (RFC 3550 §6.2, §6.4).

import (
	"math"
	mrand "math/rand/v2"
	"time"
)

// send builds and writes one compound packet. Called with s.mu held.
func (s *Session) send(now time.Time, bye bool) error {
	if !s.remote.IsValid() {
		return ErrNoRemote
	}
	var c compound
	s.build(&c, now)
	if bye {
		c.bye = true
		c.byeCount = copy(c.byeSSRCs[:], s.ourSSRCs[:s.nOurs])
	}
	n := writeCompound(s.buf[:], &c)
	s.noteSize(n)
	err := s.cfg.Write(s.buf[:n], s.remote)
	if err != nil {
		s.stats.WriteErrors++
		return err
	}
	s.stats.ReportsSent++
	if c.sender {
		s.stats.SenderReportsSent++
	}
	return nil
}

// build fills c with the report due at now and advances the per-report
// state (sender history, fraction-lost baseline). Called with s.mu held.
func (s *Session) build(c *compound, now time.Time) {
	c.cname = s.cfg.CNAME
	c.reporterSSRC = s.cfg.SSRC
	if s.cfg.Sent != nil {
		st := s.cfg.Sent()
		// §6.4: a participant that sent RTP since the report before
		// last sends an SR, about the stream as sent (its SSRC).
		if st.Packets > 0 {
			c.reporterSSRC = st.SSRC
		}
		if st.Packets > s.sentAt[0] {
			c.sender = true
			c.ntp = ntpTime(now)
			c.rtpTS = rtpTimestampAt(st, now)
			// Counts wrap at 32 bits on the wire (§6.4.1).
			c.packets = uint32(st.Packets)
			c.octets = uint32(st.PayloadOctets)
		}
		s.sentAt[0], s.sentAt[1] = s.sentAt[1], st.Packets
	}
	s.noteOurs(c.reporterSSRC)
	if s.cfg.Received != nil {
		// §6.4: blocks only for sources heard since the last report, so
		// a peer on hold gets none rather than the same block again.
		if r := s.cfg.Received(); r.SSRC != 0 && (!s.blockSent || r.Received != s.priorReceived || r.SSRC != s.priorSSRC) {
			s.blockSent = true
			c.haveBlock = true
			c.block = s.block(r, now)
		}
	}
}

// block builds the reception report block for r at now (RFC 3550 §6.4.1,
// §A.3) and moves the fraction-lost baseline to r.
func (s *Session) block(r Reception, now time.Time) reportBlock {
	b := reportBlock{
		ssrc:       r.SSRC,
		cumLost:    clampCumLost(int64(r.Expected) - int64(r.Received)),
		extHighest: r.ExtHighestSeq,
	}
	// A counter that went backwards (a new ReceiveStats) restarts the
	// interval rather than reading as 2^64 packets.
	if r.Expected >= s.priorExpected && r.Received >= s.priorReceived {
		expected := r.Expected - s.priorExpected
		lost := int64(expected) - int64(r.Received-s.priorReceived)
		if expected > 0 && lost > 0 {
			// §A.3's lost<<8/expected is 256 when all were lost, one
			// more than the 8-bit field holds: saturate.
			b.fractionLost = uint8(min(uint64(lost)<<8/expected, 255))
		}
	}
	s.priorExpected, s.priorReceived, s.priorSSRC = r.Expected, r.Received, r.SSRC
	if j := r.JitterTS; j > 0 && j < math.MaxUint32 {
		b.jitter = uint32(j)
	} else if j >= math.MaxUint32 {
		b.jitter = math.MaxUint32
	}
	// LSR and DLSR only for the source whose SR we hold (§6.4.1: zero if
	// no SR has been received from this source).
	if !s.peerSRAt.IsZero() && s.peerSRSSRC == r.SSRC {
		b.lsr = ntpMiddle(s.peerSRNTP)
		b.dlsr = compactDuration(now.Sub(s.peerSRAt))
	}
	return b
}

// rtpTimestampAt extrapolates the stream's RTP timestamp to now from its
// last packet, on the stream's clock (§6.4.1: the RTP timestamp of an SR
// corresponds to its NTP time, not to any packet).
func rtpTimestampAt(st SentStream, now time.Time) uint32 {
	rate := st.ClockRate
	if rate == 0 {
		rate = defaultClockRate
	}
	if st.LastSent.IsZero() {
		return st.LastTimestamp
	}
	d := now.Sub(st.LastSent)
	neg := d < 0
	if neg {
		d = -d
	}
	u := units(d, rate)
	if neg {
		return st.LastTimestamp - u
	}
	return st.LastTimestamp + u
}

// interval is the randomised report interval of RFC 3550 §6.3.1 and §A.7
// for a two-party session. Called with s.mu held.
func (s *Session) interval(initial bool) time.Duration {
	return rtcpInterval(s.cfg.MinInterval, s.cfg.ReducedMinimum, s.cfg.SessionBandwidth,
		s.avgSize, initial, s.cfg.Rand())
}

// rtcpInterval is §A.7 rtcp_interval with members fixed at two and the
// uniform draw u in [0, 1) passed in: Td = max(Tmin, n·C), where C is
// avg_rtcp_size over RTCP's 5% of the session bandwidth and n the members
// (two members never make senders a quarter or less of them, so the
// sender/receiver split of §6.3.1 does not apply); Tmin is halved for the
// first report; T = Td·(u + 0.5)/(e − 3/2).
func rtcpInterval(minInterval time.Duration, reduced bool, bandwidth int, avgSize float64, initial bool, u float64) time.Duration {
	tmin := minInterval.Seconds()
	if reduced {
		// §6.2: 360 / (session bandwidth in kbit/s) seconds.
		tmin = 360 / (float64(bandwidth) / 1000)
	}
	if initial {
		tmin /= 2
	}
	rtcpBytesPerSec := rtcpBandwidthFraction * float64(bandwidth) / 8
	td := math.Max(tmin, rtcpMembers*avgSize/rtcpBytesPerSec)
	if u < 0 || u >= 1 || math.IsNaN(u) {
		u = 0.5
	}
	t := td * (u + 0.5) / rtcpCompensation
	return time.Duration(t * float64(time.Second))
}

// randFloat64 is the default Config.Rand.
func randFloat64() float64 { return mrand.Float64() }

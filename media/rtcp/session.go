package rtcp

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	pionrtcp "github.com/pion/rtcp"
)

// Errors of Session.
var (
	// ErrConfig is wrapped by NewSession for an unusable
	// configuration.
	ErrConfig = errors.New("rtcp: bad configuration")
	// ErrClosed is returned by Close after the first call.
	ErrClosed = errors.New("rtcp: session closed")
	// errNotCompound is why a datagram that does not start with an SR
	// or RR is dropped (RFC 3550 §6.1, §A.2).
	errNotCompound = errors.New("rtcp: datagram does not start with SR or RR")
)

// SentStream is what a leg has sent of RTP so far: the facts an RTCP
// Sender Report states about the stream (RFC 3550 §6.4.1). The masking
// pipeline (caller→agent) or the relay (agent→caller) supplies it.
type SentStream struct {
	// SSRC is the stream's synchronisation source as sent on this leg.
	SSRC uint32
	// Packets and PayloadOctets count the RTP packets sent and their
	// payload octets (no header, no padding), from the start.
	Packets, PayloadOctets uint64
	// LastTimestamp is the RTP timestamp of the last packet sent, and
	// LastSent when it was sent, by the same clock as the times given to
	// Tick; the SR's RTP timestamp is extrapolated from them.
	LastTimestamp uint32
	LastSent      time.Time
	// ClockRate is the stream's RTP clock rate; zero means
	// defaultClockRate.
	ClockRate uint32
}

// Reception is what a leg has received of the peer's RTP stream: the
// facts a reception report block states about it (RFC 3550 §6.4.1, §A.3).
type Reception struct {
	// SSRC is the source reported on; zero means nothing was received
	// and the report carries no block.
	SSRC uint32
	// ExtHighestSeq is the extended highest sequence number received:
	// sequence-number cycles in the high 16 bits, the highest sequence
	// number in the low 16.
	ExtHighestSeq uint32
	// Expected and Received are cumulative (ReceiveSnapshot's fields of
	// the same names); the block's fraction lost is taken over their
	// change since the previous report, its cumulative loss is their
	// difference.
	Expected, Received uint64
	// JitterTS is the RFC 3550 §A.8 interarrival jitter in timestamp
	// units.
	JitterTS float64
}

// Defaults of Config (RFC 3550 §6.2).
const (
	// DefaultMinInterval is the minimum report interval.
	DefaultMinInterval = 5 * time.Second
	// DefaultSessionBandwidth is G.711 at 20 ms per packet with its
	// IPv4, UDP and RTP headers (50 × 200 octets per second, in bits/s):
	// the session bandwidth §6.2 divides RTCP's 5% share from.
	DefaultSessionBandwidth = 80000
)

// Interval constants of RFC 3550 §6.2, §6.3.1 and §A.7.
const (
	rtcpBandwidthFraction = 0.05
	// rtcpCompensation divides the randomised interval: e − 3/2,
	// compensating for timer reconsideration (§6.3.1).
	rtcpCompensation = math.E - 1.5
	// rtcpMembers is a two-party session: us and the peer (§6.3.1 with
	// the member count fixed, as a point-to-point leg has no others).
	rtcpMembers = 2
	// udpIPv4Overhead is added to every RTCP packet size averaged for the
	// interval: avg_rtcp_size counts lower-layer headers (§6.2).
	udpIPv4Overhead = 28
)

// Config configures an Session for one leg.
type Config struct {
	// Remote is the peer's RTCP address: the RTP port + 1 (RFC 3550
	// §11), or the one from SDP a=rtcp (RFC 3605). It may be left zero
	// and set later with SetRemote; until it is valid every datagram is
	// dropped and no report is written.
	Remote netip.AddrPort
	// NATLatch lets the session latch, once per remote set, to the first
	// valid RTCP datagram from the remote's IP on any port (as Leg does
	// for RTP), and be strict on that address afterwards.
	NATLatch bool
	// SSRC is the source the reports come from while this leg has sent no
	// RTP (an RR needs a reporter). Zero means a random one.
	SSRC uint32
	// CNAME is the SDES canonical name (RFC 3550 §6.5.1), at most 255
	// octets. Empty means a random one per session (RFC 7022 §4.2), so
	// nothing about the host or the call leaks to the peer.
	CNAME string
	// Sent returns what this leg has sent. Nil means it sends nothing:
	// reports are RRs.
	Sent func() SentStream
	// Received returns what this leg has received from the peer. Nil
	// means reports carry no reception block.
	Received func() Reception
	// Write sends one compound packet to the peer's RTCP address. It is
	// called with the session's lock held: it must not keep b after
	// returning nor call the session. Required; see UDPWriter.
	Write func(b []byte, to netip.AddrPort) error
	// MinInterval is the minimum report interval Tmin (§6.2). Zero means
	// DefaultMinInterval.
	MinInterval time.Duration
	// ReducedMinimum uses the reduced minimum of §6.2 instead of
	// MinInterval: 360 divided by the session bandwidth in kbit/s,
	// seconds.
	ReducedMinimum bool
	// SessionBandwidth is the session bandwidth in bits per second (§6.2).
	// Zero means DefaultSessionBandwidth.
	SessionBandwidth int
	// Rand returns uniform numbers in [0, 1) for the interval's
	// randomisation (§6.3.1). Nil means math/rand/v2; tests inject one.
	Rand func() float64
}

// Addr returns the peer's RTCP address for its RTP address rtp: the
// port of an SDP a=rtcp attribute (RFC 3605 §2.1) if sdpPort is non-zero,
// else the RTP port + 1 (RFC 3550 §11). An a=rtcp connection address
// other than the media's is the signalling layer's to pass as rtp.
func Addr(rtp netip.AddrPort, sdpPort uint16) netip.AddrPort {
	if sdpPort != 0 {
		return netip.AddrPortFrom(rtp.Addr(), sdpPort)
	}
	if rtp.Port() == 0 || rtp.Port() == 0xFFFF {
		return netip.AddrPortFrom(rtp.Addr(), 0) // no stream, or no port above
	}
	return netip.AddrPortFrom(rtp.Addr(), rtp.Port()+1)
}

// UDPWriter returns an Config.Write that writes to conn, e.g. the
// leg's RTCP socket (Leg.RTCP), so reports leave from RTP port + 1.
func UDPWriter(conn *net.UDPConn) func(b []byte, to netip.AddrPort) error {
	return func(b []byte, to netip.AddrPort) error {
		_, err := conn.WriteToUDPAddrPort(b, to)
		return err
	}
}

// PeerReport is what the peer said in its last reception report block
// about the stream this leg sends (RFC 3550 §6.4.1), for metrics: the loss
// and jitter as the peer sees them, and the round-trip time.
type PeerReport struct {
	// At is when the report arrived; zero means none has.
	At time.Time
	// SSRC is the source the block was about (ours).
	SSRC uint32
	// FractionLost is the peer's loss over its last report interval, in
	// [0, 1); CumulativeLost its total.
	FractionLost   float64
	CumulativeLost int32
	// ExtHighestSeq is the highest sequence number the peer received.
	ExtHighestSeq uint32
	// JitterTS is the peer's interarrival jitter in timestamp units;
	// Jitter is the same as a duration, at our stream's clock rate.
	JitterTS uint32
	Jitter   time.Duration
	// RTT is the round-trip time computed from LSR and DLSR (§6.4.1);
	// zero when the peer has not seen an SR of ours (LSR = 0).
	RTT time.Duration
}

// Stats is a plain copy of an Session's counters.
type Stats struct {
	// Accepted counts compound packets from the peer that were parsed.
	Accepted uint64
	// DroppedWrongSource counts datagrams from an address other than the
	// remote's; DroppedMalformed those that did not parse as RTCP, did
	// not start with an SR or RR, or filled the read buffer (possibly
	// truncated).
	DroppedWrongSource, DroppedMalformed uint64
	// PeerSenderReports, PeerReceiverReports and PeerByes count the
	// peer's SR, RR and BYE packets.
	PeerSenderReports, PeerReceiverReports, PeerByes uint64
	// ReportsSent counts compound packets written; WriteErrors those whose
	// write failed.
	ReportsSent, WriteErrors uint64
	// SenderReportsSent counts those of ReportsSent that were SRs.
	SenderReportsSent uint64
	// PeerSRAt is when the peer's last SR arrived (zero: none), PeerSRNTP
	// the NTP timestamp it carried.
	PeerSRAt  time.Time
	PeerSRNTP uint64
	// Peer is the peer's latest report on our stream.
	Peer PeerReport
}

// Session terminates RTCP on one leg and regenerates it. dtmfgw
// rewrites the caller's stream (its own SSRC, renumbered sequence numbers,
// mask packets in place of digits), so the peers' reports cannot be
// relayed truthfully: as a media-translating RTP translator (RFC 3550
// §7.2, RFC 7667 §3.2) each leg instead reports on its own — an SR for the
// stream it sends to the peer, a reception block for the stream it
// receives from the peer, an SDES CNAME — and keeps what the peer reports
// for its statistics. Nothing the peer sends is ever forwarded.
//
// It owns no goroutine and no timer: Tick, driven by the relay's shared
// timer with the current time, writes a report when one is due and says
// when the next one is; HandleRTCP takes each datagram read from the leg's
// RTCP socket (see Serve). All methods are safe for concurrent use; RTCP
// is a few packets per call per interval, so one mutex costs nothing that
// matters.
type Session struct {
	mu  sync.Mutex
	cfg Config // Write, Sent, Received, intervals; read-only after New
	// handled, if set (by tests, before Serve), is called by Serve after
	// each datagram it read has been handled.
	handled func()

	remote    netip.AddrPort
	latchable bool
	closed    bool

	next    time.Time // when the next report is due; zero: not scheduled
	avgSize float64   // avg_rtcp_size of §6.3.1, octets incl. UDP/IP

	// sentAt holds the packet counts at the previous two reports: we
	// are a sender if we sent since the report before last (§6.4).
	sentAt [2]uint64
	// priorExpected and priorReceived are the reception counts at the
	// previous report, for the fraction lost (§A.3).
	priorExpected, priorReceived uint64
	priorSSRC                    uint32
	blockSent                    bool
	// peerSR is the peer's latest SR: source, NTP time, arrival.
	peerSRSSRC uint32
	peerSRNTP  uint64
	peerSRAt   time.Time
	// ourSSRCs are the sources we have reported as (for the BYE) and
	// whose reception blocks from the peer are about us.
	ourSSRCs [2]uint32
	nOurs    int

	stats Stats
	buf   [maxCompoundLen]byte
}

// NewSession returns a session for one leg. It writes nothing until
// the first Tick.
func NewSession(cfg Config) (*Session, error) {
	if cfg.Write == nil {
		return nil, fmt.Errorf("%w: Write is required", ErrConfig)
	}
	if len(cfg.CNAME) > maxCNAMELen {
		return nil, fmt.Errorf("%w: CNAME longer than %d octets", ErrConfig, maxCNAMELen)
	}
	if cfg.MinInterval < 0 || cfg.SessionBandwidth < 0 {
		return nil, fmt.Errorf("%w: negative interval or bandwidth", ErrConfig)
	}
	if cfg.MinInterval == 0 {
		cfg.MinInterval = DefaultMinInterval
	}
	if cfg.SessionBandwidth == 0 {
		cfg.SessionBandwidth = DefaultSessionBandwidth
	}
	if cfg.Rand == nil {
		cfg.Rand = randFloat64
	}
	if cfg.CNAME == "" || cfg.SSRC == 0 {
		var r [16]byte
		_, _ = rand.Read(r[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
		if cfg.CNAME == "" {
			// RFC 7022 §4.2: at least 96 random bits, base64-encoded.
			cfg.CNAME = base64.RawStdEncoding.EncodeToString(r[:12])
		}
		if cfg.SSRC == 0 {
			cfg.SSRC = binary.BigEndian.Uint32(r[12:]) | 1 // never zero
		}
	}
	s := &Session{cfg: cfg}
	s.setRemote(cfg.Remote)
	// The first avg_rtcp_size is the size of a packet we are about to
	// send (§6.3.2): an SR with one block and the CNAME.
	s.avgSize = float64(rtcpHeaderLen+4+rtcpSRInfoLen+rtcpBlockLen+
		rtcpHeaderLen+4+2+len(cfg.CNAME)+4) + udpIPv4Overhead
	return s, nil
}

// SetRemote sets the peer's RTCP address (again on re-INVITE). From now
// on only datagrams from it are accepted (NAT mode may latch once more),
// and reports go to it. An unspecified address or port 0 means none.
func (s *Session) SetRemote(remote netip.AddrPort) {
	s.mu.Lock()
	s.setRemote(remote)
	s.mu.Unlock()
}

func (s *Session) setRemote(remote netip.AddrPort) {
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	if !validRemote(remote) {
		remote = netip.AddrPort{}
	}
	s.remote = remote
	s.latchable = s.cfg.NATLatch && remote.IsValid()
}

// validRemote mirrors Leg.SetRemote: no unspecified address (the old
// c=0.0.0.0 hold) and no port 0.
func validRemote(a netip.AddrPort) bool {
	return a.IsValid() && !a.Addr().IsUnspecified() && a.Port() != 0
}

// Remote returns the address datagrams are accepted from and reports are
// written to, after any latching.
func (s *Session) Remote() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remote
}

// CNAME returns the session's SDES canonical name.
func (s *Session) CNAME() string { return s.cfg.CNAME }

// Stats returns the session's counters and what the peer last reported.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// HandleRTCP takes one datagram read from the leg's RTCP socket: from is
// its source, now its arrival time. A datagram from anywhere but the
// remote is dropped and counted; so is one that is not a valid compound
// RTCP packet (RFC 3550 §6.1, §A.2). What a valid one says is kept for
// LSR/DLSR and statistics; nothing is forwarded. b is not kept.
func (s *Session) HandleRTCP(b []byte, from netip.AddrPort, now time.Time) {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	s.mu.Lock()
	defer s.mu.Unlock()
	exact := s.remote.IsValid() && from == s.remote
	if !exact && !(s.latchable && from.Addr() == s.remote.Addr()) {
		s.stats.DroppedWrongSource++
		return
	}
	if len(b) > maxDatagram {
		// The read buffer was full: the kernel may have truncated it.
		s.stats.DroppedMalformed++
		return
	}
	pkts, err := parseCompound(b)
	if err != nil {
		s.stats.DroppedMalformed++
		return
	}
	if !exact {
		// Latch only on a datagram that parsed, so one stray packet on
		// the right IP cannot take the stream over.
		s.remote = from
	}
	s.latchable = false
	s.stats.Accepted++
	s.noteSize(len(b))
	for _, p := range pkts {
		switch p := p.(type) {
		case *pionrtcp.SenderReport:
			s.stats.PeerSenderReports++
			s.peerSRSSRC, s.peerSRNTP, s.peerSRAt = p.SSRC, p.NTPTime, now
			s.stats.PeerSRAt, s.stats.PeerSRNTP = now, p.NTPTime
			s.notePeerBlocks(p.Reports, now)
		case *pionrtcp.ReceiverReport:
			s.stats.PeerReceiverReports++
			s.notePeerBlocks(p.Reports, now)
		case *pionrtcp.Goodbye:
			s.stats.PeerByes++
		}
	}
}

// parseCompound parses b with pion/rtcp and checks the compound rule of
// RFC 3550 §6.1 that matters for validity (§A.2): the first packet is an
// SR or RR.
func parseCompound(b []byte) ([]pionrtcp.Packet, error) {
	pkts, err := pionrtcp.Unmarshal(b)
	if err != nil {
		return nil, err
	}
	switch pkts[0].(type) {
	case *pionrtcp.SenderReport, *pionrtcp.ReceiverReport:
		return pkts, nil
	}
	return nil, errNotCompound
}

// notePeerBlocks keeps the peer's reception block about our stream, if the
// report holds one (a report has at most 31 blocks, §6.4.1).
func (s *Session) notePeerBlocks(blocks []pionrtcp.ReceptionReport, now time.Time) {
	for i := range blocks {
		blk := &blocks[i]
		if !s.isOurs(blk.SSRC) {
			continue
		}
		pr := PeerReport{
			At:             now,
			SSRC:           blk.SSRC,
			FractionLost:   float64(blk.FractionLost) / 256,
			CumulativeLost: int32(blk.TotalLost<<8) >> 8, // sign-extend 24 bits
			ExtHighestSeq:  blk.LastSequenceNumber,
			JitterTS:       blk.Jitter,
			Jitter:         time.Duration(uint64(blk.Jitter) * uint64(time.Second) / uint64(s.clockRate())),
		}
		if blk.LastSenderReport != 0 {
			// RTT = A − LSR − DLSR in compact NTP units (§6.4.1). A
			// result that is "negative" (clock step, bogus block) is
			// left at zero rather than reported as 18 hours.
			a := ntpMiddle(ntpTime(now))
			if rtt := int32(a - blk.LastSenderReport - blk.Delay); rtt >= 0 {
				pr.RTT = compactToDuration(uint32(rtt))
			}
		}
		s.stats.Peer = pr
	}
}

// clockRate is the sent stream's RTP clock rate, for the peer's jitter.
func (s *Session) clockRate() uint32 {
	if s.cfg.Sent != nil {
		if r := s.cfg.Sent().ClockRate; r != 0 {
			return r
		}
	}
	return defaultClockRate
}

// isOurs reports whether ssrc is a source we reported as, or the one we
// send now.
func (s *Session) isOurs(ssrc uint32) bool {
	for i := range s.nOurs {
		if s.ourSSRCs[i] == ssrc {
			return true
		}
	}
	if s.cfg.Sent != nil && s.cfg.Sent().SSRC == ssrc {
		return true
	}
	return ssrc == s.cfg.SSRC
}

// noteOurs remembers ssrc as one we reported as; the table keeps the two
// most recent (the receiver SSRC and the stream's, or a stream's old and
// new after a transfer).
func (s *Session) noteOurs(ssrc uint32) {
	for i := range s.nOurs {
		if s.ourSSRCs[i] == ssrc {
			return
		}
	}
	if s.nOurs < len(s.ourSSRCs) {
		s.ourSSRCs[s.nOurs] = ssrc
		s.nOurs++
		return
	}
	s.ourSSRCs[0], s.ourSSRCs[1] = s.ourSSRCs[1], ssrc
}

// noteSize folds one RTCP packet, sent or received, into avg_rtcp_size
// (§6.3.3: avg = size/16 + avg·15/16).
func (s *Session) noteSize(n int) {
	s.avgSize += (float64(n+udpIPv4Overhead) - s.avgSize) / 16
}

// Tick writes a report if one is due at now and returns when the next one
// is due, so a shared timer can sleep until then; a Tick before that costs
// a lock and a comparison, so a 20 ms wheel may simply call it every round. The first call only
// schedules the first report, at half the minimum interval (RFC 3550
// §6.2). After Close it writes nothing and returns the zero time.
func (s *Session) Tick(now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return time.Time{}
	}
	if s.next.IsZero() {
		s.next = now.Add(s.interval(true))
		return s.next
	}
	if now.Before(s.next) {
		return s.next
	}
	s.send(now, false)
	s.next = now.Add(s.interval(false))
	return s.next
}

// Next returns when the next report is due (zero before the first Tick
// and after Close).
func (s *Session) Next() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return time.Time{}
	}
	return s.next
}

// Close writes a final report with a BYE (RFC 3550 §6.6) for every source
// this leg reported as, and stops the session: later Ticks write nothing
// (datagrams are still handled, for the statistics). It returns the
// write's error, ErrNoRemote if there is no remote to write to, and
// ErrClosed on a second call. Call it before the RTCP socket closes.
func (s *Session) Close(now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.closed = true
	return s.send(now, true)
}

// Serve reads the leg's RTCP socket until it is closed, handing each
// datagram to HandleRTCP with the arrival time from now (nil: time.Now).
// It returns nil when conn is closed and any other read error as it is.
//
// Reading a UDP socket in Go takes a goroutine blocked in the read; this
// is that goroutine, one per leg. It wakes only when RTCP arrives (a few
// packets per interval of about five seconds), so even a thousand calls
// cost nothing but parked stacks; the relay's shared timer does the
// sending through Tick.
func (s *Session) Serve(conn *net.UDPConn, now func() time.Time) error {
	if now == nil {
		now = time.Now
	}
	var buf [maxDatagram + 1]byte
	errs := 0
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf[:])
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Transient errors (ICMP port unreachable surfacing as
			// ECONNREFUSED) are skipped, a bounded number in a row.
			if errs++; errs > maxConsecutiveReadErrors {
				return err
			}
			continue
		}
		errs = 0
		s.HandleRTCP(buf[:n], from, now())
		if s.handled != nil {
			s.handled()
		}
	}
}

package call

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"dtmfgw/media"
	"dtmfgw/media/mask"
)

// ErrConfig is wrapped by MediaConfig.Validate and NewManager for an
// unusable configuration. The message names the configuration key.
var ErrConfig = errors.New("call: bad media configuration")

// Limits of MediaConfig.
const (
	// DefaultReactorsPerCPU is how many reactors per CPU read the calls'
	// sockets by default. More than one: a reactor serves its ready calls
	// one after another, so while its thread is descheduled its calls
	// wait; with four per CPU the Go scheduler hands the others to the
	// free CPU, and each batch is shorter. Measured with bench/loadrelay
	// at 500 and 1000 calls: lower CPU per packet and a p99 latency at
	// 1000 calls like the reference forwarder's, where one per CPU had
	// three times its p99 (docs/reports/benchmarks-relay.md).
	DefaultReactorsPerCPU = 4
	// MaxReactors bounds MediaConfig.Reactors: far more than the CPUs of
	// any machine this runs on, so a typo does not start thousands of
	// epoll loops.
	MaxReactors = 256
	// MaxDigitQueue bounds MediaConfig.DigitQueue. A caller presses a few
	// keys a second; a queue this long only hides a stuck consumer.
	MaxDigitQueue = 4096
	// MinMediaTimeout is the shortest media timeout accepted: shorter ones
	// would end calls on an ordinary burst of loss or a slow re-INVITE.
	MinMediaTimeout = time.Second
)

// Defaults of MediaConfig.
const (
	// DefaultMediaTimeout is how long an answered call may receive no RTP
	// on a leg that is not on hold before it ends: long enough for a
	// caller's network to recover from an outage, short enough that a
	// vanished peer does not hold ports and a payment screen for long.
	DefaultMediaTimeout = 30 * time.Second
	// DefaultDigitQueue is the depth of a call's digit queue: a whole card
	// number and its expiry date, twice over.
	DefaultDigitQueue = 64
)

// MediaConfig is the media part of dtmfgw's configuration: where the RTP
// sockets live, how many reactors read them, the defaults of every call's
// legs and the masking policy. The yaml tags are the keys of the
// configuration file; errors of Validate name them.
type MediaConfig struct {
	// BindAddress is the local address of every RTP and RTCP socket.
	BindAddress netip.Addr `yaml:"bind_address"`
	// AdvertiseAddress is the address the call reports as its media
	// address (Call.CallerMediaAddr, Call.AgentMediaAddr), for the c=
	// line of our SDP (RFC 4566 §5.7). Zero means BindAddress, which must
	// then not be unspecified: 0.0.0.0 in SDP means hold (RFC 3264 §8.4).
	AdvertiseAddress netip.Addr `yaml:"advertise_address"`
	// RTPPorts is the port range of the RTP/RTCP pairs (even RTP port,
	// RTCP above it, RFC 3550 §11), e.g. "20000-29999". A call takes two
	// pairs.
	RTPPorts PortRange `yaml:"rtp_ports"`
	// PortDrain is how long a released port pair rests before another
	// call gets it, so that one call never receives the last one's
	// packets. Zero means no drain.
	PortDrain time.Duration `yaml:"port_drain"`
	// Reactors is how many media.Reactors (epoll loops) read the calls'
	// sockets: 0 means DefaultReactorsPerCPU per CPU (GOMAXPROCS) on Linux
	// and none elsewhere; -1 means none, each leg reading on a goroutine
	// of its own.
	Reactors int `yaml:"reactors"`
	// MediaTimeout is how long an answered leg that is not on hold may
	// receive no RTP before the call ends. Zero disables it.
	MediaTimeout time.Duration `yaml:"media_timeout"`
	// NATLatch lets each leg move once, per remote address signalled,
	// to another port on the remote's IP, for peers behind a NAT that
	// rewrites ports — only to a source that has proven itself with a
	// short run of valid RTP while the signalled address stayed silent
	// (media.Leg has the rules). Packets from other IPs are never
	// accepted either way.
	NATLatch bool `yaml:"nat_latch"`
	// MaskEvents and MaskInband say when RFC 4733 events and in-band
	// tones are masked toward the agent: "always", "secure-only" (while
	// the call is in secure mode, Call.SetSecureMode) or "off".
	MaskEvents Policy `yaml:"mask_events"`
	MaskInband Policy `yaml:"mask_inband"`
	// LookAhead is how long agent-bound G.711 audio is held while in-band
	// masking is on, so the detector has judged a tone before any of it
	// leaves (docs/masking.md). Zero means mask.DefaultLookAhead; at most
	// mask.MaxLookAhead.
	LookAhead time.Duration `yaml:"look_ahead"`
	// DigitQueue is the depth of each call's press queue (Call.Presses).
	// A full queue drops and counts; it never blocks the media path.
	DigitQueue int `yaml:"digit_queue"`
}

// DefaultMediaConfig returns the configuration dtmfgw runs with when the
// file says nothing: loopback sockets (the embedded demo), ports
// 20000–29999, a 2 s drain, one reactor per CPU, a 30 s media timeout, no
// NAT latching, and both sources masked at all times with the default
// look-ahead.
func DefaultMediaConfig() MediaConfig {
	return MediaConfig{
		BindAddress:  netip.AddrFrom4([4]byte{127, 0, 0, 1}),
		RTPPorts:     PortRange{Min: media.DefaultPortMin, Max: media.DefaultPortMax},
		PortDrain:    media.DefaultDrain,
		MediaTimeout: DefaultMediaTimeout,
		MaskEvents:   Policy(mask.Always),
		MaskInband:   Policy(mask.Always),
		LookAhead:    mask.DefaultLookAhead,
		DigitQueue:   DefaultDigitQueue,
	}
}

// Validate reports the first unusable setting, naming its key.
func (c MediaConfig) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrConfig, key, fmt.Sprintf(format, args...))
	}
	bind := c.BindAddress.Unmap()
	switch {
	case !bind.IsValid():
		return bad("bind_address", "required")
	case bind.IsMulticast():
		return bad("bind_address", "%s is a multicast address", bind)
	case bind.Zone() != "":
		return bad("bind_address", "%s has a zone", bind)
	}
	adv := c.AdvertiseAddress.Unmap()
	if adv.IsValid() {
		switch {
		case adv.IsUnspecified():
			return bad("advertise_address", "%s is unspecified (in SDP it means hold, RFC 3264 §8.4)", adv)
		case adv.IsMulticast():
			return bad("advertise_address", "%s is a multicast address", adv)
		case adv.Is4() != bind.Is4():
			return bad("advertise_address", "%s is not of bind_address %s's family", adv, bind)
		}
	} else if bind.IsUnspecified() {
		return bad("advertise_address", "required when bind_address is %s", bind)
	}
	if err := c.RTPPorts.validate(); err != nil {
		return bad("rtp_ports", "%v", err)
	}
	if c.RTPPorts.Pairs() < 2 {
		return bad("rtp_ports", "%s holds %d RTP/RTCP pairs; a call needs 2", c.RTPPorts, c.RTPPorts.Pairs())
	}
	if c.PortDrain < 0 {
		return bad("port_drain", "negative (%v)", c.PortDrain)
	}
	if c.Reactors < -1 || c.Reactors > MaxReactors {
		return bad("reactors", "%d outside -1 (none), 0 (one per CPU) … %d", c.Reactors, MaxReactors)
	}
	if c.MediaTimeout < 0 || (c.MediaTimeout > 0 && c.MediaTimeout < MinMediaTimeout) {
		return bad("media_timeout", "%v: 0 (off) or at least %v", c.MediaTimeout, MinMediaTimeout)
	}
	if !c.MaskEvents.valid() {
		return bad("mask_events", "unknown policy %d", uint8(c.MaskEvents))
	}
	if !c.MaskInband.valid() {
		return bad("mask_inband", "unknown policy %d", uint8(c.MaskInband))
	}
	if c.LookAhead < 0 || c.LookAhead > mask.MaxLookAhead {
		return bad("look_ahead", "%v outside 0 (default %v) … %v", c.LookAhead, mask.DefaultLookAhead, mask.MaxLookAhead)
	}
	if c.DigitQueue < 1 || c.DigitQueue > MaxDigitQueue {
		return bad("digit_queue", "%d outside 1 … %d", c.DigitQueue, MaxDigitQueue)
	}
	return nil
}

// advertise returns the address calls report for SDP.
func (c MediaConfig) advertise() netip.Addr {
	if c.AdvertiseAddress.IsValid() {
		return c.AdvertiseAddress.Unmap()
	}
	return c.BindAddress.Unmap()
}

// PortRange is an inclusive range of UDP ports, written "LOW-HIGH" in the
// configuration file and on the command line (--rtp-ports). It implements
// encoding.TextUnmarshaler, so YAML decoders and flag.TextVar take it as
// it is.
type PortRange struct {
	Min, Max int
}

// maxPortRangeText bounds the text UnmarshalText reads: "65535-65535" and
// some spaces.
const maxPortRangeText = 32

// ParsePortRange reads "LOW-HIGH" (decimal, 1–65535, LOW ≤ HIGH, spaces
// around either number allowed).
func ParsePortRange(s string) (PortRange, error) {
	if len(s) > maxPortRangeText {
		return PortRange{}, fmt.Errorf("port range: %d characters, want LOW-HIGH", len(s))
	}
	lo, hi, ok := strings.Cut(s, "-")
	if !ok {
		return PortRange{}, fmt.Errorf("port range %q: want LOW-HIGH", s)
	}
	var r PortRange
	var err error
	if r.Min, err = parsePort(lo); err != nil {
		return PortRange{}, fmt.Errorf("port range %q: low port: %w", s, err)
	}
	if r.Max, err = parsePort(hi); err != nil {
		return PortRange{}, fmt.Errorf("port range %q: high port: %w", s, err)
	}
	if err := r.validate(); err != nil {
		return PortRange{}, err
	}
	return r, nil
}

func parsePort(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 5 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errors.New("not a port number")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, errors.New("not in 1–65535")
	}
	return n, nil
}

func (r PortRange) validate() error {
	if r.Min < 1 || r.Max > 65535 || r.Min > r.Max {
		return fmt.Errorf("port range %s: want 1 ≤ low ≤ high ≤ 65535", r)
	}
	return nil
}

// Pairs returns how many RTP/RTCP pairs the range holds: even ports p with
// Min ≤ p and p+1 ≤ Max (RFC 3550 §11), as media.PortPool hands them out.
func (r PortRange) Pairs() int {
	first := r.Min + r.Min%2
	if r.Max < first+1 {
		return 0
	}
	return (r.Max-1-first)/2 + 1
}

// String writes the range as "LOW-HIGH".
func (r PortRange) String() string { return strconv.Itoa(r.Min) + "-" + strconv.Itoa(r.Max) }

// MarshalText writes the range as "LOW-HIGH".
func (r PortRange) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads "LOW-HIGH" (see ParsePortRange).
func (r *PortRange) UnmarshalText(b []byte) error {
	v, err := ParsePortRange(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Policy is a mask.Policy as the configuration file writes it:
// "always", "secure-only" or "off". Its zero value is "always".
type Policy mask.Policy

func (p Policy) valid() bool { return mask.Policy(p) <= mask.Off }

// String returns the policy's configuration name.
func (p Policy) String() string { return mask.Policy(p).String() }

// MarshalText writes the policy's configuration name.
func (p Policy) MarshalText() ([]byte, error) {
	if !p.valid() {
		return nil, fmt.Errorf("mask policy %d: unknown", uint8(p))
	}
	return []byte(p.String()), nil
}

// UnmarshalText reads "always", "secure-only" or "off" (ASCII case
// ignored).
func (p *Policy) UnmarshalText(b []byte) error {
	for _, v := range []mask.Policy{mask.Always, mask.SecureOnly, mask.Off} {
		if strings.EqualFold(string(b), v.String()) {
			*p = Policy(v)
			return nil
		}
	}
	if len(b) > 32 {
		b = b[:32]
	}
	return fmt.Errorf("mask policy %q: want always, secure-only or off", b)
}

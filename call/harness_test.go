package call

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/pion/rtp"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
	"dtmfgw/internal/testkit"
)

// waitLimit bounds every wait of these tests for something that should
// happen at once on loopback.
const waitLimit = 5 * time.Second

const (
	testAudioPT = 0   // PCMU, RFC 3551 §6
	testEventPT = 101 // the usual dynamic telephone-event type
	ptime       = 20 * time.Millisecond
)

var loopback = netip.AddrFrom4([4]byte{127, 0, 0, 1})

// freePorts returns a range of pairs RTP/RTCP pairs on 127.0.0.1 that
// nothing holds right now.
func freePorts(t testing.TB, pairs int) PortRange {
	t.Helper()
	first := testkit.FreeRange(t, testkit.ZoneCall, pairs)
	return PortRange{Min: first, Max: first + 2*pairs - 1}
}

// quietLog discards everything but keeps the handler's formatting on, so
// that a log call with a bad argument still runs.
func quietLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newTestManager returns a Manager on loopback with a fake clock (the
// Manager, its legs, reactors and wheel all read it), pairs port pairs, no
// drain and reactors reactors, after edit.
func newTestManager(t testing.TB, pairs, reactors int, edit func(*MediaConfig)) (*Manager, *testkit.Clock) {
	t.Helper()
	cfg := DefaultMediaConfig()
	cfg.RTPPorts = freePorts(t, pairs)
	cfg.PortDrain = 0
	cfg.Reactors = reactors
	if edit != nil {
		edit(&cfg)
	}
	clock := testkit.NewClock(time.Time{})
	m, err := NewManager(cfg, WithClock(clock.Now), WithLogger(quietLog()), WithTimeoutCheck(2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, clock
}

// peer is a fake SIP endpoint's media: one UDP socket on loopback.
type peer struct {
	t    testing.TB
	conn *net.UDPConn
	ssrc uint32
	seq  uint16
	ts   uint32
	buf  []byte
	sent uint64 // datagrams sent
}

func newPeer(t testing.TB, ssrc uint32, seq uint16) *peer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &peer{t: t, conn: c, ssrc: ssrc, seq: seq, ts: ssrc * 7, buf: make([]byte, 2048)}
}

func (p *peer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// params is the MediaParams of a PCMU peer with telephone-event on
// eventPT (0: none).
func (p *peer) params(eventPT uint8) MediaParams {
	return MediaParams{Remote: p.addr(), AudioPT: testAudioPT, Law: g711.Ulaw, EventPT: eventPT}
}

func (p *peer) sendRaw(to netip.AddrPort, pkt *rtp.Packet) []byte {
	p.t.Helper()
	raw, err := pkt.Marshal()
	if err != nil {
		p.t.Fatal(err)
	}
	p.sent++
	if _, err := p.conn.WriteToUDPAddrPort(raw, to); err != nil {
		p.t.Fatal(err)
	}
	return raw
}

// audio sends the next 20 ms PCMU packet carrying payload (silence if
// nil) and returns the datagram.
func (p *peer) audio(to netip.AddrPort, payload []byte) []byte {
	if payload == nil {
		payload = silence(160)
	}
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: testAudioPT, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: p.ssrc}, Payload: payload}
	p.seq++
	p.ts += uint32(len(payload))
	return p.sendRaw(to, pkt)
}

// event sends one RFC 4733 packet of a press of k that began at the
// timestamp start and has lasted dur samples so far.
func (p *peer) event(to netip.AddrPort, pt uint8, k dtmf.Key, start uint32, dur uint16, end, marker bool) {
	ev := dtmf.TelephoneEvent{Code: k.Code(), End: end, Volume: 10, Duration: dur}
	pkt := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: p.seq, Timestamp: start, SSRC: p.ssrc, Marker: marker}, Payload: ev.AppendTo(nil)}
	p.seq++
	p.sendRaw(to, pkt)
}

// read returns the next datagram, failing the test after waitLimit.
func (p *peer) read() []byte {
	p.t.Helper()
	if err := p.conn.SetReadDeadline(time.Now().Add(waitLimit)); err != nil {
		p.t.Fatal(err)
	}
	n, _, err := p.conn.ReadFromUDPAddrPort(p.buf)
	if err != nil {
		p.t.Fatalf("no datagram within %v: %v", waitLimit, err)
	}
	return append([]byte(nil), p.buf[:n]...)
}

// readUntilDone reads the next datagram, or returns false when c has
// ended first; it fails the test after waitLimit.
func (p *peer) readUntilDone(c *Call) bool {
	p.t.Helper()
	if err := p.conn.SetReadDeadline(time.Now().Add(waitLimit)); err != nil {
		p.t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-c.Done():
			p.conn.SetReadDeadline(time.Now()) // unblocks the read
		case <-stop:
		}
	}()
	_, _, err := p.conn.ReadFromUDPAddrPort(p.buf)
	if err == nil {
		return true
	}
	select {
	case <-c.Done():
		return false
	default:
	}
	p.t.Fatalf("no datagram within %v: %v", waitLimit, err)
	return false
}

// readRTP returns the next datagram parsed.
func (p *peer) readRTP() rtp.Packet {
	p.t.Helper()
	var pkt rtp.Packet
	if err := pkt.Unmarshal(p.read()); err != nil {
		p.t.Fatalf("agent received a datagram that is not RTP: %v", err)
	}
	return pkt
}

func silence(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = g711.Ulaw.Silence()
	}
	return b
}

// toneFrames returns a press of k as 20 ms PCMU frames: the tone for 100
// ms at −10 dBm0.
func toneFrames(k dtmf.Key) [][]byte {
	pcm := dtmf.AppendDTMF(nil, dtmf.ToneSpec{Key: k, LevelDBm0: -10, Duration: 100 * time.Millisecond})
	var frames [][]byte
	for off := 0; off < len(pcm); off += 160 {
		f := make([]byte, 160)
		g711.Ulaw.Encode(f, pcm[off:min(off+160, len(pcm))])
		frames = append(frames, f)
	}
	return frames
}

func key(c byte) dtmf.Key {
	k, ok := dtmf.KeyFromChar(c)
	if !ok {
		panic("not a key")
	}
	return k
}

// waitDone waits for the call to end, failing after waitLimit.
func waitDone(t testing.TB, c *Call) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(waitLimit):
		t.Fatalf("%v did not end within %v", c, waitLimit)
	}
}

// endAndCollect ends the call and returns every digit it delivered: the
// queue is closed after the last, so nothing is missed and nothing waited
// for beyond that.
func endAndCollect(t testing.TB, c *Call) []dtmf.Press {
	t.Helper()
	c.End(EndCallerHangup)
	var got []dtmf.Press
	deadline := time.After(waitLimit)
	for {
		select {
		case d, ok := <-c.Presses():
			if !ok {
				return got
			}
			got = append(got, d)
		case <-deadline:
			t.Fatalf("digit queue of %v not closed within %v", c, waitLimit)
		}
	}
}

// keysOf writes keys with %c: a Key's own formatting masks it.
func keysOf(ds []dtmf.Press) string {
	b := make([]byte, len(ds))
	for i, d := range ds {
		b[i] = byte(d.Key)
	}
	return string(b)
}

package mask

import (
	"dtmfgw/internal/testkit"
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/rtp"

	"dtmfgw/dtmf"
	"dtmfgw/dtmf/g711"
	"dtmfgw/media"
)

type discardSender struct{}

func (discardSender) SendRTP([]byte) error { return nil }

func newBenchPipeline(tb testing.TB) *Pipeline {
	p, err := NewPipeline(Config{Law: g711.Ulaw, AudioPT: 0, EventPTs: []uint8{101}, SSRC: 9}, discardSender{})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// speechLike is 20 ms of two non-DTMF sines with noise-free harmonics, so the
// Detector does its full work without finding a digit.
func speechLike() []byte {
	var o1, o2 dtmf.Oscillator
	o1.Set(440, 5000)
	o2.Set(1100, 3000)
	pcm := make([]int16, hFrame)
	for i := range pcm {
		pcm[i] = int16(o1.Next() + o2.Next())
	}
	pay := make([]byte, hFrame)
	g711.Ulaw.Encode(pay, pcm)
	return pay
}

func audioStep(p *Pipeline, pk *media.Packet, i int) {
	pk.Header.SequenceNumber = uint16(i)
	pk.Header.Timestamp = uint32(i * hFrame)
	pk.Arrival = hEpoch.Add(time.Duration(i) * 20 * time.Millisecond)
	p.HandleRTP(pk)
}

// BenchmarkPipelineAudio is one 20 ms PCMU packet through the pipeline with
// masking on and no tone: decode, Detector, look-ahead, rewrite, send.
func BenchmarkPipelineAudio(b *testing.B) {
	p := newBenchPipeline(b)
	pk := media.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 5}, Payload: speechLike()}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		audioStep(p, &pk, i)
	}
}

// BenchmarkPipelineEvent is one telephone-event packet: classify, Tracker,
// press bookkeeping, drop (a press of 50 packets then the next).
func BenchmarkPipelineEvent(b *testing.B) {
	p := newBenchPipeline(b)
	pk := media.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SSRC: 5}, Payload: make([]byte, 4)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		press := i / 50
		e := dtmf.TelephoneEvent{Code: uint8(press % 16), Volume: 10, Duration: uint16((i%50 + 1) * 160), End: i%50 == 49}
		e.AppendTo(pk.Payload[:0])
		pk.Header.SequenceNumber = uint16(i)
		pk.Header.Timestamp = uint32(press * 160 * 100)
		pk.Arrival = hEpoch.Add(time.Duration(i) * 20 * time.Millisecond)
		p.HandleRTP(&pk)
	}
}

// BenchmarkInbandStage is the in-band stage alone per 20 ms frame: decode,
// Detector, look-ahead and masking decision.
func BenchmarkInbandStage(b *testing.B) {
	p := newBenchPipeline(b)
	pay := speechLike()
	dst := make([]byte, hFrame)
	b.ReportAllocs()
	for b.Loop() {
		p.detect(pay, hEpoch)
		a, e := p.la.next(dst)
		p.mask(dst, a, e)
	}
}

// TestPipelineAllocatesNothingPerPacket pins 0 allocations per audio and
// event packet and per tick.
func TestPipelineAllocatesNothingPerPacket(t *testing.T) {
	p := newBenchPipeline(t)
	pk := media.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 5}, Payload: speechLike()}
	i := 0
	if n := testing.AllocsPerRun(200, func() { audioStep(p, &pk, i); i++ }); n != 0 {
		t.Errorf("audio packet: %v allocs", n)
	}
	ev := media.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SSRC: 5}, Payload: make([]byte, 4)}
	if n := testing.AllocsPerRun(200, func() {
		e := dtmf.TelephoneEvent{Code: uint8(i % 16), Volume: 10, Duration: 160, End: i%5 == 4}
		e.AppendTo(ev.Payload[:0])
		ev.Header.SequenceNumber = uint16(i)
		ev.Header.Timestamp = uint32(i / 5 * 8000)
		ev.Arrival = hEpoch.Add(time.Duration(i) * 20 * time.Millisecond)
		p.HandleRTP(&ev)
		p.Tick(ev.Arrival.Add(50 * time.Millisecond))
		i++
	}); n != 0 {
		t.Errorf("event packet and tick: %v allocs", n)
	}
}

// BenchmarkPipelineAudioManyCalls is BenchmarkPipelineAudio as a relay
// carrying a thousand calls sees it: each packet goes to the next call's
// pipeline, whose state the others have pushed out of the cache, eight
// calls at a time as a Reactor's poll finds them. "prefetch" fetches the
// eight calls' warm lists first, as Reactor.poll does; "cold" takes the
// misses one by one. ns/op is per packet.
func BenchmarkPipelineAudioManyCalls(b *testing.B) {
	const calls, batch = 1000, 8
	for _, prefetch := range []bool{false, true} {
		name := "cold"
		if prefetch {
			name = "prefetch"
		}
		b.Run(name, func(b *testing.B) {
			pipes := make([]*Pipeline, calls)
			pks := make([]media.Packet, calls)
			lists := make([]media.WarmList, calls)
			for c := range pipes {
				pipes[c] = newBenchPipeline(b)
				pks[c] = media.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 5}, Payload: speechLike(), Warm: &lists[c]}
				audioStep(pipes[c], &pks[c], 0)
			}
			b.ReportAllocs()
			next, seq := 0, 1
			for b.Loop() {
				first := next
				if prefetch {
					for c := first; c < first+batch; c++ {
						lists[c].Prefetch()
					}
				}
				for c := first; c < first+batch; c++ {
					lists[c].Reset()
					audioStep(pipes[c], &pks[c], seq)
				}
				if next += batch; next == calls {
					next = 0
					seq++
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/packet")
		})
	}
}

// BenchmarkRelayPacketMasking measures one caller→agent packet through a
// started relay over loopback with the masking pipeline as its handler,
// as the call domain assembles it: the caller leg's read, source check,
// parse and stats, the pipeline (events and in-band masking on), the
// DirectSender's write; a reader on the agent's socket takes the packet.
// media's BenchmarkRelayPacket measures the same path without masking.
func BenchmarkRelayPacketMasking(b *testing.B) {
	for _, bc := range []struct {
		name    string
		reactor bool
		rtcp    bool // RelayConfig.RTCP on
	}{{"masking", false, false}, {"masking+rtcp", false, true}, {"reactor/masking", true, false}} {
		b.Run(bc.name, func(b *testing.B) {
			pool, _ := testPool(b, 2)
			callerPeer, agentPeer := testkit.ListenUDP(b), testkit.ListenUDP(b)
			caller, err := media.NewLeg(media.LegConfig{Pool: pool, Remote: testkit.AddrOf(callerPeer), MediaTimeout: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			agent, err := media.NewLeg(media.LegConfig{Pool: pool, Remote: testkit.AddrOf(agentPeer)})
			if err != nil {
				b.Fatal(err)
			}
			out, err := media.NewDirectSender(agent)
			if err != nil {
				b.Fatal(err)
			}
			p, err := NewPipeline(Config{Law: g711.Ulaw, AudioPT: 0, EventPTs: []uint8{101}}, out)
			if err != nil {
				b.Fatal(err)
			}
			cfg := media.RelayConfig{Caller: caller, Agent: agent, CallerToAgent: p, Tick: p}
			if bc.reactor {
				cfg.Reactor = testReactor(b, media.ReactorConfig{})
			}
			if bc.rtcp {
				cfg.RTCP = &media.RelayRTCP{CallerRemote: testkit.AddrOf(testkit.ListenUDP(b)), AgentRemote: testkit.AddrOf(testkit.ListenUDP(b)), AgentSent: p.Sent}
			}
			relay, err := media.NewRelay(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { relay.Close() })
			if err := relay.Start(); err != nil {
				b.Fatal(err)
			}
			credits := make(chan struct{}, testkit.BenchWindow)
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf := make([]byte, media.MaxDatagram+1)
				for {
					if _, _, err := agentPeer.ReadFromUDPAddrPort(buf); err != nil {
						return
					}
					<-credits
				}
			}()
			testkit.SendLoopback(b, callerPeer, caller.LocalAddr(), benchPacket(), credits)
			agentPeer.Close()
			<-done
		})
	}
}

// benchPacket is media's loopback benchmarks' packet (PCMU, sequence 1,
// timestamp 160, SSRC 0x1234), so that the two compare.
func benchPacket() []byte {
	pkt := make([]byte, 12+160)
	pkt[0] = 0x80
	binary.BigEndian.PutUint16(pkt[2:], 1)
	binary.BigEndian.PutUint32(pkt[4:], 160)
	binary.BigEndian.PutUint32(pkt[8:], 0x1234)
	return pkt
}

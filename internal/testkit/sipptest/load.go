package sipptest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// LoadOptions says how RunLoad drives a load run: Calls calls started at
// Rate calls per second, each playing RTP for RTP's duration and then
// hanging up.
type LoadOptions struct {
	// Calls is the number of calls (SIPp's -m). Required.
	Calls int
	// Rate is the number of calls started per second (-r). Required.
	Rate int
	// RTP is what every caller plays (uac_load offers PCMU alone, so its
	// Law must be µ-law); its Duration is each call's length.
	RTP CallerRTP
	// MaxConcurrent bounds the calls in progress (-l). Zero: SIPp's
	// default.
	MaxConcurrent int
	// Dir holds the pcap and both SIPp run directories. Default: a new
	// temporary directory.
	Dir string
	// AgentGrace is how long the agent may take to finish its last calls
	// once the caller has finished, before it is told to stop. Default 5 s.
	AgentGrace time.Duration
	// Service is the user part of the caller's Request-URI (Options.Service),
	// e.g. a prefix a proxy in front of the gateway routes on. Default
	// "agent".
	Service string
}

// LoadResult is what a load run did.
type LoadResult struct {
	// Caller and Agent are the two SIPp runs' results.
	Caller, Agent Result
	// CallLength is how long each call played RTP.
	CallLength time.Duration
	// PacketsSent is the number of RTP packets the callers played in all:
	// Calls times the packets of LoadOptions.RTP. AudioPacketsSent counts
	// the audio packets among them, the rest being RFC 4733 events.
	PacketsSent, AudioPacketsSent int
	// PacketsReceived is the number of RTP packets the agent's media
	// address received, from all calls.
	PacketsReceived int
	// NotRTP counts the datagrams the agent received that were not RTP.
	NotRTP int
}

// minDelivered is the share of the callers' audio packets a load run
// must deliver to the agent. Loopback loses nothing, but a gateway that
// masks drops the events, replaces audio one for one, and may lose the
// last packets of a call to the BYE.
const minDelivered = 0.95

// Check returns nil when every call succeeded on both sides, none failed,
// and the agent received at least 95% as many RTP packets as the callers
// sent audio packets.
func (r LoadResult) Check(calls int) error {
	var errs []error
	if err := r.Caller.Check(calls); err != nil {
		errs = append(errs, fmt.Errorf("caller: %w", err))
	}
	if err := r.Agent.Check(calls); err != nil {
		errs = append(errs, fmt.Errorf("agent: %w", err))
	}
	if float64(r.PacketsReceived) < minDelivered*float64(r.AudioPacketsSent) {
		errs = append(errs, fmt.Errorf("sipptest: the agent received %d RTP packets; the callers sent %d audio packets", r.PacketsReceived, r.AudioPacketsSent))
	}
	return errors.Join(errs...)
}

// RunLoad runs a load through a gateway: it starts a SIPp agent
// (uas_load) whose answers send the media to a Recorder that counts it,
// calls gateway with the agent's SIP address (the gateway routes its calls
// there and returns its own SIP address), then runs the SIPp caller
// (uac_load) against that address. It needs root or CAP_NET_RAW, as the
// caller plays its RTP with play_pcap_audio. The error is non-nil when a
// run could not be carried out; whether its calls succeeded is
// LoadResult.Check's to say.
func RunLoad(ctx context.Context, o LoadOptions, gateway func(agent netip.AddrPort) (netip.AddrPort, error)) (LoadResult, error) {
	var r LoadResult
	if o.Calls <= 0 || o.Rate <= 0 {
		return r, fmt.Errorf("sipptest: a load run needs calls (%d) and a rate (%d)", o.Calls, o.Rate)
	}
	if o.RTP.AudioPT() != 0 {
		return r, errors.New("sipptest: uac_load offers PCMU alone: the load's RTP must be µ-law")
	}
	pkts, err := o.RTP.Packets()
	if err != nil {
		return r, err
	}
	r.PacketsSent = o.Calls * len(pkts)
	for _, p := range pkts {
		if p.Packet.PayloadType == o.RTP.AudioPT() {
			r.AudioPacketsSent += o.Calls
		}
	}
	if o.Dir == "" {
		if o.Dir, err = os.MkdirTemp("", "sipptest-load-"); err != nil {
			return r, fmt.Errorf("sipptest: %w", err)
		}
	}
	dirs := map[string]string{}
	for _, d := range []string{"caller", "agent"} {
		dirs[d] = filepath.Join(o.Dir, d)
		if err := os.MkdirAll(dirs[d], 0o700); err != nil {
			return r, fmt.Errorf("sipptest: %w", err)
		}
	}
	pcap := filepath.Join(o.Dir, PcapName)
	if r.CallLength, err = o.RTP.WriteFile(pcap); err != nil {
		return r, err
	}
	grace := o.AgentGrace
	if grace <= 0 {
		grace = 5 * time.Second
	}

	// The recorder keeps one packet and counts the rest: a load run needs
	// the count, and a process measuring its memory per call must not
	// hold every packet.
	rec, err := NewRecorder(1)
	if err != nil {
		return r, err
	}
	defer rec.Close()
	agent, err := Start(ctx, UASLoad, Options{Calls: o.Calls, MediaSink: rec.Addr(), Dir: dirs["agent"]})
	if err != nil {
		return r, err
	}
	stopAgent := func() {
		_ = agent.Stop()
		<-agent.exited
	}
	gw, err := gateway(agent.Local())
	if err != nil {
		agent.kill()
		return r, fmt.Errorf("sipptest: load gateway: %w", err)
	}
	r.Caller, err = Run(ctx, UACLoad, Options{
		Remote: gw, CallerPcap: pcap, CallDuration: r.CallLength, Service: o.Service,
		Calls: o.Calls, Rate: o.Rate, MaxConcurrent: o.MaxConcurrent, Dir: dirs["caller"],
	})
	if err != nil {
		stopAgent()
		return r, err
	}
	// The agent exits once it has taken every call; if the caller lost
	// some, it never will: give it a grace period, then stop it.
	select {
	case <-agent.exited:
	case <-time.After(grace):
		stopAgent()
	}
	if r.Agent, err = agent.Wait(); err != nil {
		return r, err
	}
	st := rec.Stats()
	r.PacketsReceived, r.NotRTP = st.Packets+st.Dropped, st.NotRTP
	return r, nil
}

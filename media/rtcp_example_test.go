package media_test

import (
	"log"
	"net/netip"
	"time"

	"dtmfgw/media"
	"dtmfgw/media/rtcp"
)

// The relay wires one RTCPSession per leg. This is the agent leg: its
// reports describe the masked stream the pipeline sends to the agent and
// the agent's stream it receives; the caller leg is wired the same way
// with the SentCounter the relay notes forwarded agent packets in.
func Example_agentLegRTCP() {
	pool, err := media.NewPortPool(media.PortPoolConfig{BindAddr: netip.MustParseAddr("127.0.0.1")})
	if err != nil {
		log.Fatal(err)
	}
	agentRTP := netip.MustParseAddrPort("127.0.0.1:30000") // from the agent's SDP
	leg, err := media.NewLeg(media.LegConfig{Pool: pool, Remote: agentRTP})
	if err != nil {
		log.Fatal(err)
	}
	defer leg.Close()

	var sent rtcp.SentCounter // the pipeline: sent.Note(ssrc, ts, len(payload), now) per packet written
	var heard rtcp.HighestSeq // the agent leg's handler: heard.Note(h.SSRC, h.SequenceNumber) per audio packet
	session, err := rtcp.NewSession(rtcp.Config{
		// RTP port + 1 (RFC 3550 §11), or the port of a=rtcp (RFC 3605).
		Remote:   rtcp.Addr(agentRTP, 0),
		Sent:     sent.Load,
		Received: func() rtcp.Reception { return media.ReceptionOf(leg.Stats().Received, &heard) },
		Write:    rtcp.UDPWriter(leg.RTCP()),
	})
	if err != nil {
		log.Fatal(err)
	}
	go session.Serve(leg.RTCP(), nil) // returns when the leg closes its RTCP socket

	// The relay's shared timer calls Tick and sleeps until the time it
	// returns (or its next round).
	next := session.Tick(time.Now())
	_ = next

	// On hang-up: the BYE goes out before the leg closes the socket.
	_ = session.Close(time.Now())
	_ = session.Stats().Peer // the agent's view of our stream: loss, jitter, RTT
}

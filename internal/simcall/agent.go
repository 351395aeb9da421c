package simcall

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"dtmfgw/dtmf"
)

// MaxRecorded bounds the RTP packets an Agent keeps: five minutes of
// 20 ms packets. Later ones are counted, not kept.
const MaxRecorded = 5 * 60 * 50

// AgentStats counts what an Agent received on its RTP socket.
type AgentStats struct {
	// Packets is every RTP packet received; Audio those with PCMU's
	// payload type; Other those with another payload type.
	Packets, Audio, Other uint64
	// EventShaped counts payloads shaped like RFC 4733 telephone-events,
	// whatever their payload type (dtmf.EventShaped): a leak.
	EventShaped uint64
	// Malformed counts datagrams that are not RTP; Unrecorded packets
	// past MaxRecorded.
	Malformed, Unrecorded uint64
}

// Agent is a simulated contact-centre agent: it answers one call at a
// time with PCMU (RFC 3264 §6; a second call gets 486), sends silence back every Frame and
// records the RTP it receives. Its methods are safe for concurrent use.
type Agent struct {
	e        *endpoint
	dialogs  *sipgo.DialogServerCache
	answered chan struct{} // closed at the first answer

	mu       sync.Mutex
	busy     bool                       // a call is being answered or in progress
	dialog   *sipgo.DialogServerSession // the call in progress
	remote   netip.AddrPort             // where the call's RTP goes
	answers  int
	stats    AgentStats
	recorded []rtp.Packet
	// more is closed and replaced whenever a packet is counted, so
	// WaitPackets can wait without polling.
	more chan struct{}
}

// NewAgent opens an agent on 127.0.0.1; it closes itself when ctx ends.
// log receives sipgo's log lines (nil: discarded).
func NewAgent(ctx context.Context, log *slog.Logger) (*Agent, error) {
	e, err := newEndpoint("agent", log)
	if err != nil {
		return nil, err
	}
	a := &Agent{e: e, answered: make(chan struct{}), more: make(chan struct{}), dialogs: sipgo.NewDialogServerCache(e.cli, e.contact)}
	e.srv.OnInvite(a.onInvite)
	e.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = a.dialogs.ReadAck(req, tx) })
	e.start(ctx, a.dialogs.ReadBye, a.Hangup, a.Close, a.receive)
	return a, nil
}

// URI is the SIP URI that reaches the agent, for the gateway's target.
func (a *Agent) URI() string {
	return "sip:agent@" + a.e.sipAddr.String()
}

// Answered is closed once the agent has answered its first call.
func (a *Agent) Answered() <-chan struct{} { return a.answered }

// onInvite answers a new call, or an in-dialog re-INVITE (RFC 3261
// §14.2) with the same SDP and the media following the new offer. sipgo
// tears the transaction down when the handler returns, so it returns only
// once the call is over.
func (a *Agent) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil {
		if tag, _ := to.Params.Get("tag"); tag != "" {
			a.onReinvite(req, tx)
			return
		}
	}
	rm, err := parseSDP(req.Body())
	if err != nil {
		// A late offer is not simulated (RFC 3261 §13.2.1 allows it).
		res := sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil)
		res.AppendHeader(sip.NewHeader("Warning", `399 simcall "an SDP offer is required"`))
		_ = tx.Respond(res)
		return
	}
	a.mu.Lock()
	busy := a.busy || a.e.isClosed()
	a.busy = true
	a.mu.Unlock()
	if busy {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 486, "Busy Here", nil))
		return
	}
	defer func() {
		a.mu.Lock()
		a.busy, a.dialog = false, nil
		a.mu.Unlock()
	}()
	d, err := a.dialogs.ReadInvite(req, tx)
	if err != nil {
		return
	}
	defer d.Close()
	a.mu.Lock()
	a.dialog, a.remote = d, rm.addr
	a.mu.Unlock()
	// The gateway never offers the agent telephone-event; a caller
	// calling the agent directly gets it back (RFC 3264 §6.1), which is
	// how this package's own tests see the caller's events.
	if err := d.RespondSDP(sdpBody(a.e.rtpAddr(), rm.events, rm.eventPT)); err != nil {
		return
	}
	a.mu.Lock()
	a.answers++
	if a.answers == 1 {
		close(a.answered)
	}
	a.mu.Unlock()
	a.e.wg.Add(1)
	go a.send(d.Context())
	select {
	case <-d.Context().Done():
	case <-a.e.closed:
	}
}

// onReinvite answers a re-INVITE of the call in progress.
func (a *Agent) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	rm, err := parseSDP(req.Body())
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return
	}
	a.mu.Lock()
	ok := a.dialog != nil && a.dialog.InviteRequest.CallID().Value() == req.CallID().Value()
	if ok {
		a.remote = rm.addr
	}
	a.mu.Unlock()
	if !ok {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	body := sdpBody(a.e.rtpAddr(), false, 0)
	if strings.Contains(string(req.Body()), "a=sendonly") {
		body = []byte(strings.Replace(string(body), "a=sendrecv", "a=recvonly", 1))
	}
	_ = tx.Respond(sip.NewSDPResponseFromRequest(req, body))
}

// send is the agent's RTP: silence every Frame until the call ends, so
// that the gateway's agent leg does not time out.
func (a *Agent) send(callCtx context.Context) {
	defer a.e.wg.Done()
	s := newStream(0)
	t := time.NewTicker(Frame)
	defer t.Stop()
	for {
		select {
		case <-callCtx.Done():
			return
		case <-a.e.closed:
			return
		case <-t.C:
		}
		a.mu.Lock()
		to := a.remote
		a.mu.Unlock()
		if _, err := a.e.rtp.WriteToUDPAddrPort(s.next(), to); err != nil && a.e.isClosed() {
			return
		}
	}
}

// receive records what the gateway sends until the socket closes.
func (a *Agent) receive() {
	defer a.e.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := a.e.rtp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if a.e.isClosed() {
				return
			}
			continue
		}
		a.record(buf[:n])
	}
}

// record counts one datagram and keeps a copy of it while there is room.
func (a *Agent) record(b []byte) {
	var p rtp.Packet
	data := append([]byte(nil), b...)
	err := p.Unmarshal(data)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil || p.Version != 2 {
		a.stats.Malformed++
		return
	}
	a.stats.Packets++
	close(a.more)
	a.more = make(chan struct{})
	if p.PayloadType == pcmuPT {
		a.stats.Audio++
	} else {
		a.stats.Other++
	}
	if dtmf.EventShaped(p.Payload) {
		a.stats.EventShaped++
	}
	if len(a.recorded) >= MaxRecorded {
		a.stats.Unrecorded++
		return
	}
	a.recorded = append(a.recorded, p)
}

// Stats returns the counts so far.
func (a *Agent) Stats() AgentStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

// WaitPackets waits until the agent has received at least n RTP packets
// in all, or ctx ends, or the agent closes.
func (a *Agent) WaitPackets(ctx context.Context, n uint64) error {
	for {
		a.mu.Lock()
		got, more := a.stats.Packets, a.more
		a.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-more:
		case <-ctx.Done():
			return fmt.Errorf("simcall: the agent has %d RTP packets of %d: %w", got, n, ctx.Err())
		case <-a.e.closed:
			return ErrClosed
		}
	}
}

// Packets returns a copy of the recorded packets, in arrival order, for a
// leak check (leakcheck.Find).
func (a *Agent) Packets() []rtp.Packet {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]rtp.Packet(nil), a.recorded...)
}

// Hangup sends BYE on the call in progress (RFC 3261 §15.1.1).
func (a *Agent) Hangup(ctx context.Context) error {
	a.mu.Lock()
	d := a.dialog
	a.mu.Unlock()
	if d == nil || d.Context().Err() != nil {
		return ErrNoCall
	}
	if err := d.Bye(ctx); err != nil {
		return fmt.Errorf("simcall: agent BYE: %w", err)
	}
	return nil
}

// Close hangs up a call in progress, closes the sockets and waits for the
// agent's goroutines. It is safe to call more than once.
func (a *Agent) Close() error { return a.e.close() }

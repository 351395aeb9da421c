package simcall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"dtmfgw/dtmf"
)

// Header is an extra header of the caller's INVITE, such as the contact
// centre's X-Agent-Id or X-Primary-Call-Id.
type Header struct{ Name, Value string }

// Caller is a simulated phone: it calls once, sends PCMU every Frame while
// the call is up, and keys digits as RFC 4733 telephone-events in that
// stream. Its methods are safe for concurrent use.
type Caller struct {
	e       *endpoint
	dialogs *sipgo.DialogClientCache
	jobs    chan *keyJob
	rtpIn   atomic.Uint64

	mu     sync.Mutex
	dialog *sipgo.DialogClientSession // set once answered
	remote remoteMedia
	dialed bool
}

// NewCaller opens a caller on 127.0.0.1; it closes itself when ctx ends.
// log receives sipgo's log lines (nil: discarded).
func NewCaller(ctx context.Context, log *slog.Logger) (*Caller, error) {
	e, err := newEndpoint("caller", log)
	if err != nil {
		return nil, err
	}
	c := &Caller{e: e, jobs: make(chan *keyJob), dialogs: sipgo.NewDialogClientCache(e.cli, e.contact)}
	e.start(ctx, c.dialogs.ReadBye, c.Hangup, c.Close, c.receive)
	return c, nil
}

// Call calls user at the gateway's SIP address over UDP with an early
// offer (PCMU and telephone-event, RFC 3264 §5), waits for the answer,
// ACKs it and starts the media. A Caller makes one call.
func (c *Caller) Call(ctx context.Context, gateway netip.AddrPort, user string, headers ...Header) error {
	c.mu.Lock()
	if c.dialed {
		c.mu.Unlock()
		return errors.New("simcall: the caller has already called")
	}
	c.dialed = true
	c.mu.Unlock()
	if c.e.isClosed() {
		return ErrClosed
	}
	hdrs := make([]sip.Header, 0, len(headers)+1)
	for _, h := range headers {
		hdrs = append(hdrs, sip.NewHeader(h.Name, h.Value))
	}
	ct := sip.ContentTypeHeader("application/sdp")
	hdrs = append(hdrs, &ct)
	to := sip.Uri{Scheme: "sip", User: user, Host: gateway.Addr().String(), Port: int(gateway.Port())}
	d, err := c.dialogs.Invite(ctx, to, sdpBody(c.e.rtpAddr(), true, offeredPT), hdrs...)
	if err != nil {
		return fmt.Errorf("simcall: INVITE: %w", err)
	}
	if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		_ = d.Close()
		return fmt.Errorf("simcall: call: %w", err)
	}
	rm, err := parseSDP(d.InviteResponse.Body())
	if err == nil && !rm.events {
		err = fmt.Errorf("%w: the answer has no telephone-event", errSDP)
	}
	if err != nil {
		// Answered but unusable: ACK, then hang up (RFC 3261 §13.2.2.4).
		_ = d.Ack(ctx)
		_ = d.Bye(ctx)
		_ = d.Close()
		return err
	}
	if err := d.Ack(ctx); err != nil {
		_ = d.Close()
		return fmt.Errorf("simcall: ACK: %w", err)
	}
	c.mu.Lock()
	c.dialog, c.remote = d, rm
	c.mu.Unlock()
	c.e.wg.Add(1)
	go c.send(d.Context(), rm)
	return nil
}

// CallID is the Call-ID of the caller's call, "" before it is answered.
func (c *Caller) CallID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dialog == nil {
		return ""
	}
	return c.dialog.InviteRequest.CallID().Value()
}

// Ended is closed once the answered call has ended, whichever side hung
// up; nil before the call is answered.
func (c *Caller) Ended() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dialog == nil {
		return nil
	}
	return c.dialog.Context().Done()
}

// Received counts the RTP datagrams the gateway sent the caller.
func (c *Caller) Received() uint64 { return c.rtpIn.Load() }

// KeyDigits presses each key of digits ('0'–'9', '*', '#', 'A'–'D') for
// press, with gap between the end of one press and the start of the next,
// as RFC 4733 telephone-events in the caller's RTP stream (audio resumes
// between presses). Both are rounded to whole frames; a press lasts at
// least one frame and at most 8 s, and the gap is at least two frames
// (the end packet's retransmissions, RFC 4733 §2.5.1.4). It returns once
// the last key's end has been sent, or with ctx's error when ctx ends
// first (then the press in progress is left unfinished, as a lost end).
//
// digits are card data: KeyDigits neither keeps nor changes them, and an
// error names a bad key's position only.
func (c *Caller) KeyDigits(ctx context.Context, digits []byte, press, gap time.Duration) error {
	pressFrames := framesOf(press)
	if pressFrames < 1 || pressFrames > maxPressFrames {
		return fmt.Errorf("simcall: press of %v: want %v to 8s", press, Frame)
	}
	if gap < 0 {
		return fmt.Errorf("simcall: negative gap %v", gap)
	}
	if len(digits) == 0 {
		return nil
	}
	codes := make([]uint8, len(digits))
	for i, ch := range digits {
		k, ok := dtmf.KeyFromChar(ch)
		if !ok {
			clear(codes)
			return fmt.Errorf("simcall: key %d of %d is not a DTMF key", i+1, len(digits))
		}
		codes[i] = k.Code()
	}
	c.mu.Lock()
	d := c.dialog
	c.mu.Unlock()
	if d == nil {
		clear(codes)
		return ErrNoCall
	}
	job := &keyJob{ctx: ctx, codes: codes, pressFrames: pressFrames, gapFrames: framesOf(gap), done: make(chan error, 1)}
	select {
	case c.jobs <- job:
	case <-ctx.Done():
		clear(codes)
		return ctx.Err()
	case <-d.Context().Done():
		clear(codes)
		return ErrNoCall
	case <-c.e.closed:
		clear(codes)
		return ErrClosed
	}
	// The sender finishes every job it takes: at the end, within a frame
	// of ctx ending, or when it stops.
	return <-job.done
}

// send is the caller's RTP: a packet every Frame until the call ends or
// the caller closes. It takes a key job only between jobs.
func (c *Caller) send(callCtx context.Context, rm remoteMedia) {
	defer c.e.wg.Done()
	s := newStream(rm.eventPT)
	defer func() {
		err := ErrNoCall
		if c.e.isClosed() {
			err = ErrClosed
		}
		s.stop(err)
	}()
	t := time.NewTicker(Frame)
	defer t.Stop()
	for {
		jobs := c.jobs
		if s.job != nil {
			jobs = nil
		}
		select {
		case <-callCtx.Done():
			return
		case <-c.e.closed:
			return
		case j := <-jobs:
			s.job, s.key, s.frame = j, 0, 0
			continue
		case <-t.C:
		}
		if _, err := c.e.rtp.WriteToUDPAddrPort(s.next(), rm.addr); err != nil && c.e.isClosed() {
			return
		}
	}
}

// receive counts what the gateway sends until the socket closes.
func (c *Caller) receive() {
	defer c.e.wg.Done()
	buf := make([]byte, 1500)
	for {
		if _, _, err := c.e.rtp.ReadFromUDPAddrPort(buf); err != nil {
			if c.e.isClosed() {
				return
			}
			continue
		}
		c.rtpIn.Add(1)
	}
}

// Hangup sends BYE (RFC 3261 §15.1.1) and stops the media.
func (c *Caller) Hangup(ctx context.Context) error {
	c.mu.Lock()
	d := c.dialog
	c.mu.Unlock()
	if d == nil {
		return ErrNoCall
	}
	if d.Context().Err() != nil {
		return nil // already ended
	}
	defer d.Close()
	if err := d.Bye(ctx); err != nil {
		return fmt.Errorf("simcall: BYE: %w", err)
	}
	return nil
}

// Close hangs up a call in progress, closes the sockets and waits for the
// caller's goroutines. It is safe to call more than once.
func (c *Caller) Close() error { return c.e.close() }

package sip

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"

	"dtmfgw/dtmf"
	"dtmfgw/internal/redact"
	"dtmfgw/session"
)

// logCanary is a card number that appears nowhere else in the tests of
// this package (Luhn-valid, a Visa no test card uses).
const logCanary = "4917613849275039"

// lockedBuffer is a bytes.Buffer that many goroutines may log into.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fanout sends each record to every handler.
type fanout []slog.Handler

func (f fanout) Enabled(ctx context.Context, l slog.Level) bool { return f[0].Enabled(ctx, l) }
func (f fanout) Handle(ctx context.Context, r slog.Record) error {
	for _, h := range f {
		if err := h.Handle(ctx, r.Clone()); err != nil {
			return err
		}
	}
	return nil
}
func (f fanout) WithAttrs(as []slog.Attr) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithAttrs(as)
	}
	return out
}
func (f fanout) WithGroup(name string) slog.Handler {
	out := make(fanout, len(f))
	for i, h := range f {
		out[i] = h.WithGroup(name)
	}
	return out
}

// TestLogsNeverHoldTheCard runs a full call through the B2BUA with the
// canary card keyed as RFC 4733 events and again as SIP INFO, with the
// correlation headers set to digit-bearing values, every logger at debug
// level behind the redaction layer serve uses, in text and JSON; then
// searches both outputs for the canary, whole and its last 8 digits.
func TestLogsNeverHoldTheCard(t *testing.T) {
	var text, js lockedBuffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	log := slog.New(redact.NewHandler(fanout{slog.NewTextHandler(&text, opts), slog.NewJSONHandler(&js, opts)}))

	agent := newPeerUA(t, "agent")
	agent.answerCalls(200, 0)
	mc := session.DefaultMediaConfig()
	mc.RTPPorts = freeRTPRange(t, 10)
	calls, err := session.NewManager(mc, session.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DefaultTarget = "sip:agent@" + agent.addr.String()
	b2b, err := NewB2BUA(cfg, calls, log)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sctx, stopServing := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- b2b.Serve(sctx, ls) }()
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		_ = b2b.Shutdown(dctx)
		stopServing()
		<-served
		calls.Close()
	}()

	caller := newPeerUA(t, "caller")
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
	defer cancel()
	// One call keys the card as RFC 4733 events, a second as SIP INFO (in
	// one call the INFO presses would be joined to the events' presses
	// of the same keys moments before, and not delivered again).
	for _, info := range []bool{false, true} {
		d, err := caller.call(ctx, ls.Addr(), "1000", caller.sdpFor(true, ""),
			sipmsg.NewHeader("X-Agent-Id", "agent-"+logCanary[8:]), sipmsg.NewHeader("X-Primary-Call-Id", logCanary))
		if err != nil {
			t.Fatalf("call: %v", err)
		}
		select {
		case <-agent.dialogs:
		case <-ctx.Done():
			t.Fatal("the agent got no call")
		}
		all := calls.List(session.ListFilter{})
		if len(all) != 1 {
			t.Fatalf("%d calls", len(all))
		}
		call := all[0]
		relay := remoteOf(t, d.InviteResponse.Body())
		var seq uint16
		for i := range len(logCanary) {
			key := dtmf.Key(logCanary[i])
			src := dtmf.SourceRFC4733
			if info {
				src = dtmf.SourceSIPInfo
				req := sipmsg.NewRequest(sipmsg.INFO, d.InviteResponse.Contact().Address)
				ct := sipmsg.ContentTypeHeader("application/dtmf-relay")
				req.AppendHeader(&ct)
				req.SetBody([]byte("Signal=" + logCanary[i:i+1] + "\r\nDuration=160\r\n"))
				res, err := d.Do(ctx, req)
				if err != nil || res.StatusCode != 200 {
					t.Fatalf("INFO: %v %v", res, err)
				}
			} else {
				// Each press on its own RTP timestamp.
				sendKeyAsEvents(t, caller.rtp, relay, key, &seq, uint32(1000+i*1600))
			}
			select {
			case dg := <-call.Digits():
				if dg.Key != key || dg.Source != src {
					t.Fatalf("a press came as %v from %v", dg.Key, dg.Source)
				}
			case <-ctx.Done():
				t.Fatalf("press %d (info %v) did not arrive", i, info)
			}
		}
		if err := d.Bye(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-call.Done():
		case <-ctx.Done():
			t.Fatal("the call did not end")
		}
		waitFor(t, func() bool { return len(calls.List(session.ListFilter{})) == 0 })
	}

	for name, out := range map[string]string{"text": text.String(), "json": js.String()} {
		if !strings.Contains(out, "call ended") {
			t.Fatalf("%s: the call's logs are missing; the search would prove nothing:\n%s", name, out)
		}
		for _, secret := range []string{logCanary, logCanary[8:]} {
			if strings.Contains(out, secret) {
				t.Errorf("%s logs hold %q:\n%s", name, secret, out)
			}
		}
		// The correlation fields are there, masked.
		if !strings.Contains(out, "primary_call_id") || !strings.Contains(out, "agent_id") {
			t.Errorf("%s: the call's logger lacks its correlation fields:\n%s", name, out)
		}
	}
}

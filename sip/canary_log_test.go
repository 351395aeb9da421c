package sip

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"dtmfgw/call"
	"dtmfgw/dtmf"
	"dtmfgw/internal/redact"
	"dtmfgw/internal/testkit"
)

// logCanary is a card number that appears nowhere else in the tests of
// this package (Luhn-valid, a Visa no test card uses).
const logCanary = "4917613849275039"

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
	var text, js testkit.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	log := slog.New(redact.NewHandler(fanout{slog.NewTextHandler(&text, opts), slog.NewJSONHandler(&js, opts)}))

	agent := newPeerUA(t, "agent")
	agent.answerCalls(200, 0)
	gw := startGatewayLog(t, 10, log, nil, func(c *Config) { c.DefaultTarget = "sip:agent@" + agent.addr.String() })
	calls := gw.calls

	caller := newPeerUA(t, "caller")
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
	defer cancel()
	// One call keys the card as RFC 4733 events, a second as SIP INFO (in
	// one call the INFO presses would be joined to the events' presses
	// of the same keys moments before, and not delivered again).
	for _, info := range []bool{false, true} {
		d, err := caller.call(ctx, gw.addr, "1000", caller.sdpFor(true, ""),
			sipmsg.NewHeader("X-Agent-Id", "agent-"+logCanary[8:]), sipmsg.NewHeader("X-Primary-Call-Id", logCanary))
		if err != nil {
			t.Fatalf("call: %v", err)
		}
		select {
		case <-agent.dialogs:
		case <-ctx.Done():
			t.Fatal("the agent got no call")
		}
		all := calls.List(call.ListFilter{})
		if len(all) != 1 {
			t.Fatalf("%d calls", len(all))
		}
		theCall := all[0]
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
			case dg := <-theCall.Presses():
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
		case <-theCall.Done():
		case <-ctx.Done():
			t.Fatal("the call did not end")
		}
		testkit.WaitFor(t, "every call ended", func() bool { return len(calls.List(call.ListFilter{})) == 0 })
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

// notifyHandler passes records on and says when one with the message it
// waits for has arrived.
type notifyHandler struct {
	slog.Handler
	msg  string
	seen chan<- struct{}
}

func (h notifyHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.seen <- struct{}{}:
		default:
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h notifyHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return notifyHandler{h.Handler.WithAttrs(as), h.msg, h.seen}
}

func (h notifyHandler) WithGroup(name string) slog.Handler {
	return notifyHandler{h.Handler.WithGroup(name), h.msg, h.seen}
}

// TestUnparsableSIPLogsNoCard sends the B2BUA a datagram that does not
// parse as SIP, carrying the canary card as a SIP INFO body would. sipgo
// logs such a datagram whole ("failed to parse", data=…) from its
// transport layer, whose logger is its package default (slog.Default)
// unless the B2BUA hands it one: the record must reach the B2BUA's own
// logger, through the redaction, and neither it nor the process's default
// logger may hold the card. So must a record of sipgo's package-level
// logger.
func TestUnparsableSIPLogsNoCard(t *testing.T) {
	var own, deflt testkit.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&deflt, opts)))
	defer slog.SetDefault(prev)
	seen := make(chan struct{}, 1)
	log := slog.New(redact.NewHandler(notifyHandler{slog.NewTextHandler(&own, opts), "failed to parse", seen}))

	gw := startGatewayLog(t, 2, log, nil, nil)

	conn, err := net.Dial("udp", gw.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A Content-Length that is not a number: sipgo's parser refuses it.
	bad := "INFO sip:agent@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099\r\nContent-Type: application/dtmf-relay\r\nContent-Length: twenty\r\n\r\nSignal=" + logCanary + "\r\n"
	if _, err := conn.Write([]byte(bad)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-seen:
	case <-time.After(waitLimit):
		t.Fatalf("the B2BUA's logger never heard of the unparsable datagram\nits log:\n%s\nthe default logger:\n%s", own.String(), deflt.String())
	}
	// sipgo's package-level logger (connection warnings, unparsable
	// headers): to the B2BUA's log too, redacted.
	sipmsg.DefaultLogger().With("caller", "test").Warn("package-level", "data", "Signal="+logCanary+"\r\nDuration=160\r\n")
	if !strings.Contains(own.String(), `msg=package-level`) || !strings.Contains(own.String(), "caller=test") {
		t.Errorf("sipgo's package-level record is not in the B2BUA's log:\n%s", own.String())
	}
	for name, out := range map[string]string{"the B2BUA's log": own.String(), "the default logger": deflt.String()} {
		if strings.Contains(out, logCanary) || strings.Contains(out, logCanary[8:]) {
			t.Errorf("%s holds the card:\n%s", name, out)
		}
	}
}

package sip

import (
	"strings"
	"sync"
	"testing"

	"github.com/emiago/sipgo"

	"dtmfgw/internal/testkit"
)

// TestB2BUAReload changes the routing and the ACL of a serving gateway
// while a call is up, and while other goroutines reload and read the
// configuration (run with -race): new INVITEs follow the new
// configuration, the call in progress is untouched, and a bad
// configuration is refused whole.
func TestB2BUAReload(t *testing.T) {
	agentA, gw, caller, ctx := newCast(t, 200, 0, nil)
	agentB := newPeerUA(t, "agentB")
	agentB.answerCalls(200, 0)

	first, err := caller.call(ctx, gw.addr, "1000", caller.sdpFor(true, ""))
	if err != nil {
		t.Fatalf("first call: %v", err)
	}
	select {
	case <-agentA.dialogs:
	case <-ctx.Done():
		t.Fatal("agent A got no call")
	}

	// Reloads race with reads and INVITEs; the race detector judges.
	cfgB := gw.b2b.Config()
	cfgB.DefaultTarget = "sip:agent@" + agentB.addr.String()
	cfgB.Routes = []RouteRule{{Name: "to-b", UserPrefix: "77", Target: "sip:b@" + agentB.addr.String()}}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if i%2 == 0 {
					if err := gw.b2b.Reload(cfgB); err != nil {
						t.Errorf("Reload: %v", err)
						return
					}
				} else {
					_ = gw.b2b.Config().DefaultTarget
				}
			}
		}()
	}
	wg.Wait()

	// The new default target takes the next call.
	second, err := caller.call(ctx, gw.addr, "1001", caller.sdpFor(true, ""))
	if err != nil {
		t.Fatalf("second call: %v", err)
	}
	select {
	case <-agentB.dialogs:
	case <-agentA.dialogs:
		t.Fatal("the second call went to the old target")
	case <-ctx.Done():
		t.Fatal("agent B got no call")
	}

	// The listeners are not reloadable: a new listen address is ignored.
	moved := cfgB
	moved.Listen = "127.0.0.1:1"
	if err := gw.b2b.Reload(moved); err != nil {
		t.Fatalf("Reload with a new listen address: %v", err)
	}
	if got := gw.b2b.Config().Listen; got == "127.0.0.1:1" {
		t.Error("Reload changed the listen address")
	}

	// A bad configuration is refused with its key, and nothing changes.
	bad := cfgB
	bad.DefaultTarget = "http://example.com"
	bad.ACL = []string{"192.0.2.0/24"}
	if err := gw.b2b.Reload(bad); err == nil || !strings.Contains(err.Error(), "sip.default_target") {
		t.Fatalf("bad Reload: %v, want an error naming sip.default_target", err)
	}
	if got := gw.b2b.Config(); got.DefaultTarget != cfgB.DefaultTarget || len(got.ACL) != len(cfgB.ACL) {
		t.Fatalf("a refused Reload changed the configuration: %+v", got)
	}

	// An ACL without loopback: the next INVITE is refused with 403.
	closed := cfgB
	closed.ACL = []string{"192.0.2.0/24"}
	if err := gw.b2b.Reload(closed); err != nil {
		t.Fatal(err)
	}
	if _, err := caller.call(ctx, gw.addr, "1002", caller.sdpFor(true, "")); err == nil || statusOf(t, err) != 403 {
		t.Fatalf("call after closing the ACL: %v, want 403", err)
	}

	// The calls in progress were untouched: both hang up cleanly.
	for _, d := range []*sipgo.DialogClientSession{first, second} {
		if err := d.Bye(ctx); err != nil {
			t.Errorf("BYE: %v", err)
		}
	}
	testkit.WaitFor(t, "every bridge gone", func() bool { return gw.b2b.Calls() == 0 })
}

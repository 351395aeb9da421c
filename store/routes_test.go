package store

import (
	"errors"
	"testing"
)

func TestLiveCallsAndRoutes(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		ctx := ctxT(t)
		s := openStore(t, dsn, newTestClock())
		for _, c := range []LiveCall{
			{ID: "c-1", NodeID: "node-a", InboundCallID: "in-1@x", PrimaryCallID: "pc-1", AgentID: "agent-7"},
			{ID: "c-2", NodeID: "node-b", InboundCallID: "in-2@x", PrimaryCallID: "pc-2", AgentID: "agent-8", Outbound: true},
		} {
			if err := s.AddLiveCall(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct {
			f    CallFilter
			want string
		}{{CallFilter{ID: "c-2"}, "c-2"}, {CallFilter{ID: "in-1@x"}, "c-1"}, {CallFilter{PrimaryCallID: "pc-2"}, "c-2"}, {CallFilter{AgentID: "agent-7"}, "c-1"}} {
			cs, err := s.LiveCalls(ctx, tc.f, 10)
			if err != nil || len(cs) != 1 || cs[0].ID != tc.want {
				t.Errorf("LiveCalls(%+v) = %+v, %v; want %s", tc.f, cs, err, tc.want)
			}
		}
		if cs, _ := s.LiveCalls(ctx, CallFilter{ID: "c-2"}, 10); len(cs) != 1 || !cs[0].Outbound {
			t.Errorf("an outbound call read back: %+v", cs)
		}
		if cs, _ := s.LiveCalls(ctx, CallFilter{ID: "c-1", AgentID: "agent-8"}, 10); len(cs) != 0 {
			t.Errorf("a filter no call matches: %+v", cs)
		}
		if err := s.RemoveLiveCall(ctx, "c-1"); err != nil {
			t.Fatal(err)
		}
		if n, err := s.RemoveNodeCalls(ctx, "node-b"); err != nil || n != 1 {
			t.Fatalf("RemoveNodeCalls = %d, %v", n, err)
		}
		if cs, _ := s.LiveCalls(ctx, CallFilter{}, 10); len(cs) != 0 {
			t.Fatalf("calls left: %+v", cs)
		}
		if err := s.AddPaymentRoute(ctx, PaymentRoute{PaymentID: "pay_x", NodeID: "node-a", CallID: "c-1"}); err != nil {
			t.Fatal(err)
		}
		if r, err := s.PaymentRouteOf(ctx, "pay_x"); err != nil || r.NodeID != "node-a" || r.CallID != "c-1" {
			t.Fatalf("PaymentRouteOf = %+v, %v", r, err)
		}
		if _, err := s.PaymentRouteOf(ctx, "pay_y"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("no route: %v", err)
		}
	})
}

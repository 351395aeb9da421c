package e2e

// Kamailio (Debian's, with deploy/kamailio/kamailio.cfg) in front of
// four dtmfgw nodes on one PostgreSQL: SIPp's calls, with RTP, are spread
// over the nodes; a node killed is passed over, no call refused; a node
// told to stop drains (it answers OPTIONS and INVITEs with
// 503 while its last call finishes), Kamailio takes it out, and the new
// calls land on the others, none refused.

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"dtmfgw/internal/simcall"
	"dtmfgw/internal/testkit"
	"dtmfgw/internal/testkit/kamailiotest"
	"dtmfgw/internal/testkit/sipptest"
)

// callsTaken counts the calls a node's log says it created.
func callsTaken(g *testGateway) int { return strings.Count(g.Log.String(), `"msg":"call created"`) }

func TestKamailioSpreadsCallsAndDrainsANode(t *testing.T) {
	if testing.Short() {
		t.Skip("Kamailio in front of three nodes: make test runs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dsn, psp, agent, log := clusterFixture(t, ctx)

	// SIPp callers through Kamailio to a SIPp agent, with RTP:
	// the nodes start, with the agent as their target, once the agent
	// listens.
	const sippCalls = 12
	var nodes []*testGateway
	var nodeD *serveChild // a fourth node, in a process of its own: it dies
	var proxy netip.AddrPort
	res, err := sipptest.RunLoad(ctx, sipptest.LoadOptions{
		Calls: sippCalls, Rate: 6, RTP: sipptest.CallerRTP{Tail: 600 * time.Millisecond}, Dir: t.TempDir(),
		// Kamailio's secure prefix: it sends the call to a node, stripped.
		Service: "*88agent",
	}, func(sippAgent netip.AddrPort) (netip.AddrPort, error) {
		target := "sip:agent@" + sippAgent.String()
		for i, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
			nodes = append(nodes, startGateway(t, clusterYAML(fmt.Sprintf("node-%c", 'a'+i), ip, dsn, psp.srv.URL, target)))
		}
		cfgD := &testGateway{path: filepath.Join(t.TempDir(), "dtmfgw.yaml"), defaults: loopbackDefaults(t, t.TempDir())}
		cfgD.writeConfig(t, clusterYAML("node-d", "127.0.0.5", dsn, psp.srv.URL, target))
		nodeD = startServeChild(t, cfgD.path)
		sipD, _, _ := nodeD.serving(t)
		var list strings.Builder
		for _, n := range nodes {
			fmt.Fprintf(&list, "1 sip:%s;transport=udp 8 0\n", n.SIP)
		}
		fmt.Fprintf(&list, "1 sip:%s;transport=udp 8 0\n", sipD)
		// The agent platform's set, which Kamailio probes with OPTIONS: the
		// simulated agent answers them (SIPp's would count each as a call).
		list.WriteString("2 sip:" + strings.TrimPrefix(agent.URI(), "sip:agent@") + " 0 0\n")
		port, _ := kamailiotest.Start(t, "../deploy/kamailio/kamailio.cfg", list.String())
		proxy = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
		return proxy, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Check(sippCalls); err != nil {
		t.Fatalf("SIPp's calls through Kamailio: %v", err)
	}
	for i, n := range nodes {
		if got := callsTaken(n); got == 0 {
			t.Errorf("node %c took no call of SIPp's %d", 'a'+i, sippCalls)
		}
	}
	if got := strings.Count(nodeD.log.String(), `"msg":"call created"`); got == 0 {
		t.Errorf("node d took no call of SIPp's %d", sippCalls)
	}
	t.Logf("SIPp: %d calls through Kamailio, %d of %d audio packets at the agent", sippCalls, res.PacketsReceived, res.AudioPacketsSent)

	// call places one secure call through Kamailio, to an agent of its own
	// (a simulated agent takes one call at a time, and may still be
	// ending the last when the next arrives), and hangs it up unless keep.
	call := func(i int, keep bool) *simcall.Caller {
		t.Helper()
		to, err := simcall.NewAgent(ctx, log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { to.Close() })
		c, err := simcall.NewCaller(ctx, log)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		hdrs := []simcall.Header{{Name: "X-Secure-Payment", Value: "yes"}, {Name: "X-Agent-Id", Value: fmt.Sprintf("kam-%d", i)},
			{Name: "X-Dtmfgw-Target", Value: to.URI()}}
		if err := c.Call(ctx, proxy, "1000", hdrs...); err != nil {
			t.Fatalf("call %d through Kamailio: %v", i, err)
		}
		if !keep {
			if err := c.Hangup(ctx); err != nil {
				t.Fatalf("call %d's hangup: %v", i, err)
			}
			<-c.Ended()
		}
		return c
	}

	// Node D dies (SIGKILL) before Kamailio's probes notice: the next
	// calls are all taken by the others, none refused (one sent to D
	// is tried on the next node once D has not answered within FR_TIMER).
	if err := nodeD.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-nodeD.done
	takenBefore := 0
	for _, n := range nodes {
		takenBefore += callsTaken(n)
	}
	for i := 100; i < 104; i++ {
		call(i, false)
	}
	takenAfter := 0
	for _, n := range nodes {
		takenAfter += callsTaken(n)
	}
	if takenAfter-takenBefore != 4 {
		t.Errorf("the living nodes took %d of the 4 calls after node d's death", takenAfter-takenBefore)
	}

	// A call is kept up on a node (the next that Kamailio picks), which
	// is then told to stop: it drains.
	before := make([]int, len(nodes))
	for i, n := range nodes {
		before[i] = callsTaken(n)
	}
	kept := call(6, true)
	draining := -1
	for i, n := range nodes {
		if callsTaken(n) > before[i] {
			draining = i
		}
	}
	if draining < 0 {
		t.Fatal("the kept call landed on no node")
	}
	d := nodes[draining]
	stopped := make(chan error, 1)
	go func() { stopped <- d.Stop() }()
	testkit.WaitFor(t, "the draining node answers OPTIONS with 503", func() bool {
		return strings.HasPrefix(sipOptions(t, d.SIP.String()), "SIP/2.0 503")
	})
	taken := callsTaken(d)
	for i := 7; i < 10; i++ {
		call(i, false)
	}
	if got := callsTaken(d); got != taken {
		t.Errorf("the draining node took %d new calls", got-taken)
	}
	if err := kept.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("the drained node's stop: %v", err)
		}
	case <-time.After(e2eWait):
		t.Fatal("the draining node did not stop once its last call ended")
	}
}

package deploy

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"dtmfgw/internal/testkit/kamailiotest"
)

const (
	kamailioCfg  = "kamailio/kamailio.cfg"
	kamailioList = "kamailio/dispatcher.list"
)

// TestKamailioConfigCheck runs Kamailio's own syntax and module check
// (kamailio -c) on the example configuration, and on a broken copy of it to
// show the check is not a formality.
func TestKamailioConfigCheck(t *testing.T) {
	bin := kamailiotest.Path(t)
	list, err := filepath.Abs(kamailioList)
	if err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(kamailioCfg)
	if err != nil {
		t.Fatal(err)
	}
	broken := bytes.Replace(good, []byte("route[WITHINDLG] {"), []byte("route[WITHINDLG] "), 1)
	if bytes.Equal(broken, good) {
		t.Fatal("route[WITHINDLG] not found in kamailio.cfg")
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		cfg  []byte
		ok   bool
	}{
		{"example", good, true},
		{"missing brace", broken, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".cfg")
			if err := os.WriteFile(path, tc.cfg, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "-c", "-f", path, "-A", fmt.Sprintf("DISPATCHER_LIST=%q", list)).CombinedOutput()
			ok := err == nil && bytes.Contains(out, []byte("config file ok"))
			if ok != tc.ok {
				t.Fatalf("kamailio -c: ok=%v, want %v (%v)\n%s", ok, tc.ok, err, out)
			}
		})
	}
}

// fakeNode is a SIP peer on a loopback UDP socket standing in for a dtmfgw
// node or the agent platform: it answers OPTIONS 200 (as dtmfgw does when it
// is not draining, 503 while it is) and INVITE with a fixed final response,
// and records what it received.
type fakeNode struct {
	conn    *net.UDPConn
	options int    // status code for OPTIONS
	invite  int    // status code for INVITE
	reason  string // its reason phrase

	mu      sync.Mutex
	reqs    []*sip.Request
	changed chan struct{} // a token whenever reqs grows
}

func newFakeNode(t *testing.T, options, invite int, reason string) *fakeNode {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	n := &fakeNode{conn: conn, options: options, invite: invite, reason: reason, changed: make(chan struct{}, 1)}
	done := make(chan struct{})
	go n.serve(done)
	t.Cleanup(func() { conn.Close(); <-done })
	return n
}

func (n *fakeNode) port() int { return n.conn.LocalAddr().(*net.UDPAddr).Port }

func (n *fakeNode) serve(done chan struct{}) {
	defer close(done)
	parser := sip.NewParser()
	buf := make([]byte, 65535)
	for {
		size, from, err := n.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		msg, err := parser.ParseSIP(append([]byte(nil), buf[:size]...))
		if err != nil {
			continue
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			continue
		}
		n.mu.Lock()
		n.reqs = append(n.reqs, req)
		n.mu.Unlock()
		select {
		case n.changed <- struct{}{}:
		default:
		}
		var res *sip.Response
		switch req.Method {
		case sip.OPTIONS:
			res = sip.NewResponseFromRequest(req, n.options, "", nil)
		case sip.INVITE:
			res = sip.NewResponseFromRequest(req, n.invite, n.reason, nil)
		default:
			continue // the ACK of our final response
		}
		n.conn.WriteToUDP([]byte(res.String()), from)
	}
}

// requests returns what the node received of one method.
func (n *fakeNode) requests(method sip.RequestMethod) []*sip.Request {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*sip.Request
	for _, r := range n.reqs {
		if r.Method == method {
			out = append(out, r)
		}
	}
	return out
}

// await waits until cond holds, for at most d; cond is checked each time
// the node receives a request.
func (n *fakeNode) await(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-n.changed:
		case <-deadline.C:
			t.Fatalf("%s: not within %v", what, d)
		}
	}
}

// invite sends an INVITE for user through the proxy and returns the final
// response, ACKing it (RFC 3261 §17.1.1.3: the ACK of a non-2xx is part of
// the INVITE transaction, same branch).
func invite(t *testing.T, proxyPort int, user string, headers ...string) *sip.Response {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: proxyPort})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.UDPAddr).Port
	id := fmt.Sprintf("%d-%d", time.Now().UnixNano(), local)
	head := func(method string) string {
		return fmt.Sprintf("%s sip:%s@127.0.0.1:%d SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%s;rport\r\n"+
			"Max-Forwards: 70\r\n"+
			"From: <sip:caller@127.0.0.1>;tag=c%s\r\n"+
			"To: <sip:%s@127.0.0.1>\r\n"+
			"Call-ID: %s\r\n"+
			"CSeq: 1 %s\r\n", method, user, proxyPort, local, id, id, user, id, method)
	}
	invite := head("INVITE") + fmt.Sprintf("Contact: <sip:caller@127.0.0.1:%d>\r\n", local)
	for _, h := range headers {
		invite += h + "\r\n"
	}
	invite += "Content-Length: 0\r\n\r\n"
	if _, err := conn.Write([]byte(invite)); err != nil {
		t.Fatal(err)
	}
	parser := sip.NewParser()
	buf := make([]byte, 65535)
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	for {
		size, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("INVITE %s: no final response: %v", user, err)
		}
		msg, err := parser.ParseSIP(append([]byte(nil), buf[:size]...))
		if err != nil {
			t.Fatalf("INVITE %s: unparsable response: %v", user, err)
		}
		res, ok := msg.(*sip.Response)
		if !ok || res.StatusCode < 200 {
			continue
		}
		ack := head("ACK")
		if to := res.To(); to != nil {
			ack = strings.Replace(ack, fmt.Sprintf("To: <sip:%s@127.0.0.1>\r\n", user), "To: "+to.Value()+"\r\n", 1)
		}
		ack += "Content-Length: 0\r\n\r\n"
		conn.Write([]byte(ack))
		return res
	}
}

// TestKamailioDispatchesSecureCalls starts Kamailio with the example
// configuration on loopback in front of three fake dtmfgw nodes — one
// draining (OPTIONS and INVITE get 503), one out of ports (OPTIONS 200, but
// INVITE 503), one healthy — and a fake agent platform, and checks: the
// nodes are probed with OPTIONS and the draining one is taken out; a secure
// call (by header or by dialled prefix) reaches a node with the prefix
// stripped and Kamailio record-routed, and fails over past the 503; a plain
// call goes to the agent platform.
func TestKamailioDispatchesSecureCalls(t *testing.T) {
	draining := newFakeNode(t, 503, 503, "Service Unavailable")
	refusing := newFakeNode(t, 200, 503, "Service Unavailable")
	healthy := newFakeNode(t, 200, 486, "Busy Here")
	agents := newFakeNode(t, 200, 480, "Agents Unavailable")
	list := fmt.Sprintf("1 sip:127.0.0.1:%d 8 0\n1 sip:127.0.0.1:%d 8 0\n1 sip:127.0.0.1:%d 8 0\n2 sip:127.0.0.1:%d 0 0\n",
		draining.port(), refusing.port(), healthy.port(), agents.port())
	port, _ := kamailiotest.Start(t, kamailioCfg, list)

	// The draining node's 503s to two probes (ds_probing_threshold) take it
	// out: wait for its third probe, sent a second after the second reply.
	draining.await(t, 15*time.Second, "three OPTIONS probes of the draining node", func() bool { return len(draining.requests(sip.OPTIONS)) >= 3 })
	// Health checks: OPTIONS to every node from ds_ping_from, every second.
	for _, n := range []*fakeNode{refusing, healthy} {
		n.await(t, 10*time.Second, "OPTIONS probe", func() bool { return len(n.requests(sip.OPTIONS)) > 0 })
		probe := n.requests(sip.OPTIONS)[0]
		if from := probe.From(); from == nil || !strings.Contains(from.Value(), "dispatcher@kamailio.invalid") {
			t.Errorf("OPTIONS probe From = %v, want ds_ping_from", from)
		}
	}
	// ds_probing_mode 1 probes every destination, the agent platform too.
	agents.await(t, 10*time.Second, "OPTIONS probe of the agent platform", func() bool { return len(agents.requests(sip.OPTIONS)) > 0 })

	for _, tc := range []struct {
		name     string
		user     string
		headers  []string
		wantUser string    // the R-URI user the destination sees
		wantAt   *fakeNode // where the call ends up
		status   int
	}{
		{"secure by header", "1000", []string{"X-Secure-Payment: yes"}, "1000", healthy, 486},
		{"secure by prefix", "*882000", nil, "2000", healthy, 486},
		{"secure by prefix again", "*883000", nil, "3000", healthy, 486},
		{"plain call", "4000", nil, "4000", agents, 480},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := invite(t, port, tc.user, tc.headers...)
			if res.StatusCode != tc.status {
				t.Fatalf("final response %d %s, want %d", res.StatusCode, res.Reason, tc.status)
			}
			var got *sip.Request
			for _, r := range tc.wantAt.requests(sip.INVITE) {
				if r.Recipient.User == tc.wantUser {
					got = r
				}
			}
			if got == nil {
				t.Fatalf("no INVITE for user %q at the expected destination", tc.wantUser)
			}
			if rr := got.RecordRoute(); rr == nil || !strings.Contains(rr.Value(), fmt.Sprintf("127.0.0.1:%d", port)) {
				t.Errorf("INVITE Record-Route = %v, want the proxy's address", rr)
			}
		})
	}
	// Three secure calls round-robin over the two nodes left: the refusing
	// node was tried at least once, and every one of its 503s was failed
	// over (no caller saw 500 or 503 above); the draining node got none.
	if n := len(refusing.requests(sip.INVITE)); n == 0 {
		t.Error("the refusing node got no INVITE: failover not exercised")
	}
	if n := len(draining.requests(sip.INVITE)); n != 0 {
		t.Errorf("the draining node got %d INVITEs after failing its probes", n)
	}
	if n := len(agents.requests(sip.INVITE)); n != 1 {
		t.Errorf("the agent platform got %d INVITEs, want 1", n)
	}
}

package sip

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// TestListenPortZeroSkipsATakenTCPTwin: with port 0, a UDP port whose TCP
// twin is taken is given back and another tried, so both listeners share
// one port; a configured port is tried once and the error names the key.
func TestListenPortZeroSkipsATakenTCPTwin(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	// The first UDP port handed out is the taken TCP port's twin.
	calls := 0
	listenPacket = func(network, addr string) (net.PacketConn, error) {
		calls++
		if calls == 1 {
			addr = "127.0.0.1:" + strconv.Itoa(takenPort)
		}
		return net.ListenPacket(network, addr)
	}
	defer func() { listenPacket = net.ListenPacket }()

	ls, err := Listen(Config{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	u, c := ls.UDP.LocalAddr().(*net.UDPAddr).Port, ls.TCP.Addr().(*net.TCPAddr).Port
	if calls < 2 || u != c || u == takenPort {
		t.Errorf("%d tries; UDP on %d, TCP on %d (taken: %d)", calls, u, c, takenPort)
	}

	// A configured port is not changed behind the operator's back.
	calls = 0
	_, err = Listen(Config{Listen: taken.Addr().String()})
	if err == nil || !strings.HasPrefix(err.Error(), "sip.listen (tcp):") || calls != 1 {
		t.Errorf("configured taken port: %d tries, error %v", calls, err)
	}
}

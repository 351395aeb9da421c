//go:build linux

package main

// The dtmfgw nodes: `dtmfgw serve` child processes with cluster.enabled
// on one PostgreSQL schema, node i on 127.0.0.(2+i) with listeners and an
// RTP port range of its own.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"dtmfgw/bench/internal/benchkit"
	"dtmfgw/call"
	"dtmfgw/internal/testkit"
)

// Bounds of the waits on a node.
const (
	nodeReadyTimeout = 30 * time.Second // started → /readyz 200 (migrations, heartbeat)
	nodeStopTimeout  = 15 * time.Second // SIGTERM → exit (no call left to drain)
	callsEndTimeout  = 15 * time.Second // the caller done → every node's calls ended
)

// moduleRoot returns the directory of the go.mod above the working
// directory: where deploy/kamailio is.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: give -kamailio-cfg")
		}
		dir = parent
	}
}

// nodeIP is node i's address.
func nodeIP(i int) netip.Addr { return netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)}) }

// nodePorts splits ports evenly over n nodes (even-aligned, whole
// RTP/RTCP pairs) and returns node i's share.
func nodePorts(ports call.PortRange, n, i int) call.PortRange {
	lo := ports.Min + ports.Min&1
	span := ((ports.Max - lo + 1) / n) &^ 1
	return call.PortRange{Min: lo + i*span, Max: lo + (i+1)*span - 1}
}

// secrets are a row's: the nodes' API key and shared form token secret,
// random for each row.
type secrets struct{ apiKey, formSecret string }

func newSecrets() secrets {
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	return secrets{apiKey: "clusterload-" + hex.EncodeToString(b[:16]), formSecret: hex.EncodeToString(b[16:])}
}

// nodeYAML is node i's configuration.
func nodeYAML(i int, ip netip.Addr, sipPort, httpPort, adminPort uint16, rtp call.PortRange, dsn, agent string, s secrets) string {
	return fmt.Sprintf(`sip:
  listen: %[2]s:%[3]d
  default_target: sip:agent@%[8]s
media:
  bind_address: %[2]s
  rtp_ports: %[6]d-%[7]d
http:
  listen: %[2]s:%[4]d
  api_keys: [%[10]s]
  form_token_secret: %[11]s
admin:
  listen: %[2]s:%[5]d
storage:
  dsn: %[9]s
cluster:
  enabled: true
  node_id: node-%[1]d
log:
  level: warn
`, i+1, ip, sipPort, httpPort, adminPort, rtp.Min, rtp.Max, agent, dsn, s.apiKey, s.formSecret)
}

// node is a running `dtmfgw serve`.
type node struct {
	name    string
	sip     netip.AddrPort
	admin   string // host:port of /metrics and /readyz
	cmd     *exec.Cmd
	exited  chan struct{}
	err     error // Wait's, once exited is closed
	logPath string
}

// freeSIPPort returns a port on ip free for both UDP and TCP (dtmfgw
// listens for SIP on both).
func freeSIPPort(ip netip.Addr) (uint16, error) {
	for range 20 {
		port, err := testkit.FreePortOn("udp", ip)
		if err != nil {
			return 0, err
		}
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, port)))
		if err == nil {
			l.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("no port on %s free for both UDP and TCP", ip)
}

// startNode writes node i's configuration into dir and starts it; it
// returns once the node answers /readyz with 200 (its store migrated, its
// heartbeat written).
func startNode(ctx context.Context, bin, dir string, i, n int, ports call.PortRange, dsn string, agent netip.AddrPort, s secrets) (*node, error) {
	ip := nodeIP(i)
	sipPort, err := freeSIPPort(ip)
	if err != nil {
		return nil, err
	}
	httpPort, err := testkit.FreePortOn("tcp", ip)
	if err != nil {
		return nil, err
	}
	adminPort, err := testkit.FreePortOn("tcp", ip)
	if err != nil {
		return nil, err
	}
	nd := &node{name: fmt.Sprintf("node-%d", i+1), sip: netip.AddrPortFrom(ip, sipPort),
		admin: netip.AddrPortFrom(ip, adminPort).String(), exited: make(chan struct{})}
	cfg := filepath.Join(dir, nd.name+".yaml")
	if err := os.WriteFile(cfg, []byte(nodeYAML(i, ip, sipPort, httpPort, adminPort, nodePorts(ports, n, i), dsn, agent.String(), s)), 0o600); err != nil {
		return nil, err
	}
	nd.logPath = filepath.Join(dir, nd.name+".log")
	logf, err := os.Create(nd.logPath)
	if err != nil {
		return nil, err
	}
	nd.cmd = exec.Command(bin, "serve", "--config", cfg)
	nd.cmd.Env, nd.cmd.Dir = benchkit.ServeEnv(), dir
	nd.cmd.Stdout, nd.cmd.Stderr = logf, logf
	nd.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := nd.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("%s: %w", nd.name, err)
	}
	go func() {
		nd.err = nd.cmd.Wait()
		logf.Close()
		close(nd.exited)
	}()
	if err := nd.waitReady(ctx); err != nil {
		_ = nd.stop()
		return nil, err
	}
	return nd, nil
}

// pid is the node's process id.
func (nd *node) pid() int { return nd.cmd.Process.Pid }

var httpc = &http.Client{Timeout: 2 * time.Second}

// waitReady polls /readyz until it answers 200, the node exits, ctx ends
// or nodeReadyTimeout passes.
func (nd *node) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, nodeReadyTimeout)
	defer cancel()
	var last error
	for {
		select {
		case <-nd.exited:
			return fmt.Errorf("%s exited while starting: %v%s", nd.name, nd.err, nd.logTail())
		default:
		}
		if last = benchkit.HTTPGet(ctx, httpc, "http://"+nd.admin+"/readyz", nil); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %v: %v%s", nd.name, nodeReadyTimeout, last, nd.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM (the node drains and exits) and waits up to
// nodeStopTimeout, then kills it.
func (nd *node) stop() error {
	select {
	case <-nd.exited:
		return nil
	default:
	}
	_ = nd.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(nodeStopTimeout)
	defer t.Stop()
	select {
	case <-nd.exited:
		if nd.err != nil {
			return fmt.Errorf("%s: %v%s", nd.name, nd.err, nd.logTail())
		}
		return nil
	case <-t.C:
		_ = nd.cmd.Process.Kill()
		<-nd.exited
		return fmt.Errorf("%s did not stop within %v of SIGTERM; killed%s", nd.name, nodeStopTimeout, nd.logTail())
	}
}

// kill ends the node at once and waits for it.
func (nd *node) kill() {
	_ = nd.cmd.Process.Kill()
	<-nd.exited
}

// logTail returns the last lines of the node's log, for an error.
func (nd *node) logTail() string { return benchkit.LogTail(nd.logPath, nd.name, 10) }

// metrics reads the node's unlabelled series named (−1 for one missing).
func (nd *node) metrics(ctx context.Context, names ...string) ([]int, error) {
	var body strings.Builder
	if err := benchkit.HTTPGet(ctx, httpc, "http://"+nd.admin+"/metrics", &body); err != nil {
		return nil, fmt.Errorf("%s: %w", nd.name, err)
	}
	out := make([]int, len(names))
	for i, name := range names {
		out[i] = benchkit.SeriesValue(body.String(), name)
	}
	return out, nil
}

// waitCallsEnded polls the node's dtmfgw_calls_active until it is 0 or
// ctx ends, and returns the calls still active then: those the caller
// gave up on without a BYE last until the node's media timeout.
func (nd *node) waitCallsEnded(ctx context.Context) (left int, err error) {
	for {
		v, err := nd.metrics(ctx, "dtmfgw_calls_active")
		if err == nil && v[0] == 0 {
			return 0, nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return 0, err
			}
			return v[0], nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

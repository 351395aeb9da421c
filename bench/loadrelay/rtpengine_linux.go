package main

// Modes rtpengine and rtpengine-dtmf: Debian's rtpengine (the Sipwise
// media proxy) as the relay, in user space (no kernel module), started by
// the benchmark in the foreground and driven over its ng control
// protocol: per call an offer with the caller's SDP and an answer with
// the agent's, rtpengine's ports read from the SDPs it returns, a delete
// at the end. rtpengine-dtmf blocks DTMF on the caller's side of every
// call (dtmfBlock).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"dtmfgw/call"
)

// defaultRTPEngine is where Debian's rtpengine-daemon installs it.
const defaultRTPEngine = "/usr/bin/rtpengine"

// rtpengineArgs are rtpengine's command line for an ng port and an RTP
// port range: no configuration file (not /etc/rtpengine's), in the
// foreground, logging warnings and worse to stderr, user space only
// (table -1: no kernel forwarding), media and control on loopback, and
// an RTP timeout of 5 minutes instead of 1: an interleaved run sets
// several relays' calls up one relay after another, and the first one's
// calls carry no media until every relay is ready (a thousand calls take
// 10 s each). The rest is rtpengine's defaults (worker threads: one per
// CPU).
func rtpengineArgs(ngPort int, ports call.PortRange) []string {
	return []string{
		"--timeout=300",
		"--config-file=none",
		"--foreground",
		"--log-stderr",
		"--log-level=4",
		"--table=-1",
		"--interface=127.0.0.1",
		"--listen-ng=127.0.0.1:" + strconv.Itoa(ngPort),
		"--port-min=" + strconv.Itoa(ports.Min),
		"--port-max=" + strconv.Itoa(ports.Max),
	}
}

// dtmfBlock is the ng request that switches rtpengine-dtmf's DTMF
// blocking on for one call, for what the caller (fromTag) sends: `block
// DTMF` with DTMF-security "silence" (events and in-band tones replaced
// by silence audio; this mode forces every packet through the
// transcoding engine, which decodes and re-encodes the audio), the
// "detect DTMF" flag (the in-band detector runs although the caller
// offered telephone-event), and a delay buffer of delay: in rtpengine
// 10.5 the audio of a detected in-band tone is replaced only in frames
// that pass through the delay buffer, so without one in-band DTMF is
// detected but reaches the agent.
func dtmfBlock(callID, fromTag string, delay time.Duration) map[string]any {
	m := map[string]any{
		"command":       "block DTMF",
		"call-id":       callID,
		"from-tag":      fromTag,
		"DTMF-security": "silence",
		"flags":         []any{"detect-DTMF"},
	}
	if delay > 0 {
		m["delay-buffer"] = int(delay / time.Millisecond)
	}
	return m
}

// rtpengineVersion returns rtpengine's version, e.g. "10.5.3.5-1+deb12u1".
func rtpengineVersion(bin string) string {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return "unknown"
	}
	s := strings.TrimSpace(string(out))
	if _, v, ok := strings.Cut(s, "Version:"); ok {
		return strings.TrimSpace(v)
	}
	return s
}

// freeUDPPort returns a loopback UDP port free at the moment it is asked.
func freeUDPPort() (int, error) {
	u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return 0, err
	}
	defer u.Close()
	return u.LocalAddr().(*net.UDPAddr).Port, nil
}

// startRTPEngine starts rtpengine for cfg and sets cfg.Calls calls up
// through it over ng.
func startRTPEngine(c *child, cfg runConfig) (err error) {
	if _, err := os.Stat(cfg.RTPEngine); err != nil {
		return fmt.Errorf("mode %s needs rtpengine (Debian package rtpengine-daemon: make deps): %w", cfg.Mode, err)
	}
	ports, err := call.ParsePortRange(cfg.Ports)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "loadrelay-rtpengine-")
	if err != nil {
		return err
	}
	removeDir := atExit(func() { os.RemoveAll(dir) })
	defer func() {
		if err != nil {
			removeDir()
		}
	}()
	ngPort, err := freeUDPPort()
	if err != nil {
		return err
	}
	cmd := command(cfg.CPUs, cfg.RTPEngine, rtpengineArgs(ngPort, ports)...)
	cmd.Dir = dir
	p, err := startProcess("rtpengine", cmd, filepath.Join(dir, "rtpengine.log"))
	if err != nil {
		return err
	}
	c.adopt(p, removeDir)
	ng, err := dialNG(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(ngPort)))
	if err != nil {
		return errors.Join(err, c.stopProcess())
	}
	defer func() {
		if err != nil {
			ng.close()
			err = errors.Join(err, c.stopProcess())
		}
	}()
	if err := p.waitFor(10*time.Second, "answering ng ping", func(context.Context) error {
		_, err := ng.doTimeout(map[string]any{"command": "ping"}, 200*time.Millisecond, 1)
		return err
	}); err != nil {
		return err
	}
	callerAddr := c.callerConn.LocalAddr().(*net.UDPAddr).AddrPort()
	agentAddr := c.agentConn.LocalAddr().(*net.UDPAddr).AddrPort()
	offer, answer := sdpBody(callerAddr, true), sdpBody(agentAddr, true)
	dtmf := baseMode(cfg.Mode) == modeRTPEngineDTMF
	if dtmf {
		// The delay buffer is rtpengine's look-ahead: like dtmfgw's, it
		// holds the caller's audio so that a tone's start can be replaced
		// once the tone is detected; both are shown apart from the
		// latency, so that the tail compared is what each adds beyond it.
		c.lookAhead = cfg.DelayBuffer
		c.res.Counters = append(c.res.Counters, fmt.Sprintf("ng per call after the answer: %s (delay-buffer in ms)", describeNG(dtmfBlock("CALL", "CALLER-TAG", cfg.DelayBuffer))))
	}
	fmt.Fprintf(os.Stderr, "loadrelay: %s: setting %d calls up over ng at %d/s\n", cfg.Mode, cfg.Calls, cfg.SetupRate)
	tick := time.NewTicker(time.Second / time.Duration(cfg.SetupRate))
	defer tick.Stop()
	callIDs := make([]string, 0, cfg.Calls)
	c.finish = func() error { return deleteCalls(ng, callIDs, cfg.Mode) }
	c.legs = make([]relayPorts, cfg.Calls)
	for i := range cfg.Calls {
		if err := p.running(); err != nil {
			return err
		}
		<-tick.C
		id := fmt.Sprintf("loadrelay-%d-%d-%s", os.Getpid(), i, strings.ReplaceAll(cfg.Mode, "@", "-"))
		from, to := "caller-"+strconv.Itoa(i), "agent-"+strconv.Itoa(i)
		res, err := ng.do(map[string]any{"command": "offer", "call-id": id, "from-tag": from, "sdp": offer})
		if err != nil {
			return fmt.Errorf("%s: call %d: offer: %w%s", cfg.Mode, i, err, p.logTail())
		}
		callIDs = append(callIDs, id)
		agentSide, err := ngSDPAddr(res)
		if err != nil {
			return fmt.Errorf("%s: call %d: offer: %w", cfg.Mode, i, err)
		}
		res, err = ng.do(map[string]any{"command": "answer", "call-id": id, "from-tag": from, "to-tag": to, "sdp": answer})
		if err != nil {
			return fmt.Errorf("%s: call %d: answer: %w%s", cfg.Mode, i, err, p.logTail())
		}
		callerSide, err := ngSDPAddr(res)
		if err != nil {
			return fmt.Errorf("%s: call %d: answer: %w", cfg.Mode, i, err)
		}
		if dtmf {
			if _, err := ng.do(dtmfBlock(id, from, cfg.DelayBuffer)); err != nil {
				return fmt.Errorf("%s: call %d: block DTMF: %w%s", cfg.Mode, i, err, p.logTail())
			}
		}
		c.legs[i] = relayPorts{caller: callerSide, agent: agentSide}
	}
	return nil
}

// describeNG renders an ng request for the report: its command, then
// its other keys sorted, the call's identifiers left out.
func describeNG(m map[string]any) string {
	var keys []string
	for k := range m {
		if k != "command" && k != "call-id" && k != "from-tag" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%v", k, m[k])
	}
	return fmt.Sprintf("`%v` on the caller's from-tag, %s", m["command"], strings.Join(parts, ", "))
}

// ngSDPAddr reads the relay's address from an ng response's SDP, which
// must be on loopback.
func ngSDPAddr(res map[string]any) (netip.AddrPort, error) {
	sdp, _ := res["sdp"].(string)
	addr, err := sdpAudioAddr(sdp)
	if err != nil {
		return addr, err
	}
	if !addr.Addr().IsLoopback() {
		return addr, fmt.Errorf("rtpengine's SDP is not on loopback: %v", addr)
	}
	return addr, nil
}

// deleteCalls deletes every call; a failure is told on stderr, not
// failed: the figures were taken by then.
func deleteCalls(ng *ngClient, ids []string, mode string) error {
	failed := 0
	var first error
	for _, id := range ids {
		if _, err := ng.do(map[string]any{"command": "delete", "call-id": id}); err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	ng.close()
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "loadrelay: %s: %d of %d deletes failed; the first: %v\n", mode, failed, len(ids), first)
	}
	return nil
}

// ngClient speaks rtpengine's ng protocol over UDP: each request is a
// cookie, a space and a bencoded dictionary; the response repeats the
// cookie. A request not answered in time is sent again with the same
// cookie (rtpengine answers a repeated cookie from its cache).
type ngClient struct {
	conn *net.UDPConn
	seq  int
	buf  []byte
}

func dialNG(addr netip.AddrPort) (*ngClient, error) {
	conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, err
	}
	return &ngClient{conn: conn, buf: make([]byte, 65536)}, nil
}

func (c *ngClient) close() { c.conn.Close() }

// do sends a request and returns its response dictionary, an error if
// its result is not "ok" (or "pong" for a ping): up to 3 tries of 2 s.
func (c *ngClient) do(req map[string]any) (map[string]any, error) {
	return c.doTimeout(req, 2*time.Second, 3)
}

func (c *ngClient) doTimeout(req map[string]any, timeout time.Duration, tries int) (map[string]any, error) {
	c.seq++
	cookie := fmt.Sprintf("%d_%d", os.Getpid(), c.seq)
	msg, err := appendBencode([]byte(cookie+" "), req)
	if err != nil {
		return nil, err
	}
	var last error
	for range tries {
		if _, err := c.conn.Write(msg); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(timeout)
		_ = c.conn.SetReadDeadline(deadline)
		for time.Now().Before(deadline) {
			n, err := c.conn.Read(c.buf)
			if err != nil {
				last = err
				break
			}
			got, body, ok := strings.Cut(string(c.buf[:n]), " ")
			if !ok || got != cookie {
				continue // a late answer to an earlier try
			}
			return ngResult(body)
		}
	}
	return nil, fmt.Errorf("ng %v: no answer in %d tries of %v: %v", req["command"], tries, timeout, last)
}

// ngResult decodes an ng response body and checks its result.
func ngResult(body string) (map[string]any, error) {
	v, err := decodeBencode([]byte(body))
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("ng: the response is not a dictionary")
	}
	switch r, _ := m["result"].(string); r {
	case "ok", "pong":
		return m, nil
	default:
		reason, _ := m["error-reason"].(string)
		return nil, fmt.Errorf("ng: result %q: %s", r, reason)
	}
}

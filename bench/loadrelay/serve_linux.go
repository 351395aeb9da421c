package main

// Mode serve: the product as users run it. `dtmfgw serve` runs as a
// process of its own on its default configuration (only its listeners
// moved to free loopback ports, its RTP port range set, an API key given),
// and this program sets every call up through it over SIP: a user agent
// client INVITEs the gateway with the caller's SDP and the override
// header naming a user agent server of ours, which answers the agent leg
// with the agent's SDP. Each call's relay ports are read from the two
// SDPs dtmfgw sent.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"dtmfgw/bench/internal/benchkit"
)

// callIDHeader carries each call's index from our client to our server
// through dtmfgw, which copies the contact centre's primary call id to the
// agent leg.
const callIDHeader = "X-Primary-Call-Id"

// targetHeader is dtmfgw's override header (sip.override_header's
// default), honoured from loopback peers.
const targetHeader = "X-Dtmfgw-Target"

// freePort returns a loopback port free for TCP and, if udp, for UDP too
// at the moment it is asked.
func freePort(udp bool) (int, error) {
	for range 50 {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		if !udp {
			l.Close()
			return port, nil
		}
		u, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		l.Close()
		if err == nil {
			u.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port in 50 tries")
}

// serveConfig is what the benchmark needs to know of the gateway's
// effective configuration.
type serveConfig struct {
	lookAhead              time.Duration
	maskEvents, maskInband string
	mediaTimeout, reactors string
}

// readServeConfig runs `dtmfgw serve --print-config` with the flags the
// benchmark runs it with, and reads the masking settings.
func readServeConfig(bin string, args, env []string) (serveConfig, error) {
	cmd := exec.Command(bin, append(append([]string{"serve"}, args...), "--print-config")...)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		return serveConfig{}, fmt.Errorf("dtmfgw serve --print-config: %w", err)
	}
	return parseServeConfig(string(out))
}

// parseServeConfig reads the media section's keys from the YAML that
// --print-config prints.
func parseServeConfig(yaml string) (serveConfig, error) {
	var sc serveConfig
	inMedia := false
	for line := range strings.Lines(yaml) {
		line = strings.TrimRight(line, "\r\n")
		if line != "" && line[0] != ' ' {
			inMedia = line == "media:"
			continue
		}
		if !inMedia {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch k {
		case "look_ahead":
			d, err := time.ParseDuration(v)
			if err != nil {
				return sc, fmt.Errorf("media.look_ahead %q: %w", v, err)
			}
			sc.lookAhead = d
		case "mask_events":
			sc.maskEvents = v
		case "mask_inband":
			sc.maskInband = v
		case "media_timeout":
			sc.mediaTimeout = v
		case "reactors":
			sc.reactors = v
		}
	}
	if sc.lookAhead <= 0 || sc.maskEvents == "" || sc.maskInband == "" {
		return sc, errors.New("dtmfgw's printed configuration has no media.look_ahead, mask_events or mask_inband")
	}
	return sc, nil
}

// startServe starts dtmfgw serve for cfg and sets cfg.Calls calls up
// through it.
func startServe(c *child, cfg runConfig) (err error) {
	dir, err := os.MkdirTemp("", "loadrelay-serve-")
	if err != nil {
		return err
	}
	removeDir := atExit(func() { os.RemoveAll(dir) })
	defer func() {
		if err != nil {
			removeDir()
		}
	}()
	var ports [3]int
	for i := range ports {
		if ports[i], err = freePort(i == 0); err != nil {
			return err
		}
	}
	sipAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(ports[0]))
	admin := "127.0.0.1:" + strconv.Itoa(ports[2])
	args := []string{
		"--sip-listen", sipAddr.String(),
		"--http-listen", "127.0.0.1:" + strconv.Itoa(ports[1]),
		"--admin-listen", admin,
		"--rtp-ports", cfg.Ports,
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	env := benchkit.ServeEnv("DTMFGW_API_KEY=loadrelay-" + hex.EncodeToString(key))
	sc, err := readServeConfig(cfg.Dtmfgw, args, env)
	if err != nil {
		return err
	}
	c.lookAhead = sc.lookAhead
	cmd := command(cfg.CPUs, cfg.Dtmfgw, append([]string{"serve"}, args...)...)
	cmd.Env, cmd.Dir = env, dir // storage's default sqlite:data/dtmfgw.db lands in dir
	p, err := startProcess("dtmfgw serve", cmd, filepath.Join(dir, "dtmfgw.log"))
	if err != nil {
		return err
	}
	c.adopt(p, removeDir)
	defer func() {
		if err != nil {
			err = errors.Join(err, p.stop(childStopTimeout))
		}
	}()
	httpc := &http.Client{Timeout: 2 * time.Second}
	if err := p.waitFor(15*time.Second, "ready (/readyz 200)", func(ctx context.Context) error {
		return benchkit.HTTPGet(ctx, httpc, "http://"+admin+"/readyz", nil)
	}); err != nil {
		return err
	}
	calls, err := setUpSIPCalls(c, cfg, sipAddr, p)
	if err != nil {
		return err
	}
	c.res.Counters = append(c.res.Counters, fmt.Sprintf("config: media.look_ahead %v, mask_events %s, mask_inband %s, media_timeout %s, reactors %s (0: one per CPU)", sc.lookAhead, sc.maskEvents, sc.maskInband, sc.mediaTimeout, sc.reactors))
	c.finish = func() error {
		var body strings.Builder
		if err := benchkit.HTTPGet(context.Background(), httpc, "http://"+admin+"/metrics", &body); err != nil {
			fmt.Fprintln(os.Stderr, "loadrelay: serve: /metrics:", err)
		} else {
			c.res.Counters = append(c.res.Counters, pickCounters(body.String())...)
		}
		err := calls.hangUp(cfg.Mode)
		// The user agents stay up until dtmfgw's calls have ended: a
		// response lost in the burst of hang-ups is answered again when
		// dtmfgw retransmits its BYE (RFC 3261 §17.1.2.2).
		defer calls.close()
		if left, waited := waitCallsEnded(httpc, admin, callsEndTimeout); left != 0 {
			c.res.StopIssue = fmt.Sprintf("%d calls still active %v after every BYE was answered", left, waited.Round(time.Millisecond))
			fmt.Fprintf(os.Stderr, "loadrelay: %s: %s\n", cfg.Mode, c.res.StopIssue)
		}
		return err
	}
	return nil
}

// callsEndTimeout bounds the wait for dtmfgw's calls to end after the
// hang-up: more than a BYE transaction's timeout over UDP (64·T1 = 32 s,
// RFC 3261 §17.1.2.2), so that a BYE left unanswered shows as a call
// ended late rather than as one that never ended.
const callsEndTimeout = 40 * time.Second

// waitCallsEnded polls dtmfgw's /metrics until dtmfgw_calls_active is 0 or
// timeout passes, and returns the calls still active (−1 if /metrics never
// answered) and how long it waited. Stopping dtmfgw before its calls have
// ended would make its drain wait for them.
func waitCallsEnded(httpc *http.Client, admin string, timeout time.Duration) (left int, waited time.Duration) {
	start := time.Now()
	left = -1
	for time.Since(start) < timeout {
		var body strings.Builder
		if err := benchkit.HTTPGet(context.Background(), httpc, "http://"+admin+"/metrics", &body); err == nil {
			left = benchkit.SeriesValue(body.String(), "dtmfgw_calls_active")
			if left == 0 {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return left, time.Since(start)
}

// reportedCounters are the series of dtmfgw's /metrics a report shows:
// what it detected and masked, and what it dropped.
var reportedCounters = []string{
	"dtmfgw_calls_total",
	"dtmfgw_dtmf_presses_total",
	"dtmfgw_dtmf_masked_presses_total",
	"dtmfgw_mask_packets_total",
	"dtmfgw_rtp_dropped_packets_total",
	"dtmfgw_rtp_lost_packets_total",
	"dtmfgw_rtp_packets_total{direction=\"out\",kind=\"event\",leg=\"agent\"}",
}

// pickCounters returns the non-zero samples of reportedCounters in a
// Prometheus text exposition, as "series value".
func pickCounters(text string) []string {
	var out []string
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		series, value := line[:i], line[i+1:]
		name, _, _ := strings.Cut(series, "{")
		want := false
		for _, r := range reportedCounters {
			want = want || r == series || r == name
		}
		if v, err := strconv.ParseFloat(value, 64); want && err == nil && v != 0 {
			out = append(out, series+" "+value)
		}
	}
	return out
}

// sipEnd is a sipgo user agent on a loopback UDP socket, as the client
// or the server side of every call.
type sipEnd struct {
	conn    net.PacketConn
	addr    netip.AddrPort
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	cli     *sipgo.Client
	contact sip.ContactHeader
	served  chan struct{}
}

// quietSIPGo keeps sipgo's package-wide log lines (such as its notice
// when a client sending from a listening socket closes) below errors.
var quietSIPGo sync.Once

func newSIPEnd(name string) (_ *sipEnd, err error) {
	quietSIPGo.Do(func() {
		sip.SetDefaultLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	})
	e := &sipEnd{served: make(chan struct{})}
	defer func() {
		if err != nil {
			e.closeAll()
		}
	}()
	if e.conn, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	e.addr = e.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if e.ua, err = sipgo.NewUA(sipgo.WithUserAgent("loadrelay-"+name), sipgo.WithUserAgentHostname("127.0.0.1")); err != nil {
		return nil, err
	}
	if e.srv, err = sipgo.NewServer(e.ua, sipgo.WithServerLogger(log)); err != nil {
		return nil, err
	}
	// The client sends from the listening socket, so that responses and
	// in-dialog requests come back to it (RFC 3261 §18.1.1).
	if e.cli, err = sipgo.NewClient(e.ua, sipgo.WithClientLogger(log), sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(int(e.addr.Port()))); err != nil {
		return nil, err
	}
	e.contact = sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: name, Host: "127.0.0.1", Port: int(e.addr.Port())}}
	return e, nil
}

// serve reads SIP until close; handlers are registered before.
func (e *sipEnd) serve() {
	go func() {
		defer close(e.served)
		_ = e.srv.ServeUDP(e.conn)
	}()
}

func (e *sipEnd) closeAll() {
	if e.conn != nil {
		e.conn.Close()
	}
	if e.cli != nil {
		e.cli.Close()
	}
	if e.srv != nil {
		e.srv.Close()
	}
	if e.ua != nil {
		e.ua.Close()
	}
}

func (e *sipEnd) close() {
	e.closeAll()
	select {
	case <-e.served:
	case <-time.After(5 * time.Second):
	}
}

// sipCalls are the calls set up through the gateway: our client's
// dialogs, and the server that answered the agent legs.
type sipCalls struct {
	uac, uas *sipEnd
	dialogs  []*sipgo.DialogClientSession
	byes     atomic.Int64 // BYEs the agent side received
}

// setUpSIPCalls sets cfg.Calls calls up through the gateway at sipAddr,
// at most cfg.SetupRate a second, each within cfg.SetupTimeout, and sets
// c.legs from the SDPs the gateway sent. Any call that does not set up
// fails the whole.
func setUpSIPCalls(c *child, cfg runConfig, gw netip.AddrPort, p *process) (_ *sipCalls, err error) {
	sc := &sipCalls{dialogs: make([]*sipgo.DialogClientSession, cfg.Calls)}
	if sc.uac, err = newSIPEnd("caller"); err != nil {
		return nil, err
	}
	if sc.uas, err = newSIPEnd("agent"); err != nil {
		sc.uac.close()
		return nil, err
	}
	defer func() {
		if err != nil {
			sc.close()
		}
	}()
	callerAddr := c.callerConn.LocalAddr().(*net.UDPAddr).AddrPort()
	agentAddr := c.agentConn.LocalAddr().(*net.UDPAddr).AddrPort()
	var mu sync.Mutex
	agentSide := make([]netip.AddrPort, cfg.Calls)
	// The agent side: answer each INVITE with the agent's SDP, and note
	// where the gateway wants the agent's RTP.
	server := sipgo.NewDialogServerCache(sc.uas.cli, sc.uas.contact)
	sc.uas.srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		i := -1
		if h := req.GetHeader(callIDHeader); h != nil {
			if n, err := strconv.Atoi(strings.TrimPrefix(h.Value(), "loadrelay-")); err == nil && n >= 0 && n < cfg.Calls {
				i = n
			}
		}
		addr, err := sdpAudioAddr(string(req.Body()))
		if i < 0 || err != nil || !addr.Addr().IsLoopback() {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
			return
		}
		d, err := server.ReadInvite(req, tx)
		if err != nil {
			return
		}
		mu.Lock()
		agentSide[i] = addr
		mu.Unlock()
		// RespondSDP returns once the ACK is in.
		_ = d.RespondSDP([]byte(sdpBody(agentAddr, false)))
	})
	sc.uas.srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = server.ReadAck(req, tx) })
	sc.uas.srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if err := server.ReadBye(req, tx); err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
			return
		}
		sc.byes.Add(1)
	})
	client := sipgo.NewDialogClientCache(sc.uac.cli, sc.uac.contact)
	sc.uac.srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if err := client.ReadBye(req, tx); err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		}
	})
	sc.uas.serve()
	sc.uac.serve()

	callerSide := make([]netip.AddrPort, cfg.Calls)
	target := "sip:agent@" + sc.uas.addr.String()
	offer := []byte(sdpBody(callerAddr, true))
	errs := make([]error, cfg.Calls)
	var wg sync.WaitGroup
	inFlight := make(chan struct{}, 200)
	tick := time.NewTicker(time.Second / time.Duration(cfg.SetupRate))
	defer tick.Stop()
	fmt.Fprintf(os.Stderr, "loadrelay: %s: setting %d calls up over SIP through dtmfgw at %d/s\n", cfg.Mode, cfg.Calls, cfg.SetupRate)
	for i := range cfg.Calls {
		if err := p.running(); err != nil {
			wg.Wait()
			return nil, err
		}
		<-tick.C
		inFlight <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-inFlight }()
			ctx, cancel := context.WithTimeout(context.Background(), cfg.SetupTimeout)
			defer cancel()
			ct := sip.ContentTypeHeader("application/sdp")
			d, err := client.Invite(ctx, sip.Uri{Scheme: "sip", User: "loadrelay", Host: gw.Addr().String(), Port: int(gw.Port())}, offer,
				sip.NewHeader(targetHeader, target), sip.NewHeader(callIDHeader, "loadrelay-"+strconv.Itoa(i)), &ct)
			if err != nil {
				errs[i] = fmt.Errorf("call %d: INVITE: %w", i, err)
				return
			}
			if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
				_ = d.Close()
				errs[i] = fmt.Errorf("call %d: not answered within %v: %w", i, cfg.SetupTimeout, err)
				return
			}
			addr, err := sdpAudioAddr(string(d.InviteResponse.Body()))
			if err == nil && !addr.Addr().IsLoopback() {
				err = fmt.Errorf("the 200's SDP is not on loopback: %v", addr)
			}
			if ackErr := d.Ack(ctx); err == nil && ackErr != nil {
				err = fmt.Errorf("ACK: %w", ackErr)
			}
			mu.Lock()
			sc.dialogs[i] = d // hung up at the end even if unusable
			mu.Unlock()
			if err != nil {
				errs[i] = fmt.Errorf("call %d: %w", i, err)
				return
			}
			callerSide[i] = addr
		}()
	}
	wg.Wait()
	failed := 0
	var first error
	for _, e := range errs {
		if e != nil {
			failed++
			if first == nil {
				first = e
			}
		}
	}
	if failed > 0 {
		return nil, fmt.Errorf("%s: %d of %d calls did not set up; the first: %w%s", cfg.Mode, failed, cfg.Calls, first, p.logTail())
	}
	c.legs = make([]relayPorts, cfg.Calls)
	for i := range c.legs {
		if !agentSide[i].IsValid() {
			return nil, fmt.Errorf("%s: call %d answered with no INVITE seen on the agent side", cfg.Mode, i)
		}
		c.legs[i] = relayPorts{caller: callerSide[i], agent: agentSide[i]}
	}
	return sc, nil
}

// hangUp sends BYE on every call and waits for the agent side to have
// received the gateway's BYEs; close closes the user agents. A call that
// does not hang up cleanly is told on stderr, not failed: the figures
// were taken by then.
func (sc *sipCalls) hangUp(mode string) error {
	var wg sync.WaitGroup
	var failed atomic.Int64
	inFlight := make(chan struct{}, 100)
	want := int64(0)
	for _, d := range sc.dialogs {
		if d == nil {
			continue
		}
		want++
		inFlight <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-inFlight }()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := d.Bye(ctx); err != nil {
				failed.Add(1)
			}
			_ = d.Close()
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for sc.byes.Load() < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := failed.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "loadrelay: %s: %d of %d BYEs failed\n", mode, n, want)
	}
	if got := sc.byes.Load(); got < want {
		fmt.Fprintf(os.Stderr, "loadrelay: %s: the agent side received %d of %d BYEs\n", mode, got, want)
	}
	return nil
}

func (sc *sipCalls) close() {
	sc.uac.close()
	sc.uas.close()
}

package sipptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"dtmfgw/internal/testkit"
)

// ErrSIPpMissing is wrapped by LookPath's error when sipp is not installed.
var ErrSIPpMissing = errors.New("sipptest: sipp not found: install sip-tester (make deps)")

// LookPath returns the path of the sipp binary, or an error wrapping
// ErrSIPpMissing.
func LookPath() (string, error) {
	p, err := exec.LookPath("sipp")
	if err != nil {
		return "", fmt.Errorf("%w (%v)", ErrSIPpMissing, err)
	}
	return p, nil
}

// Version returns SIPp's version line, e.g.
// "SIPp v3.6.1-SCTP-PCAP-RTPSTREAM", or "unknown".
func Version() string {
	out, _ := exec.Command("sipp", "-v").CombinedOutput()
	for line := range strings.Lines(string(out)) {
		if i := strings.Index(line, "SIPp v"); i >= 0 {
			return strings.TrimRight(strings.TrimSpace(line[i:]), ".")
		}
	}
	return "unknown"
}

// NeedSIPp fails the test at once when sipp is not installed. Integration
// tests never skip: a missing peer is a failure the developer must see.
func NeedSIPp(tb testing.TB) string {
	tb.Helper()
	p, err := LookPath()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Transport is SIPp's -t mode.
type Transport string

// The transports the harness uses.
const (
	// UDP is one UDP socket for all calls (SIPp's u1), the default.
	UDP Transport = "u1"
	// TCP is one TCP connection for all calls (t1).
	TCP Transport = "t1"
)

func (t Transport) tcp() bool { return t == TCP }

// Options says how Run starts SIPp. The zero value of each field has a
// default that suits one call on loopback.
type Options struct {
	// Local is SIPp's SIP address (-i, -p; the socket is bound to it with
	// -bind_local). Zero: 127.0.0.1 and a free port. A UAS is reached there.
	Local netip.AddrPort
	// Remote is where a UAC sends its requests. Required for UAC scenarios,
	// ignored for UAS ones.
	Remote netip.AddrPort
	// Transport is UDP (default) or TCP.
	Transport Transport
	// Media is the caller's RTP address (-mi, -mp): the c=/m= of a UAC's
	// offer and the source address and port of play_pcap_audio. SIPp binds
	// its port and the port two above (video) in every role. Zero: the
	// Local address and a free port pair (FreeMediaPort).
	Media netip.AddrPort
	// MediaSink is where an agent scenario's answer tells the far end to
	// send media (the keys rtp_ip and rtp_port): a Recorder's address.
	MediaSink netip.AddrPort
	// CallerPcap is the pcap file played by the scenarios that play the
	// caller's RTP (Scenario.PlaysPcap); it is linked into the run
	// directory as PcapName.
	CallerPcap string
	// Calls is the number of calls to make or take before SIPp exits (-m).
	// Default 1.
	Calls int
	// Rate is the call rate in calls per second (-r). Default: SIPp's 10.
	Rate int
	// MaxConcurrent bounds the calls in progress (-l). Default: SIPp's.
	MaxConcurrent int
	// CallDuration is the length of each <pause/> without an attribute
	// (-d): how long a caller stays in the call.
	CallDuration time.Duration
	// RecvTimeout fails a call that waits longer than this for an expected
	// message (-recv_timeout). Default 10 s.
	RecvTimeout time.Duration
	// Timeout is SIPp's global timeout (-timeout with -timeout_error): it
	// exits counting the calls not finished as failed. Default: 2 s short
	// of ctx's deadline, or 60 s.
	Timeout time.Duration
	// Service is the user part of a UAC's Request-URI (-s). Default "agent".
	Service string
	// Keys are -key values for the scenario's [keyword]s, over the
	// scenario's defaults and the fields above.
	Keys map[string]string
	// TraceMessages logs every SIP message to messages.log in the run
	// directory (-trace_msg): Result.Messages reads it.
	TraceMessages bool
	// Dir is the run directory: the scenario, the pcap link, the logs and
	// the statistics go there. Default: a new temporary directory (tests
	// should pass t.TempDir()).
	Dir string
	// Args are appended to SIPp's command line.
	Args []string
}

// Process is a running SIPp.
type Process struct {
	sc      Scenario
	local   netip.AddrPort
	media   netip.AddrPort
	dir     string
	cmd     *exec.Cmd
	started time.Time
	exited  chan struct{}
	waitErr error
}

// Files SIPp writes in the run directory.
const (
	statsFile    = "stats.csv"
	errorsFile   = "errors.log"
	messagesFile = "messages.log"
	screenFile   = "screen.log"
)

// The defaults of Options.
const (
	defaultRecvTimeout = 10 * time.Second
	defaultTimeout     = 60 * time.Second
	timeoutMargin      = 2 * time.Second
	// waitDelay is how long a SIPp interrupted by its context has to write
	// its statistics and exit before it is killed.
	waitDelay = 3 * time.Second
	// bindTimeout bounds the wait for a UAS to bind its SIP port.
	bindTimeout = 10 * time.Second
)

// Start starts sipp with the scenario and returns once it is running; a UAS
// has bound its SIP address by then, so a caller can be started at once.
// The process is interrupted (SIGINT, then killed after a grace period)
// when ctx ends; Wait must be called to reap it.
func Start(ctx context.Context, sc Scenario, opts Options) (*Process, error) {
	bin, err := LookPath()
	if err != nil {
		return nil, err
	}
	if len(sc.XML) == 0 || sc.Name == "" {
		return nil, errors.New("sipptest: empty scenario")
	}
	p := &Process{sc: sc, exited: make(chan struct{})}
	args, err := p.prepare(ctx, opts)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = p.dir
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = waitDelay
	screen, err := os.Create(filepath.Join(p.dir, screenFile))
	if err != nil {
		return nil, fmt.Errorf("sipptest: %w", err)
	}
	cmd.Stdout, cmd.Stderr = screen, screen
	cmd.Stdin = nil
	p.cmd = cmd
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		screen.Close()
		return nil, fmt.Errorf("sipptest: start sipp: %w", err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		screen.Close()
		close(p.exited)
	}()
	if sc.Role == UAS {
		bctx, cancel := context.WithTimeout(ctx, bindTimeout)
		defer cancel()
		if err := waitBound(bctx, cmd.Process.Pid, p.local, opts.Transport.tcp(), p.exited); err != nil {
			p.kill()
			return nil, fmt.Errorf("sipptest: %s: %w%s", sc.Name, err, p.excerpts())
		}
	}
	return p, nil
}

// Run runs sipp with the scenario until it exits and returns its result.
// The error is nil when SIPp ran its calls to the end, whatever their
// outcome: Result.Check says whether they all succeeded.
func Run(ctx context.Context, sc Scenario, opts Options) (Result, error) {
	p, err := Start(ctx, sc, opts)
	if err != nil {
		return Result{Scenario: sc.Name}, err
	}
	return p.Wait()
}

// prepare resolves the options, writes the run directory and returns
// SIPp's arguments.
func (p *Process) prepare(ctx context.Context, o Options) ([]string, error) {
	if o.Transport == "" {
		o.Transport = UDP
	}
	if o.Transport != UDP && o.Transport != TCP {
		return nil, fmt.Errorf("sipptest: transport %q is neither UDP (u1) nor TCP (t1)", o.Transport)
	}
	network := "udp"
	if o.Transport.tcp() {
		network = "tcp"
	}
	local := o.Local
	if !local.Addr().IsValid() {
		local = netip.AddrPortFrom(Loopback, local.Port())
	}
	if local.Port() == 0 {
		port, err := testkit.FreePortOn(network, local.Addr())
		if err != nil {
			return nil, err
		}
		local = netip.AddrPortFrom(local.Addr(), port)
	}
	media := o.Media
	if !media.Addr().IsValid() {
		media = netip.AddrPortFrom(local.Addr(), media.Port())
	}
	if media.Port() == 0 {
		port, err := FreeMediaPort(media.Addr())
		if err != nil {
			return nil, err
		}
		media = netip.AddrPortFrom(media.Addr(), port)
	}
	p.local, p.media = local, media
	// SIPp's UDP control socket defaults to 0.0.0.0:8888; keep it on
	// loopback and out of other runs' way.
	ctrl, err := testkit.FreePortOn("udp", local.Addr())
	if err != nil {
		return nil, err
	}
	for _, a := range []netip.Addr{local.Addr(), media.Addr()} {
		if !a.Is4() {
			return nil, fmt.Errorf("sipptest: %s: the scenarios are written for IPv4", a)
		}
	}

	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "sipptest-"+p.sc.Name+"-")
		if err != nil {
			return nil, fmt.Errorf("sipptest: %w", err)
		}
		dir = d
	}
	p.dir = dir
	scenarioPath := filepath.Join(dir, p.sc.Name+".xml")
	if err := os.WriteFile(scenarioPath, p.sc.XML, 0o600); err != nil {
		return nil, fmt.Errorf("sipptest: %w", err)
	}
	if p.sc.PlaysPcap() {
		if err := canSendRaw(); err != nil {
			return nil, fmt.Errorf("sipptest: scenario %s plays RTP with play_pcap_audio, which sends through a raw socket: run as root or with CAP_NET_RAW (%v)", p.sc.Name, err)
		}
		if o.CallerPcap == "" {
			return nil, fmt.Errorf("sipptest: scenario %s plays %s: set Options.CallerPcap", p.sc.Name, PcapName)
		}
		src, err := filepath.Abs(o.CallerPcap)
		if err != nil {
			return nil, fmt.Errorf("sipptest: %w", err)
		}
		dst := filepath.Join(dir, PcapName)
		_ = os.Remove(dst)
		if err := os.Symlink(src, dst); err != nil {
			return nil, fmt.Errorf("sipptest: %w", err)
		}
	}

	args := []string{}
	if p.sc.Role == UAC {
		if !o.Remote.IsValid() {
			return nil, fmt.Errorf("sipptest: UAC scenario %s needs Options.Remote", p.sc.Name)
		}
		args = append(args, o.Remote.String())
	}
	calls := o.Calls
	if calls <= 0 {
		calls = 1
	}
	recvTimeout := o.RecvTimeout
	if recvTimeout <= 0 {
		recvTimeout = defaultRecvTimeout
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
		if dl, ok := ctx.Deadline(); ok {
			timeout = time.Until(dl) - timeoutMargin
		}
	}
	if timeout < time.Second {
		return nil, fmt.Errorf("sipptest: %v left for SIPp: the context ends too soon", timeout)
	}
	service := o.Service
	if service == "" {
		service = "agent"
	}
	args = append(args,
		"-sf", scenarioPath,
		"-t", string(o.Transport),
		"-i", local.Addr().String(), "-p", strconv.Itoa(int(local.Port())), "-bind_local",
		"-mi", media.Addr().String(), "-mp", strconv.Itoa(int(media.Port())),
		"-m", strconv.Itoa(calls),
		"-s", service,
		"-recv_timeout", strconv.FormatInt(recvTimeout.Milliseconds(), 10),
		"-timeout", strconv.FormatInt(int64(timeout/time.Second), 10)+"s", "-timeout_error",
		"-ci", local.Addr().String(), "-cp", strconv.Itoa(int(ctrl)),
		"-nostdin",
		"-trace_stat", "-stf", filepath.Join(dir, statsFile), "-fd", "1",
		"-trace_err", "-error_file", filepath.Join(dir, errorsFile),
	)
	if o.Rate > 0 {
		args = append(args, "-r", strconv.Itoa(o.Rate))
	}
	if o.MaxConcurrent > 0 {
		args = append(args, "-l", strconv.Itoa(o.MaxConcurrent))
	}
	if o.CallDuration > 0 {
		args = append(args, "-d", strconv.FormatInt(o.CallDuration.Milliseconds(), 10))
	}
	if o.TraceMessages {
		args = append(args, "-trace_msg", "-message_file", filepath.Join(dir, messagesFile))
	}
	keys := maps.Clone(p.sc.Keys)
	if keys == nil {
		keys = map[string]string{}
	}
	if o.MediaSink.IsValid() {
		keys[KeyRTPIP] = o.MediaSink.Addr().String()
		keys[KeyRTPPort] = strconv.Itoa(int(o.MediaSink.Port()))
	}
	maps.Copy(keys, o.Keys)
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		args = append(args, "-key", k, keys[k])
	}
	return append(args, o.Args...), nil
}

// Local returns SIPp's SIP address.
func (p *Process) Local() netip.AddrPort { return p.local }

// Media returns SIPp's media address (-mi, -mp).
func (p *Process) Media() netip.AddrPort { return p.media }

// Dir returns the run directory.
func (p *Process) Dir() string { return p.dir }

// Stop asks SIPp to finish the calls in progress and exit (SIGUSR1), as
// for a UAS that has taken all the calls a test will make.
func (p *Process) Stop() error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	return p.cmd.Process.Signal(syscall.SIGUSR1)
}

// kill ends the process at once and reaps it.
func (p *Process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Wait waits for SIPp to exit and returns its result. The error is non-nil
// when SIPp did not run its calls to the end: it could not load the
// scenario or bind a socket (exit 255, 254), or it was interrupted.
func (p *Process) Wait() (Result, error) {
	<-p.exited
	r := Result{Scenario: p.sc.Name, Dir: p.dir, Elapsed: time.Since(p.started), ExitCode: -1}
	if ps := p.cmd.ProcessState; ps != nil {
		r.ExitCode = ps.ExitCode()
	}
	if data, err := os.ReadFile(filepath.Join(p.dir, statsFile)); err == nil {
		if row, err := parseStats(data); err == nil {
			r.fill(row)
		}
		r.PeakCalls = peakColumn(data, "CurrentCall")
	}
	r.Errors = strings.TrimSpace(excerpt(filepath.Join(p.dir, errorsFile), maxExcerpt))
	switch {
	case p.waitErr != nil && r.ExitCode != 0 && r.ExitCode != 1:
		return r, fmt.Errorf("sipptest: %s: sipp exited with status %d (%v)%s", p.sc.Name, r.ExitCode, p.waitErr, p.excerpts())
	case p.waitErr != nil && r.ExitCode == -1:
		return r, fmt.Errorf("sipptest: %s: %w%s", p.sc.Name, p.waitErr, p.excerpts())
	}
	return r, nil
}

// maxExcerpt is how much of a log Result and errors quote.
const maxExcerpt = 4096

// excerpts returns the end of SIPp's screen and the start of its error log,
// for an error message.
func (p *Process) excerpts() string {
	var b strings.Builder
	if s := excerptTail(filepath.Join(p.dir, screenFile), 1024); s != "" {
		fmt.Fprintf(&b, "\n--- sipp output (end) ---\n%s", s)
	}
	if s := excerpt(filepath.Join(p.dir, errorsFile), 2048); s != "" {
		fmt.Fprintf(&b, "\n--- sipp error log ---\n%s", s)
	}
	return b.String()
}

// excerpt returns up to n bytes from the start of a file, redacted.
func excerpt(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, n)
	k, _ := io.ReadFull(f, buf)
	return redact(buf[:k])
}

// excerptTail returns up to n bytes from the end of a file, redacted.
func excerptTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	data, _ := io.ReadAll(io.LimitReader(f, n))
	return redact(data)
}

// redact masks the key of SIP INFO DTMF bodies (Signal=K) in a log excerpt:
// a key pressed in a test call is card data like any other.
func redact(b []byte) string {
	lines := bytes.SplitAfter(b, []byte("\n"))
	for i, l := range lines {
		t := bytes.TrimLeft(l, " \t")
		if len(t) >= 7 && bytes.EqualFold(t[:7], []byte("Signal=")) {
			lines[i] = []byte("Signal=•\n")
		}
	}
	return string(bytes.Join(lines, nil))
}

// Result is what a SIPp run did.
type Result struct {
	// Scenario is the scenario's name.
	Scenario string
	// ExitCode is SIPp's: 0 every call succeeded, 1 at least one failed,
	// 97 exit on an internal command, 99 no call processed, 255 fatal
	// error, 254 fatal error binding a socket; -1 if it did not exit.
	ExitCode int
	// Created, Successful and Failed count calls (cumulated columns of the
	// last -trace_stat line).
	Created, Successful, Failed int
	// Retransmissions counts SIP retransmissions SIPp sent.
	Retransmissions int
	// DeadCallMessages counts messages received for calls already ended
	// (late retransmissions, or a far end that kept talking).
	DeadCallMessages int
	// FailureReasons holds the non-zero Failed… columns, e.g.
	// "FailedUnexpectedMessage": 1.
	FailureReasons map[string]int
	// ResponseTime is the mean of the scenario's first response-time
	// measure (rtd="true": from the INVITE to the 200 in the caller
	// scenarios), over the whole run; SIPp counts whole milliseconds.
	// Zero when the scenario measures none.
	ResponseTime time.Duration
	// CallLength is the mean length of the calls, over the whole run.
	CallLength time.Duration
	// PeakCalls is the highest number of calls in progress (the
	// CurrentCall column) over the statistics rows SIPp wrote, one per
	// -fd period (a second) and one at exit.
	PeakCalls int
	// Stats is the last statistics row by column name, for the figures
	// Result has no field for (e.g. "ResponseTimeRepartition1_<10").
	Stats map[string]string
	// Errors is the start of SIPp's error log (-trace_err), with INFO
	// DTMF keys masked.
	Errors string
	// Dir is the run directory (scenario, logs, statistics).
	Dir string
	// Elapsed is how long SIPp ran.
	Elapsed time.Duration
}

// Messages returns SIPp's message log (Options.TraceMessages), bounded to
// maxMessages bytes. It holds the messages as sent, SIP INFO keys included:
// assert on it, do not log it.
func (r Result) Messages() (string, error) {
	f, err := os.Open(filepath.Join(r.Dir, messagesFile))
	if err != nil {
		return "", fmt.Errorf("sipptest: %w (was Options.TraceMessages set?)", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMessages))
	return string(data), err
}

// maxMessages bounds Result.Messages.
const maxMessages = 16 << 20

// Check returns nil when SIPp exited 0 with calls successful calls and no
// failed one, else an error saying what went wrong, with the error log.
func (r Result) Check(calls int) error {
	if r.ExitCode == 0 && r.Successful == calls && r.Failed == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "sipptest: %s: exit %d, %d of %d calls successful, %d failed", r.Scenario, r.ExitCode, r.Successful, calls, r.Failed)
	for _, k := range slices.Sorted(maps.Keys(r.FailureReasons)) {
		fmt.Fprintf(&b, ", %s=%d", k, r.FailureReasons[k])
	}
	fmt.Fprintf(&b, " (run directory %s)", r.Dir)
	if r.Errors != "" {
		fmt.Fprintf(&b, "\n--- sipp error log ---\n%s", r.Errors)
	}
	return errors.New(b.String())
}

// fill sets the counters from the last row of the statistics file.
func (r *Result) fill(row map[string]string) {
	num := func(col string) int {
		n, _ := strconv.Atoi(strings.TrimSpace(row[col]))
		return n
	}
	r.Created = num("TotalCallCreated")
	r.Successful = num("SuccessfulCall(C)")
	r.Failed = num("FailedCall(C)")
	r.Retransmissions = num("Retransmissions(C)")
	r.DeadCallMessages = num("DeadCallMsgs(C)")
	r.ResponseTime, _ = parseStatDuration(row["ResponseTime1(C)"])
	r.CallLength, _ = parseStatDuration(row["CallLength(C)"])
	r.Stats = row
	for col := range row {
		name, ok := strings.CutSuffix(col, "(C)")
		if !ok || !strings.HasPrefix(name, "Failed") || name == "FailedCall" {
			continue
		}
		if n := num(col); n != 0 {
			if r.FailureReasons == nil {
				r.FailureReasons = map[string]int{}
			}
			r.FailureReasons[name] = n
		}
	}
}

// canSendRaw checks that this process may open the raw UDP socket SIPp's
// play_pcap_audio sends through (it forges the caller's source port), so
// that a test run without the privilege says so instead of failing calls.
func canSendRaw() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_UDP)
	if err != nil {
		return err
	}
	return syscall.Close(fd)
}

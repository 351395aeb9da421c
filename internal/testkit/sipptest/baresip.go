package sipptest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"dtmfgw/internal/audiofile"
	"dtmfgw/internal/testkit"
)

// ErrBaresipMissing is wrapped by BaresipLookPath's error when baresip is
// not installed.
var ErrBaresipMissing = errors.New("sipptest: baresip not found: install baresip (make deps)")

// BaresipModules is where Debian's baresip-core installs its modules.
const BaresipModules = "/usr/lib/baresip/modules"

// baresipModules are the modules the harness loads: G.711, a WAV file as
// audio source (no sound card), the account loader, the command set
// (dial, hangup, sndcode: menu) and the control socket.
var baresipModules = []string{"g711.so", "aufile.so", "account.so", "menu.so", "ctrl_tcp.so"}

// BaresipLookPath returns the path of baresip, or an error wrapping
// ErrBaresipMissing when it or one of the modules the harness loads is
// missing.
func BaresipLookPath() (string, error) {
	p, err := exec.LookPath("baresip")
	if err != nil {
		return "", fmt.Errorf("%w (%v)", ErrBaresipMissing, err)
	}
	for _, m := range baresipModules {
		if _, err := os.Stat(filepath.Join(BaresipModules, m)); err != nil {
			return "", fmt.Errorf("%w: module %s: %v", ErrBaresipMissing, m, err)
		}
	}
	return p, nil
}

// NeedBaresip fails the test at once when baresip is not installed.
func NeedBaresip(tb testing.TB) string {
	tb.Helper()
	p, err := BaresipLookPath()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// BaresipOptions says how StartBaresip runs baresip.
type BaresipOptions struct {
	// SIP is baresip's SIP address (sip_listen, UDP and TCP). baresip also
	// listens for SIP over TLS on the next port. Zero: 127.0.0.1 and a
	// free port whose next port is free too.
	SIP netip.AddrPort
	// Ctrl is the ctrl_tcp address. Zero: 127.0.0.1 and a free port.
	Ctrl netip.AddrPort
	// User is the account's user part (sip:User@host). Default "caller".
	User string
	// Lifetime bounds baresip's run (its -t); it is also the length of the
	// silent audio it sends. Default 60 s; at most 10 minutes.
	Lifetime time.Duration
	// Dir is the configuration directory (-f). Default: a new temporary
	// directory (tests should pass t.TempDir()).
	Dir string
}

// BaresipEvent is one ctrl_tcp event (baresip's ua_event as JSON).
type BaresipEvent struct {
	// Type is the event, e.g. "CALL_RINGING", "CALL_ESTABLISHED",
	// "CALL_CLOSED".
	Type string `json:"type"`
	// Class groups events: "call", "register", "other"...
	Class string `json:"class"`
	// AccountAOR is the account the event belongs to.
	AccountAOR string `json:"accountaor"`
	// Direction is "incoming" or "outgoing" for call events.
	Direction string `json:"direction"`
	// PeerURI is the far end of the call.
	PeerURI string `json:"peeruri"`
	// ID is the call's id.
	ID string `json:"id"`
	// Param is the event's text (the close reason for CALL_CLOSED).
	Param string `json:"param"`
}

// BaresipResponse is ctrl_tcp's answer to one command.
type BaresipResponse struct {
	// OK says whether the command succeeded.
	OK bool `json:"ok"`
	// Data is the command's output.
	Data string `json:"data"`
	// Token is the token the command was sent with.
	Token string `json:"token"`
}

// baresipMessage is any ctrl_tcp message.
type baresipMessage struct {
	Event    bool `json:"event"`
	Response bool `json:"response"`
	BaresipEvent
	OK   bool   `json:"ok"`
	Data string `json:"data"`
	// Token is the command's token (responses only).
	Token string `json:"token"`
}

// maxBaresipEvents bounds the events a Baresip keeps.
const maxBaresipEvents = 1024

// maxBaresipLog bounds the console output a Baresip keeps.
const maxBaresipLog = 256 << 10

// Baresip is a running baresip driven through ctrl_tcp.
type Baresip struct {
	cmd    *exec.Cmd
	sip    netip.AddrPort
	ctrl   netip.AddrPort
	aor    string
	conn   net.Conn
	exited chan struct{}
	read   chan struct{}   // closed when the reader ends
	log    *testkit.Buffer // bounded: maxBaresipLog

	cmdMu sync.Mutex // one command at a time
	token int

	mu        sync.Mutex
	events    []BaresipEvent
	responses map[string]chan BaresipResponse
	changed   chan struct{}
	readErr   error
}

// The defaults of BaresipOptions.
const (
	defaultBaresipLifetime = 60 * time.Second
	maxBaresipLifetime     = 10 * time.Minute
	// baresipStartTimeout bounds the wait for ctrl_tcp to listen.
	baresipStartTimeout = 10 * time.Second
)

// StartBaresip writes a configuration directory and starts baresip
// headless: no sound card (a silent 8 kHz WAV file is the microphone, no
// player), PCMU and PCMA only, one account sip:User@127.0.0.1 that does not
// register, ctrl_tcp on Ctrl. It returns once connected to ctrl_tcp.
// baresip is stopped when ctx ends, at Lifetime, or by Close, which must be
// called.
func StartBaresip(ctx context.Context, opts BaresipOptions) (*Baresip, error) {
	bin, err := BaresipLookPath()
	if err != nil {
		return nil, err
	}
	o, err := resolveBaresip(opts)
	if err != nil {
		return nil, err
	}
	if err := writeBaresipConfig(o); err != nil {
		return nil, err
	}
	b := &Baresip{
		sip: o.SIP, ctrl: o.Ctrl, aor: "sip:" + o.User + "@" + o.SIP.Addr().String(),
		exited: make(chan struct{}), read: make(chan struct{}), log: testkit.NewLimitedBuffer(maxBaresipLog),
		responses: map[string]chan BaresipResponse{}, changed: make(chan struct{}),
	}
	secs := int((o.Lifetime + time.Second - 1) / time.Second)
	cmd := exec.CommandContext(ctx, bin, "-f", o.Dir, "-t", strconv.Itoa(secs))
	cmd.Dir = o.Dir
	cmd.Stdout, cmd.Stderr = b.log, b.log
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = waitDelay
	b.cmd = cmd
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("sipptest: start baresip: %w", err)
	}
	go func() {
		_ = cmd.Wait()
		close(b.exited)
	}()
	fail := func(err error) (*Baresip, error) {
		_ = cmd.Process.Kill()
		<-b.exited
		return nil, fmt.Errorf("sipptest: baresip: %w\n--- baresip output ---\n%s", err, b.Log())
	}
	wctx, cancel := context.WithTimeout(ctx, baresipStartTimeout)
	defer cancel()
	if err := waitBound(wctx, cmd.Process.Pid, o.Ctrl, true, b.exited); err != nil {
		return fail(fmt.Errorf("ctrl_tcp: %w", err))
	}
	if err := waitBound(wctx, cmd.Process.Pid, o.SIP, false, b.exited); err != nil {
		return fail(fmt.Errorf("SIP: %w", err))
	}
	var d net.Dialer
	conn, err := d.DialContext(wctx, "tcp", o.Ctrl.String())
	if err != nil {
		return fail(err)
	}
	b.conn = conn
	go b.readLoop()
	return b, nil
}

// resolveBaresip applies the defaults.
func resolveBaresip(o BaresipOptions) (BaresipOptions, error) {
	if o.User == "" {
		o.User = "caller"
	}
	if strings.ContainsAny(o.User, "@:;<>\"\r\n\x00 \t") {
		return o, fmt.Errorf("sipptest: baresip user %q is not a plain SIP user", o.User)
	}
	if o.Lifetime <= 0 {
		o.Lifetime = defaultBaresipLifetime
	}
	if o.Lifetime > maxBaresipLifetime {
		return o, fmt.Errorf("sipptest: baresip lifetime %v is more than %v", o.Lifetime, maxBaresipLifetime)
	}
	if !o.SIP.Addr().IsValid() {
		o.SIP = netip.AddrPortFrom(Loopback, o.SIP.Port())
	}
	if o.SIP.Port() == 0 {
		// UDP and TCP on the port, TLS on the next one.
		p, err := freePorts(o.SIP.Addr(), probe{"udp", 0}, probe{"tcp", 0}, probe{"tcp", 1})
		if err != nil {
			return o, err
		}
		o.SIP = netip.AddrPortFrom(o.SIP.Addr(), p)
	}
	if !o.Ctrl.Addr().IsValid() {
		o.Ctrl = netip.AddrPortFrom(Loopback, o.Ctrl.Port())
	}
	if o.Ctrl.Port() == 0 {
		p, err := testkit.FreePortOn("tcp", o.Ctrl.Addr())
		if err != nil {
			return o, err
		}
		o.Ctrl = netip.AddrPortFrom(o.Ctrl.Addr(), p)
	}
	for _, a := range []netip.Addr{o.SIP.Addr(), o.Ctrl.Addr()} {
		if !a.Is4() {
			return o, fmt.Errorf("sipptest: baresip address %s is not IPv4", a)
		}
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "sipptest-baresip-")
		if err != nil {
			return o, fmt.Errorf("sipptest: %w", err)
		}
		o.Dir = d
	}
	return o, nil
}

// silenceFile is the WAV baresip reads as its microphone.
const silenceFile = "silence.wav"

// writeBaresipConfig writes config, accounts, contacts and the silence.
func writeBaresipConfig(o BaresipOptions) error {
	// aufile in baresip 1.0 plays its file once and its source then stops
	// sending, and telephone-events leave only with the audio: the silence
	// lasts as long as baresip may run.
	silence := audiofile.AppendWAV(nil, make([]int16, int(o.Lifetime.Seconds()+1)*8000))
	var mods strings.Builder
	for _, m := range baresipModules {
		kind := "module"
		switch m {
		case "account.so":
			kind = "module_tmp" // reads the accounts file, then unloads
		case "menu.so", "ctrl_tcp.so":
			kind = "module_app"
		}
		fmt.Fprintf(&mods, "%s\t\t%s\n", kind, m)
	}
	wav := filepath.Join(o.Dir, silenceFile)
	// Keys baresip 1.0.0 reads; ausine, its other file-less source, only
	// runs at 48 kHz. net_interface takes an address: "lo" is not found.
	config := fmt.Sprintf(`# written by dtmfgw's sipptest: baresip headless on loopback
poll_method		epoll
sip_listen		%s
net_interface		%s
call_local_timeout	30
call_max_calls		4
audio_source		aufile,%s
audio_alert		aufile,%s
audio_player		none
ausrc_srate		8000
ausrc_channels		1
audio_level		no
rtp_ports		%d-%d
rtp_timeout		0
jitter_buffer_delay	1-5
statmode_default	off
module_path		%s
%sctrl_tcp_listen		%s
`, o.SIP, o.SIP.Addr(), wav, wav, rtpLow, rtpHigh, BaresipModules, mods.String(), o.Ctrl)
	// No registration (regint=0); RFC 4733 DTMF is baresip's default.
	accounts := fmt.Sprintf("<sip:%s@%s>;regint=0;answermode=manual;audio_codecs=PCMU/8000/1,PCMA/8000/1\n", o.User, o.SIP.Addr())
	for name, data := range map[string][]byte{
		"config": []byte(config), "accounts": []byte(accounts), "contacts": nil, silenceFile: silence,
	} {
		if err := os.WriteFile(filepath.Join(o.Dir, name), data, 0o600); err != nil {
			return fmt.Errorf("sipptest: %w", err)
		}
	}
	return nil
}

// baresip picks its RTP port at random in this range and tries others
// when one is taken.
const (
	rtpLow  = 41000
	rtpHigh = 41999
)

// SIP returns baresip's SIP address.
func (b *Baresip) SIP() netip.AddrPort { return b.sip }

// AOR returns baresip's account address (sip:user@127.0.0.1).
func (b *Baresip) AOR() string { return b.aor }

// Log returns baresip's console output so far (bounded), with the keys
// of its DTMF lines masked: baresip logs every digit it sends or receives.
func (b *Baresip) Log() string { return redactDigits(b.log.String()) }

// dtmfLogKey matches a quoted key on a line that mentions DTMF, as in
// "audio: send DTMF digit: '4'".
var dtmfLogKey = regexp.MustCompile(`(?i)(dtmf[^\n]*?')[0-9a-d*#](')`)

// redactDigits masks the key of every DTMF log line.
func redactDigits(s string) string {
	for {
		r := dtmfLogKey.ReplaceAllString(s, "${1}•${2}")
		if r == s {
			return r
		}
		s = r
	}
}

// readLoop reads ctrl_tcp messages until the connection ends.
func (b *Baresip) readLoop() {
	defer close(b.read)
	r := bufio.NewReader(b.conn)
	for {
		frame, err := readNetstring(r)
		if err != nil {
			b.mu.Lock()
			b.readErr = err
			b.notifyLocked()
			b.mu.Unlock()
			return
		}
		var m baresipMessage
		if err := json.Unmarshal(frame, &m); err != nil {
			continue // not ours to judge; the waits time out
		}
		b.mu.Lock()
		switch {
		case m.Response:
			if ch, ok := b.responses[m.Token]; ok {
				ch <- BaresipResponse{OK: m.OK, Data: m.Data, Token: m.Token}
				delete(b.responses, m.Token)
			}
		case m.Event && len(b.events) < maxBaresipEvents:
			b.events = append(b.events, m.BaresipEvent)
			b.notifyLocked()
		}
		b.mu.Unlock()
	}
}

func (b *Baresip) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// Command sends one ctrl_tcp command (a menu command's long name, such as
// "dial", and its parameters) and returns baresip's response. A response
// with OK false is returned with an error.
func (b *Baresip) Command(ctx context.Context, command, params string) (BaresipResponse, error) {
	b.cmdMu.Lock()
	defer b.cmdMu.Unlock()
	b.token++
	tok := strconv.Itoa(b.token)
	msg, err := json.Marshal(map[string]string{"command": command, "params": params, "token": tok})
	if err != nil {
		return BaresipResponse{}, fmt.Errorf("sipptest: baresip %s: %w", command, err)
	}
	ch := make(chan BaresipResponse, 1)
	b.mu.Lock()
	b.responses[tok] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.responses, tok)
		b.mu.Unlock()
	}()
	if dl, ok := ctx.Deadline(); ok {
		_ = b.conn.SetWriteDeadline(dl)
	}
	if _, err := b.conn.Write(appendNetstring(nil, msg)); err != nil {
		return BaresipResponse{}, fmt.Errorf("sipptest: baresip %s: %w", command, err)
	}
	select {
	case r := <-ch:
		if !r.OK {
			return r, fmt.Errorf("sipptest: baresip %s failed: %s", command, strings.TrimSpace(r.Data))
		}
		return r, nil
	case <-b.read:
		return BaresipResponse{}, fmt.Errorf("sipptest: baresip %s: control connection closed", command)
	case <-ctx.Done():
		return BaresipResponse{}, fmt.Errorf("sipptest: baresip %s: %w", command, ctx.Err())
	}
}

// Dial calls uri (e.g. "sip:agent@127.0.0.1:5060").
func (b *Baresip) Dial(ctx context.Context, uri string) error {
	if strings.ContainsAny(uri, "\r\n\x00") {
		return errors.New("sipptest: dial URI holds a line break or NUL")
	}
	_, err := b.Command(ctx, "dial", uri)
	return err
}

// SendDigits presses keys in the current call as RFC 4733 telephone-events
// (menu's "sndcode"). baresip queues them and sends each for at least nine
// packet times (180 ms at 20 ms) and three end packets, one after another
// (libre's telev): the command returns before the last key has been sent.
func (b *Baresip) SendDigits(ctx context.Context, keys string) error {
	for i := range len(keys) {
		c := keys[i]
		if !(c >= '0' && c <= '9' || c == '*' || c == '#' || c >= 'A' && c <= 'D' || c >= 'a' && c <= 'd') {
			return fmt.Errorf("sipptest: character %d of the keys is not a DTMF key", i)
		}
	}
	_, err := b.Command(ctx, "sndcode", keys)
	return err
}

// Hangup ends the current call.
func (b *Baresip) Hangup(ctx context.Context) error {
	_, err := b.Command(ctx, "hangup", "")
	return err
}

// Events returns the events received so far.
func (b *Baresip) Events() []BaresipEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]BaresipEvent(nil), b.events...)
}

// WaitEvent returns the first event of one of the types given, received
// since the start (not only from now on), or an error when ctx ends or the
// control connection closes first.
func (b *Baresip) WaitEvent(ctx context.Context, types ...string) (BaresipEvent, error) {
	for {
		b.mu.Lock()
		for _, e := range b.events {
			for _, t := range types {
				if e.Type == t {
					b.mu.Unlock()
					return e, nil
				}
			}
		}
		ch, readErr := b.changed, b.readErr
		b.mu.Unlock()
		if readErr != nil {
			return BaresipEvent{}, fmt.Errorf("sipptest: baresip waiting for %v: control connection: %w", types, readErr)
		}
		select {
		case <-ctx.Done():
			return BaresipEvent{}, fmt.Errorf("sipptest: baresip waiting for %v: %w (events so far: %s)", types, ctx.Err(), b.eventTypes())
		case <-ch:
		}
	}
}

// eventTypes lists the types of the events received, for errors.
func (b *Baresip) eventTypes() string {
	var s []string
	for _, e := range b.Events() {
		s = append(s, e.Type)
	}
	return strings.Join(s, " ")
}

// Close stops baresip (SIGTERM, then SIGKILL after a grace period) and
// waits for it to exit.
func (b *Baresip) Close() error {
	if b.conn != nil {
		b.conn.Close()
		<-b.read
	}
	select {
	case <-b.exited:
		return nil
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(waitDelay):
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
	return nil
}

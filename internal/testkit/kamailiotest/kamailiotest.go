// Package kamailiotest runs Debian's Kamailio with the example front-proxy
// configuration (deploy/kamailio/kamailio.cfg) on loopback, for the tests
// that put it in front of dtmfgw nodes, real or fake, and for the
// benchmarks that measure calls through it (Run, without a test). A
// missing Kamailio fails the test, naming the package to install.
package kamailiotest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ErrMissing is wrapped by Binary's error when Kamailio is not installed.
var ErrMissing = errors.New("kamailio is not installed: run `make deps` (it installs the Debian package kamailio)")

// Binary returns the kamailio binary's path, or an error wrapping
// ErrMissing.
func Binary() (string, error) {
	if p, err := exec.LookPath("kamailio"); err == nil {
		return p, nil
	}
	// root's PATH has /usr/sbin; another user's may not.
	if _, err := os.Stat("/usr/sbin/kamailio"); err == nil {
		return "/usr/sbin/kamailio", nil
	}
	return "", ErrMissing
}

// Path returns the kamailio binary, failing the test loudly when it is
// missing: it is a Debian package that `make deps` installs.
func Path(t testing.TB) string {
	t.Helper()
	p, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Log collects a process's output for failure messages.
type Log struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Log) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Tail returns the last 4000 bytes written.
func (b *Log) Tail() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if len(s) > 4000 {
		s = s[len(s)-4000:]
	}
	return s
}

// FreePort returns a loopback port free for both UDP and TCP (Kamailio
// listens on both).
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func freePort() (int, error) {
	for range 20 {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return 0, err
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		u.Close()
		if err == nil {
			l.Close()
			return port, nil
		}
	}
	return 0, errors.New("kamailiotest: no loopback port free for both UDP and TCP")
}

// Proxy is a Kamailio that Run started.
type Proxy struct {
	// Port is where it listens on 127.0.0.1, UDP and TCP.
	Port int
	// Log is its output (it logs to stderr).
	Log    *Log
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // Wait's, once exited is closed
	once   sync.Once
}

// Run starts Kamailio with the configuration file cfg on 127.0.0.1 and
// the given dispatcher list (written into dir, which also holds its pid
// file and control socket), probing every second. It runs in a process
// group of its own, which Stop ends, and is killed should this process
// die first. Run does not wait for it to listen: WaitReady does.
func Run(cfg, list, dir string) (*Proxy, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	listPath := filepath.Join(dir, "dispatcher.list")
	if err := os.WriteFile(listPath, []byte(list), 0o644); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-f", cfg, "-DD", "-E", "-m", "32", "-M", "4", "-n", "1",
		"-Y", dir, "-P", filepath.Join(dir, "kamailio.pid"), "-w", dir,
		"-A", fmt.Sprintf("LISTEN=udp:127.0.0.1:%d", port),
		"-A", fmt.Sprintf("LISTEN_TCP=tcp:127.0.0.1:%d", port),
		"-A", fmt.Sprintf("DISPATCHER_LIST=%q", listPath),
		"-A", fmt.Sprintf("CTL_SOCKET=%q", "unix:"+filepath.Join(dir, "ctl")),
		"-A", "DS_PING_INTERVAL=1",
		"-A", `TRUSTED_NETS="127.0.0.0/8"`)
	p := &Proxy{Port: port, Log: &Log{}, cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Log, p.Log
	// Its own process group: Kamailio forks workers, and all of them go
	// with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("kamailiotest: start kamailio: %w", err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// Pid returns the main process's id, which is also its process group's.
func (p *Proxy) Pid() int { return p.cmd.Process.Pid }

// Addr returns the address it listens on, "127.0.0.1:port".
func (p *Proxy) Addr() string { return fmt.Sprintf("127.0.0.1:%d", p.Port) }

// WaitReady returns once Kamailio answers an OPTIONS addressed to itself
// with 200 (kamailio.cfg's keepalive for the SBC), or an error when it
// exits or ctx ends first.
func (p *Proxy) WaitReady(ctx context.Context) error {
	conn, err := net.Dial("udp", p.Addr())
	if err != nil {
		return err
	}
	defer conn.Close()
	buf := make([]byte, 4096)
	for i := 0; ; i++ {
		select {
		case <-p.exited:
			return fmt.Errorf("kamailiotest: kamailio exited while starting: %v\n%s", p.err, p.Log.Tail())
		case <-ctx.Done():
			return fmt.Errorf("kamailiotest: kamailio did not answer OPTIONS: %w\n%s", ctx.Err(), p.Log.Tail())
		default:
		}
		if _, err := conn.Write([]byte(options(conn.LocalAddr().String(), p.Addr(), i))); err != nil {
			return err
		}
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := conn.Read(buf)
		if err == nil && strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
			return nil
		}
		if err != nil {
			// Not listening yet: ICMP refused comes back at once.
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// options is an OPTIONS request from local to the proxy itself (no user
// part), the i-th of a probe.
func options(local, proxy string, i int) string {
	return fmt.Sprintf("OPTIONS sip:%[2]s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %[1]s;branch=z9hG4bK-kamailiotest-%[3]d-%[4]d\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:probe@%[1]s>;tag=kt%[3]d\r\n"+
		"To: <sip:%[2]s>\r\n"+
		"Call-ID: kamailiotest-%[3]d-%[4]d@%[1]s\r\n"+
		"CSeq: %[3]d OPTIONS\r\n"+
		"Content-Length: 0\r\n\r\n", local, proxy, i+1, os.Getpid())
}

// Stop ends Kamailio and its workers (SIGTERM to the process group, then
// SIGKILL after 5 s) and waits for it; a second Stop does nothing.
func (p *Proxy) Stop() {
	p.once.Do(func() {
		_ = syscall.Kill(-p.Pid(), syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
			<-p.exited
		}
	})
}

// Start runs Kamailio with the configuration file cfg on 127.0.0.1 and the
// given dispatcher list, probing every second; it is stopped when the test
// ends. It returns the port it listens on (UDP and TCP) and its output.
func Start(t testing.TB, cfg, list string) (port int, log *Log) {
	t.Helper()
	Path(t)
	p, err := Run(cfg, list, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("kamailio output (tail):\n%s", p.Log.Tail())
		}
	})
	return p.Port, p.Log
}

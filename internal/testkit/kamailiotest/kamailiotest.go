// Package kamailiotest runs Debian's Kamailio with the example front-proxy
// configuration (deploy/kamailio/kamailio.cfg) on loopback, for the tests
// that put it in front of dtmfgw nodes, real or fake. A missing Kamailio
// fails the test, naming the package to install.
package kamailiotest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Path returns the kamailio binary, failing the test loudly when it is
// missing: it is a Debian package that `make deps` installs.
func Path(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("kamailio"); err == nil {
		return p
	}
	// root's PATH has /usr/sbin; another user's may not.
	if _, err := os.Stat("/usr/sbin/kamailio"); err == nil {
		return "/usr/sbin/kamailio"
	}
	t.Fatal("kamailio is not installed: run `make deps` (it installs the Debian package kamailio)")
	return ""
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
	for range 20 {
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no loopback port free for both UDP and TCP")
	return 0
}

// Start runs Kamailio with the configuration file cfg on 127.0.0.1 and the
// given dispatcher list, probing every second; it is stopped when the test
// ends. It returns the port it listens on (UDP and TCP) and its output.
func Start(t testing.TB, cfg, list string) (port int, log *Log) {
	t.Helper()
	bin := Path(t)
	dir := t.TempDir()
	listPath := filepath.Join(dir, "dispatcher.list")
	if err := os.WriteFile(listPath, []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	port = FreePort(t)
	cmd := exec.Command(bin, "-f", cfg, "-DD", "-E", "-m", "32", "-M", "4", "-n", "1",
		"-Y", dir, "-P", filepath.Join(dir, "kamailio.pid"), "-w", dir,
		"-A", fmt.Sprintf("LISTEN=udp:127.0.0.1:%d", port),
		"-A", fmt.Sprintf("LISTEN_TCP=tcp:127.0.0.1:%d", port),
		"-A", fmt.Sprintf("DISPATCHER_LIST=%q", listPath),
		"-A", fmt.Sprintf("CTL_SOCKET=%q", "unix:"+filepath.Join(dir, "ctl")),
		"-A", "DS_PING_INTERVAL=1",
		"-A", `TRUSTED_NETS="127.0.0.0/8"`)
	log = &Log{}
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: Kamailio forks workers, and all of them go
	// when the test ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("kamailio output (tail):\n%s", log.Tail())
		}
	})
	return port, log
}

// Package pgtest gives tests a PostgreSQL server: the one
// DTMFGW_TEST_POSTGRES_DSN names, or a throw-away one started from
// Debian's postgresql package on first use (Admin) and stopped by the test
// binary's TestMain (Stop). Each test works in a schema of its own
// (Fresh). A missing PostgreSQL fails the test, never skips it.
package pgtest

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"dtmfgw/internal/testkit"
)

// DSNEnv names a PostgreSQL database the tests may use instead of
// starting their own server. Each test works in a schema of its own there
// and drops it afterwards.
const DSNEnv = "DTMFGW_TEST_POSTGRES_DSN"

// testPostgres is the PostgreSQL server of this test binary: the one
// DSNEnv names, or one started from Debian's postgresql package on
// first use and stopped by TestMain.
var testPostgres struct {
	once  sync.Once
	dsn   string // superuser DSN of the server
	admin *sql.DB
	err   error
	stop  func()
}

// Admin returns the test server's DSN and an admin connection to
// it, starting the server on first use. A missing PostgreSQL is an error
// for the caller to fail on, never a reason to skip: the store promises
// PostgreSQL support, so the tests prove it.
func Admin() (string, *sql.DB, error) {
	testPostgres.once.Do(func() {
		dsn := os.Getenv(DSNEnv)
		if dsn == "" {
			var stop func()
			dsn, stop, testPostgres.err = startPostgres()
			if testPostgres.err != nil {
				return
			}
			testPostgres.stop = stop
		}
		db, err := sql.Open("pgx", dsn)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = db.PingContext(ctx)
			cancel()
		}
		if err != nil {
			testPostgres.err = fmt.Errorf("connect to the test PostgreSQL: %w", err)
			return
		}
		testPostgres.dsn, testPostgres.admin = dsn, db
	})
	return testPostgres.dsn, testPostgres.admin, testPostgres.err
}

// Stop stops the server Admin started, if it did: TestMain calls it
// after the tests.
func Stop() {
	if testPostgres.admin != nil {
		testPostgres.admin.Close()
	}
	if testPostgres.stop != nil {
		testPostgres.stop()
	}
}

// postgresBin finds the directory of initdb and postgres: Debian puts
// them in /usr/lib/postgresql/VERSION/bin; the newest version wins.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(dir string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): " +
		"run `make deps` (it installs Debian's postgresql package) or set " + DSNEnv)
}

// startPostgres initialises a throw-away cluster in a temporary directory
// and runs a server on a free loopback port. PostgreSQL refuses to run as
// root, so as root the server runs as the postgres user (or nobody). The
// server gets SIGKILL should this process die without stopping it.
func startPostgres() (dsn string, stop func(), err error) {
	bin, err := postgresBin()
	if err != nil {
		return "", nil, err
	}
	base, err := os.MkdirTemp("", "dtmfgw-pg-")
	if err != nil {
		return "", nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(base)
		}
	}()
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		if cred, err = unprivileged(); err != nil {
			return "", nil, err
		}
		// The server's user must reach its directory through base.
		if err := os.Chmod(base, 0o711); err != nil {
			return "", nil, err
		}
	}
	home := filepath.Join(base, "pg")
	if err := os.Mkdir(home, 0o700); err != nil {
		return "", nil, err
	}
	if cred != nil {
		if err := os.Chown(home, int(cred.Uid), int(cred.Gid)); err != nil {
			return "", nil, err
		}
	}
	data := filepath.Join(home, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--no-locale", "--no-sync")
	initdb.Dir = home
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// A port found free may be taken before the server binds it; try a
	// few.
	for attempt := 0; ; attempt++ {
		port, err := testkit.FreePortOn("tcp", netip.AddrFrom4([4]byte{127, 0, 0, 1}))
		if err != nil {
			return "", nil, err
		}
		stop, err := runPostgres(bin, home, data, int(port), cred)
		if err == nil {
			return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
				func() { stop(); os.RemoveAll(base) }, nil
		}
		if attempt == 2 {
			return "", nil, err
		}
	}
}

// unprivileged returns the credentials of the postgres user, else nobody.
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 == nil && err2 == nil {
			return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
		}
	}
	return nil, errors.New("running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as")
}

// runPostgres starts the server in the foreground (a child of the test
// binary) and returns once its log says it accepts connections.
func runPostgres(bin, home, data string, port int, cred *syscall.Credential) (stop func(), err error) {
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(port),
		"-c", "unix_socket_directories=", // TCP only: no socket in /var/run
		"-c", "max_connections=50", "-c", "shared_buffers=16MB",
		"-c", "log_min_error_statement=panic") // a refused statement is the test's business, not the log's
	cmd.Dir = home
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	// The server logs "database system is ready to accept connections"
	// (at LOG level, which the default log_min_messages shows) once it
	// listens: an event to wait for rather than a port to poll.
	ready := make(chan struct{})
	exited := make(chan struct{})
	var logMu sync.Mutex
	var logTail []string
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			logMu.Lock()
			logTail = append(logTail, line)
			if len(logTail) > 40 {
				logTail = logTail[1:]
			}
			logMu.Unlock()
			if !signalled && strings.Contains(line, "ready to accept connections") {
				signalled = true
				close(ready)
			}
		}
		// Keep draining, whatever stopped the scanner (a huge line):
		// a full pipe would stall the server.
		io.Copy(io.Discard, stderr)
	}()
	go func() {
		cmd.Wait()
		close(exited)
	}()
	stop = func() {
		cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}
	tail := func() string {
		logMu.Lock()
		defer logMu.Unlock()
		return strings.Join(logTail, "\n")
	}
	select {
	case <-ready:
		return stop, nil
	case <-exited:
		return nil, fmt.Errorf("postgres exited while starting:\n%s", tail())
	case <-time.After(30 * time.Second):
		stop()
		return nil, fmt.Errorf("postgres did not become ready in 30 s:\n%s", tail())
	}
}

// schemaSeq numbers the per-test schemas.
var schemaSeq atomic.Int64

// Fresh makes a schema of t's own on the test server, dropped when t
// ends, and returns a DSN whose search_path is that schema: every test
// starts empty without the cost of a database per test.
func Fresh(t testing.TB) string {
	t.Helper()
	dsn, drop, err := Schema(context.Background())
	if err != nil {
		t.Fatalf("PostgreSQL for the tests: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return dsn
}

// Schema is Fresh for code that has no test to fail, such as a benchmark:
// it starts the server on first use (Admin), makes a new empty schema and
// returns a DSN whose search_path is that schema, and drop, which drops
// it and everything in it.
func Schema(ctx context.Context) (dsn string, drop func() error, err error) {
	admin, db, err := Admin()
	if err != nil {
		return "", nil, err
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, fmt.Errorf("parse %s: %w", DSNEnv, err)
	}
	schema := fmt.Sprintf("t_%d_%d", os.Getpid(), schemaSeq.Add(1))
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
		return err
	}
	return u.String(), drop, nil
}

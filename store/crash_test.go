package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashChildEnv, when set, makes the test binary a crash child: it commits
// payment results into the DSN the variable holds, printing each id once
// its result is committed, until it is killed.
const crashChildEnv = "DTMFGW_STORE_CRASH_CHILD_DSN"

// crashChildMax bounds the child should nobody kill it.
const (
	crashChildMax     = 5000
	crashChildTimeout = 60 * time.Second
)

// crashChild is the child's whole life; it returns the exit code.
func crashChild(dsn string) int {
	ctx, cancel := context.WithTimeout(context.Background(), crashChildTimeout)
	defer cancel()
	s, err := Open(ctx, dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 2
	}
	for i := range crashChildMax {
		p, err := s.CreatePayment(ctx, Payment{CallID: fmt.Sprintf("crash-%d", i), State: StateReady}, byAgent)
		if err == nil {
			p, err = s.UpdateState(ctx, p.ID, charge("idem-"+p.ID))
		}
		if err == nil {
			p, err = s.CommitResult(ctx, p.ID, Result{From: StateProcessing, State: StateApproved,
				ProcessorReference: "ch_" + p.ID, Entry: bySystem})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			return 2
		}
		// Reported only once committed: what the parent reads, the
		// database has. os.Stdout is unbuffered: one write per line.
		fmt.Fprintln(os.Stdout, p.ID)
	}
	return 0
}

// TestKillNine: a process committing results is killed with SIGKILL at an
// arbitrary moment; every result it reported as committed is there when
// the store is opened again.
func TestKillNine(t *testing.T) {
	eachBackend(t, func(t *testing.T, dsn string) {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dsn)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Read ids until there are enough, then kill mid-stream.
		const before = 40
		ids := make(chan string, crashChildMax)
		readDone := make(chan error, 1)
		go func() {
			r := bufio.NewReader(out)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					// A line cut by the kill was never reported: it does
					// not count.
					if errors.Is(err, io.EOF) {
						err = nil
					}
					close(ids)
					readDone <- err
					return
				}
				ids <- strings.TrimSuffix(line, "\n")
			}
		}()
		var reported []string
		deadline := time.After(30 * time.Second)
	wait:
		for len(reported) < before {
			select {
			case id, ok := <-ids:
				if !ok {
					break wait
				}
				reported = append(reported, id)
			case <-deadline:
				break wait
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill: %v", err)
		}
		for id := range ids {
			reported = append(reported, id)
		}
		if err := <-readDone; err != nil {
			t.Fatalf("reading the child: %v", err)
		}
		werr := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("child was not killed by SIGKILL (%v): it ended by itself after %d ids; stderr:\n%s", werr, len(reported), stderr.String())
		}
		if len(reported) < before {
			t.Fatalf("child reported %d ids before the kill, want %d; stderr:\n%s", len(reported), before, stderr.String())
		}

		s := openStore(t, dsn, newTestClock())
		ctx := ctxT(t)
		for _, id := range reported {
			p, err := s.GetPayment(ctx, id)
			if err != nil {
				t.Fatalf("reported id %s after kill -9: %v", id, err)
			}
			if p.State != StateApproved || p.ProcessorReference != "ch_"+id || p.CompletedAt.IsZero() {
				t.Fatalf("reported id %s after kill -9: %+v", id, p)
			}
			if a, err := s.Audit(ctx, id); err != nil || len(a) != 3 {
				t.Fatalf("reported id %s: %d audit entries (%v), want 3", id, len(a), err)
			}
		}
		// At most the one the kill interrupted is committed unreported;
		// nothing is half-committed (a result without its audit entry).
		approved, err := s.ListPayments(ctx, Filter{States: []State{StateApproved}, Limit: MaxListLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(approved) < len(reported) || len(approved) > len(reported)+1 {
			t.Errorf("%d approved payments after the kill, %d reported", len(approved), len(reported))
		}
		t.Logf("killed the child after %d reported results; all there", len(reported))
	})
}

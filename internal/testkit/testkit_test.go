package testkit

import (
	"testing"
	"time"
)

func TestClockMovesOnlyWhenTold(t *testing.T) {
	c := NewClock(time.Time{})
	if got := c.Now(); !got.Equal(Epoch) {
		t.Fatalf("a new clock reads %v, want Epoch %v", got, Epoch)
	}
	c.Advance(1500 * time.Millisecond)
	if got := c.Now(); !got.Equal(Epoch.Add(1500 * time.Millisecond)) {
		t.Fatalf("after Advance: %v", got)
	}
	at := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	c.Set(at)
	if got := c.Now(); !got.Equal(at) {
		t.Fatalf("after Set: %v, want %v", got, at)
	}
}

func TestSteppingClockMovesAtEveryReading(t *testing.T) {
	c := NewSteppingClock(Epoch, 20*time.Millisecond)
	a, b := c.Now(), c.Now()
	if a.Sub(Epoch) != 20*time.Millisecond || b.Sub(a) != 20*time.Millisecond {
		t.Fatalf("readings %v then %v: want 20 ms steps from Epoch", a, b)
	}
}

func TestWallClockAdvancesByOffset(t *testing.T) {
	c := NewWallClock()
	c.Advance(time.Hour)
	if d := time.Until(c.Now()); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("a wall clock advanced by an hour reads %v from now", d)
	}
}

func TestBufferKeepsEveryWrite(t *testing.T) {
	var b Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 100 {
			b.Write([]byte("x"))
		}
	}()
	for range 100 {
		b.Write([]byte("y"))
	}
	<-done
	if b.Len() != 200 || len(b.String()) != 200 || len(b.Bytes()) != 200 {
		t.Fatalf("buffer holds %d bytes, want 200", b.Len())
	}
}

func TestLimitedBufferKeepsItsStartAndNeverFails(t *testing.T) {
	b := NewLimitedBuffer(5)
	for _, w := range []string{"abc", "defg", "hij"} {
		if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
			t.Fatalf("Write(%q) = %d, %v: want all of it written, no error", w, n, err)
		}
	}
	if got := b.String(); got != "abcde" {
		t.Fatalf("kept %q, want the first 5 bytes %q", got, "abcde")
	}
}

func TestWaitForReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	WaitFor(t, "third poll", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("polled %d times, want 3", n)
	}
}

func TestPollReportsWhetherTheConditionHeld(t *testing.T) {
	n := 0
	if !Poll(func() bool { n++; return n == 2 }) || n != 2 {
		t.Fatalf("Poll returned after %d polls, want true after 2", n)
	}
	if testing.Short() {
		return // the negative case waits out WaitLimit
	}
	start := time.Now()
	if Poll(func() bool { return false }) {
		t.Fatal("Poll reported a condition that never held")
	}
	if d := time.Since(start); d < WaitLimit {
		t.Fatalf("Poll gave up after %v, before WaitLimit", d)
	}
}

func TestFreePortIsFreeForUDPAndTCP(t *testing.T) {
	p := FreePort(t)
	if p <= 0 || p > 65535 {
		t.Fatalf("port %d", p)
	}
}

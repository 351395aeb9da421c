package wake

import (
	"context"
	"testing"
	"time"
)

func TestWaitElapsed(t *testing.T) {
	if why := Wait(context.Background(), time.Millisecond, nil); why != Elapsed {
		t.Errorf("Wait = %d, want Elapsed", why)
	}
}

func TestWaitWoken(t *testing.T) {
	wake := make(chan struct{}, 1)
	wake <- struct{}{}
	if why := Wait(context.Background(), time.Hour, wake); why != Woken {
		t.Errorf("Wait = %d, want Woken", why)
	}
	if len(wake) != 0 {
		t.Error("the poke was not taken")
	}
}

func TestWaitDone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if why := Wait(ctx, time.Hour, make(chan struct{})); why != Done {
		t.Errorf("Wait = %d, want Done", why)
	}
}

func TestWaitDoneWhileWaiting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(10*time.Millisecond, cancel)
	start := time.Now()
	if why := Wait(ctx, time.Hour, nil); why != Done {
		t.Errorf("Wait = %d, want Done", why)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("Wait took %v after the context ended", d)
	}
}

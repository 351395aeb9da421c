package payment

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestPaymentsSetConfigs reloads the configurations while a payment is
// open and while other goroutines read them (run with -race): new
// payments use the new set, the open one keeps its configuration, and a
// set naming an unknown processor is refused whole.
func TestPaymentsSetConfigs(t *testing.T) {
	e := newEnv(t, nil)
	open := e.newPayment()
	old := open.Config()

	next := DefaultConfigs()[0]
	next.ID, next.Name, next.SessionTimeout = "card-v2", "Card payment v2", 90*time.Second
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if i%2 == 0 {
					if err := e.ps.SetConfigs(Settings{Configurations: []Config{next}}); err != nil {
						t.Errorf("SetConfigs: %v", err)
						return
					}
				} else {
					_, _ = e.ps.Config("card-v2")
					_ = e.ps.Configs()
				}
			}
		}()
	}
	wg.Wait()

	if _, ok := e.ps.Config(old.ID); ok {
		t.Errorf("configuration %q still offered after the reload", old.ID)
	}
	if c, ok := e.ps.Config("card-v2"); !ok || c.Name != "Card payment v2" {
		t.Errorf("the new configuration is missing: %+v %v", c, ok)
	}
	if got := open.Config(); got.ID != old.ID || got.Name != old.Name {
		t.Errorf("the open payment's configuration changed to %q", got.ID)
	}
	// New payments of the old id are refused; of the new id accepted
	// once the open one is over.
	if err := open.End(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.set.New(old.ID, Attributes{Amount: 100}); !errors.Is(err, ErrNoConfig) {
		t.Errorf("a payment of the removed configuration: %v, want ErrNoConfig", err)
	}
	p, err := e.set.New("card-v2", Attributes{Amount: 100})
	if err != nil {
		t.Fatalf("a payment of the new configuration: %v", err)
	}
	if p.Config().SessionTimeout != 90*time.Second {
		t.Errorf("new payment's session timeout %v", p.Config().SessionTimeout)
	}

	for _, bad := range []struct {
		name string
		cfg  Settings
	}{
		{"unknown processor", Settings{Configurations: []Config{func() Config { c := next; c.Processor = "acme"; return c }()}}},
		{"invalid", Settings{Configurations: []Config{func() Config { c := next; c.ID = ""; return c }()}}},
	} {
		if err := e.ps.SetConfigs(bad.cfg); err == nil {
			t.Errorf("%s: SetConfigs accepted it", bad.name)
		}
		if _, ok := e.ps.Config("card-v2"); !ok {
			t.Errorf("%s: a refused set replaced the configurations", bad.name)
		}
	}
}

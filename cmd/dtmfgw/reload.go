package main

import (
	"fmt"
	"reflect"

	"dtmfgw/session"
)

// config returns the configuration in force.
func (g *gateway) config() config {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cfg
}

// reload is what SIGHUP does: build the configuration again from the file,
// the environment and the flags, and apply what can change while serving
// (isReloadable: SIP routing, the ACL, the correlation headers and
// timeouts, the payment configurations, the log level). A change to any
// other key is logged as needing a restart and ignored. A configuration
// that does not build or validate is refused with a log line naming the
// key, and the running one stays, as it does when applying fails.
// Payments already created keep their configuration; calls in progress
// keep their routing.
func (g *gateway) reload() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	next, err := g.src.build()
	if err != nil {
		g.log.Error("configuration reload refused; the running configuration stays", "err", err)
		return err
	}
	var changed []string
	for _, k := range configKeys() {
		now, then := k.value(&g.cfg), k.value(&next)
		if reflect.DeepEqual(now.Interface(), then.Interface()) {
			continue
		}
		if !isReloadable(k.Path) {
			g.log.Warn("configuration change needs a restart; ignored until then", "key", k.Path)
			then.Set(now)
			continue
		}
		changed = append(changed, k.Path)
	}
	prev := session.PaymentsConfig{Configurations: g.payments.Configs()}
	if err := g.payments.SetConfigs(next.Payments); err != nil {
		g.log.Error("configuration reload refused; the running configuration stays", "err", err)
		return err
	}
	if err := g.b2b.Reload(next.SIP); err != nil {
		if rerr := g.payments.SetConfigs(prev); rerr != nil {
			err = fmt.Errorf("%w (and restoring payments.configurations: %v)", err, rerr)
		}
		g.log.Error("configuration reload refused; the running configuration stays", "err", err)
		return err
	}
	if g.webhooks != nil {
		g.webhooks.SetConfigs(next.Payments.Configurations)
	}
	level, _ := parseLevel(next.Log.Level)
	g.level.Set(level)
	g.cfg = next
	g.log.Info("configuration reloaded", "changed", changed)
	return nil
}

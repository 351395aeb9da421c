package gateway

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"dtmfgw/internal/certfile"
	"dtmfgw/metrics"
	"dtmfgw/payment"
)

// Config returns the configuration in force: the one Start was given, as
// the last reload changed it.
func (g *Gateway) Config() Config {
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
// keep their routing. The TLS certificates are read again too
// (reloadCertificates), whatever becomes of the configuration.
func (g *Gateway) reload() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	certErr := g.reloadCertificates()
	return errors.Join(certErr, g.reloadConfig())
}

// reloadCertificates reads the TLS listeners' certificate files again,
// from the paths in force (a changed path needs a restart, like any
// listener key): a renewed certificate serves the next handshakes, and
// connections already open keep theirs. A pair that does not load (a
// renewal half written) is refused with a log line naming its key, and
// the certificate in use stays.
func (g *Gateway) reloadCertificates() error {
	var errs error
	for i, pair := range g.certificates() {
		if pair == nil {
			continue
		}
		listener := metrics.TLSListeners[i]
		if err := pair.Reload(); err != nil {
			g.log.Error("certificate reload refused; the certificate in use stays", "listener", listener, "err", err)
			errs = errors.Join(errs, err)
			continue
		}
		g.log.Info("certificate reloaded", "listener", listener, "not_after", pair.NotAfter().UTC().Format(time.RFC3339))
	}
	return errs
}

// certificates returns the TLS listeners' certificates in the order of
// metrics.TLSListeners (http, sip), nil for a listener without TLS.
func (g *Gateway) certificates() [2]*certfile.Pair {
	return [2]*certfile.Pair{g.api.Certificate(), g.sipCert}
}

// reloadConfig is reload's configuration part; g.mu is held.
func (g *Gateway) reloadConfig() error {
	next, err := g.src.Build()
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
	prev := payment.Settings{Configurations: g.payments.Configs()}
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
	if g.level != nil {
		level, _ := parseLevel(next.Log.Level)
		g.level.Set(level)
	}
	g.cfg = next
	g.log.Info("configuration reloaded", "changed", changed)
	return nil
}

package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"sync"
	"time"

	"dtmfgw/api"
	"dtmfgw/call"
	"dtmfgw/cluster"
	"dtmfgw/internal/certfile"
	"dtmfgw/internal/randid"
	"dtmfgw/metrics"
	"dtmfgw/payment"
	"dtmfgw/paypage"
	"dtmfgw/processor"
	"dtmfgw/sip"
	"dtmfgw/sms"
	"dtmfgw/store"
	"dtmfgw/webhook"
)

// Gateway is a running dtmfgw: the store, the payments, the calls' media,
// the SIP B2BUA, the public HTTP listener and the admin listener, wired as
// `dtmfgw serve` runs them. `dtmfgw demo` runs the same one in-process.
// Start it with Start, serve with Run; a SIGHUP given to Run reloads its
// configuration (reload.go).
type Gateway struct {
	// src is what the configuration was built from, for reload to build
	// it again; level is the loggers' level, which reload may change.
	src     Sources
	level   *slog.LevelVar
	version string

	mu  sync.Mutex // serialises reloads
	cfg Config     // the configuration in force: read it with Config()

	log   *slog.Logger
	store *store.Store
	// webhooks follows payments' configurations (a SIGHUP reload updates
	// it); dispatcher delivers from the store's outbox.
	webhooks   *webhook.Directory
	dispatcher *webhook.Dispatcher
	payments   *payment.Payments
	// reconciler settles payments whose outcome a processor has not
	// told, behind the listeners (it starts after them).
	reconciler *payment.Reconciler
	calls      *call.Manager
	b2b        *sip.B2BUA
	api        *api.Server
	// sipCert is the SIP TLS listener's certificate (nil without TLS);
	// the public listener's is api.Certificate(). SIGHUP reads both again.
	sipCert *certfile.Pair

	sipAddr   netip.AddrPort
	httpAddr  net.Addr
	adminAddr net.Addr

	stopServing context.CancelFunc
	sipServed   chan error
	httpServed  chan error
	adminServed chan error
	// stopWebhooks ends the dispatcher, after the drain: the results of
	// the last calls are attempted, the rest wait in the outbox for the
	// next start.
	stopWebhooks func()
	// stopBackground ends the SMS sender, the links' expiry sweep and
	// the cluster heartbeat.
	stopBackground func()
	// cluster is this node's membership among those sharing the store;
	// events, with several nodes, the shared payment event log.
	cluster *cluster.Registry
	events  *cluster.EventLog
	// stopReconciler ends the reconciler, after the drain: asks under way
	// are abandoned (the payments stay unresolved for the next start).
	stopReconciler func()
}

// Options are what a gateway takes besides its configuration.
type Options struct {
	// Version is the build's version, for the log and the metrics;
	// "devel" when empty.
	Version string
	// Sources are what the configuration was built from: a reload
	// builds it again from them.
	Sources Sources
	// Level is the level of log's handler (NewLogger's), which a reload
	// sets from log.level; nil leaves the level to the caller.
	Level *slog.LevelVar
}

// reconcileLease is how long a node holds a payment's reconciliation:
// longer than one ask (the processor timeout bounds it).
const reconcileLease = 2 * payment.DefaultProcessTimeout

// nodeDied settles what a dead node left: its calls are gone with it, so
// its open keypad payments end as "call lost" (their records, the
// webhooks, and the forms that reconnect through another node say so);
// its charges under way are the reconciler's (under a lease). Several
// survivors may run it at once: the store's compare-and-set ends each
// payment once.
func (g *Gateway) nodeDied(ctx context.Context, node string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := g.store.RemoveNodeCalls(ctx, node); err != nil {
		g.log.Warn("cluster: a dead node's calls not forgotten", "node", node, "err", err)
	}
	ended, err := g.store.EndNodePayments(ctx, node, payment.ReasonCallLost)
	if err != nil {
		g.log.Warn("cluster: a dead node's payments not ended", "node", node, "err", err)
	}
	for _, p := range ended {
		g.log.Info("payment ended: its node died with the call", "payment", p.ID, "node", node)
	}
	g.dispatcher.Kick() // their results' webhooks
}

// ownerGone reports whether the node that held the payment's call is dead
// (or was this node's previous run): a charge of it in processing cannot
// be under way any more.
func (g *Gateway) ownerGone(ctx context.Context, paymentID string) bool {
	rt, err := g.store.PaymentRouteOf(ctx, paymentID)
	if err != nil {
		return false
	}
	if rt.NodeID == g.cluster.Self() {
		return g.payments.Payment(paymentID) == nil
	}
	_, err = g.cluster.Peer(ctx, rt.NodeID)
	return errors.Is(err, cluster.ErrNoPeer)
}

// shareCall records in the store that this node holds c, until c ends,
// so that the other nodes hand its commands here. The call does not wait
// for the store.
func (g *Gateway) shareCall(c *call.Call) {
	corr := c.Correlation()
	lc := store.LiveCall{ID: c.ID(), NodeID: g.cluster.Self(), InboundCallID: corr.InboundCallID,
		PrimaryCallID: corr.PrimaryCallID, AgentID: corr.AgentID, Outbound: corr.Direction == call.Outbound}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := g.store.AddLiveCall(ctx, lc); err != nil {
			g.log.Warn("cluster: call not shared", "call", lc.ID, "err", err)
		}
		cancel()
		<-c.Done()
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.store.RemoveLiveCall(ctx, lc.ID); err != nil {
			g.log.Warn("cluster: ended call not unshared", "call", lc.ID, "err", err)
		}
	}()
}

// linkExpiryEvery is how often links whose time has run out are ended,
// so that their payments' webhooks go out on time.
const linkExpiryEvery = time.Minute

// originOf is the scheme, host and port of a URL: the origin a browser
// sends with the page's requests.
func originOf(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	return u.Scheme + "://" + u.Host
}

// smsTexter hands a payment's link messages to the SMS sender.
type smsTexter struct {
	sender   *sms.Sender
	provider string
}

// Text queues m.
func (t smsTexter) Text(m payment.TextMessage) error {
	return t.sender.Send(sms.Message{ID: m.ID, To: m.To, Body: m.Body, Redacted: m.Redacted, PaymentID: m.PaymentID})
}

// Provider names the SMS provider.
func (t smsTexter) Provider() string { return t.provider }

// Start opens everything cfg describes (the store, the webhook
// dispatcher, the processors, the port pool, the listeners) and starts
// serving, logging to log. It returns once every listener is open. On an
// error, what was opened is closed again.
func Start(ctx context.Context, cfg Config, log *slog.Logger, opts Options) (_ *Gateway, err error) {
	// The public listener's certificate is read before anything opens: a
	// missing or bad file is refused at once, naming its key (api.New
	// reads it again, for the listener).
	if _, err := cfg.HTTP.TLS.Load(); err != nil {
		return nil, err
	}
	if err := disableCoreDumps(); err != nil {
		log.Warn("could not disable core dumps; a core file could hold card digits", "err", err)
	}
	// g is not the named result: an error return sets that to nil before
	// the deferred closers, which use g, run.
	g := &Gateway{cfg: cfg, log: log, src: opts.Sources, level: opts.Level, version: opts.Version}
	if g.version == "" {
		g.version = "devel"
	}
	var closers []func()
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
	}()
	// A result and its webhook delivery are committed together.
	g.webhooks = webhook.NewDirectory(cfg.Payments.Configurations)
	if g.store, err = store.Open(ctx, cfg.Storage.DSN, store.WithOutbox(g.webhooks.Outbox)); err != nil {
		return nil, fmt.Errorf("storage.dsn: %w", err)
	}
	closers = append(closers, func() { g.store.Close() })
	if g.dispatcher, err = webhook.New(cfg.Webhooks, g.webhooks, g.store, webhook.WithLogger(log)); err != nil {
		return nil, err
	}
	webhooksCtx, stopWebhooks := context.WithCancel(context.Background())
	webhooksDone := make(chan error, 1)
	go func() { webhooksDone <- g.dispatcher.Run(webhooksCtx) }()
	g.stopWebhooks = func() { stopWebhooks(); <-webhooksDone }
	closers = append(closers, g.stopWebhooks)
	procs, err := processor.NewAll(cfg.Processors, processor.WithLogger(log))
	if err != nil {
		return nil, err
	}
	procList := make([]processor.Processor, 0, len(procs))
	for _, p := range procs {
		procList = append(procList, p)
	}
	httpCfg := cfg.HTTP
	if len(httpCfg.APIKeys) == 0 {
		// make run works with nothing configured: a key for this run,
		// logged once (an API key is not card data).
		key := NewAPIKey()
		httpCfg.APIKeys = []string{key}
		log.Warn("no API key configured (http.api_keys, --api-key, DTMFGW_API_KEY): generated one for this run")
		log.Info("api_key_generated", "api_key", key)
	}
	ln, err := net.Listen("tcp", httpCfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	closers = append(closers, func() { ln.Close() })
	g.httpAddr = ln.Addr()
	if httpCfg.PublicURL == "" && httpCfg.Listen != ln.Addr().String() {
		// Port 0 (tests, the demo's default): form URLs carry the real port.
		httpCfg.Listen = ln.Addr().String()
	}
	// Digital payments' links go out by SMS through the configured
	// provider, queued and retried by the sender; each message's delivery
	// is recorded with its payment.
	smsCfg := cfg.SMS
	if err := smsCfg.Resolve(os.Getenv); err != nil {
		return nil, err
	}
	provider, err := sms.New(smsCfg, sms.WithLogger(log))
	if err != nil {
		return nil, err
	}
	var payments *payment.Payments // set below; the sender reports after Start
	sender, err := sms.NewSender(provider, sms.WithLogger(log), sms.WithReport(func(st sms.Status) {
		payments.NoteMessage(context.Background(), payment.MessageStatus{ID: st.MessageID, PaymentID: st.PaymentID,
			State: st.State, Attempts: st.Attempts, ProviderID: st.ProviderID, ErrorCode: st.ErrorCode})
	}))
	if err != nil {
		return nil, err
	}
	// Every payment event reaches the webhooks; with several nodes, the
	// shared event log too (a stream resuming on another node reads it).
	hook := g.dispatcher.HandleEvent
	var events *cluster.EventLog
	if cfg.Cluster.Enabled {
		events = cluster.NewEventLog(g.store, log)
		g.events = events
		hook = func(configID string, e payment.Event) {
			g.dispatcher.HandleEvent(configID, e)
			events.Hook(configID, e)
		}
	}
	pageURL := httpCfg.PublicBase() + "/pay/"
	if payments, err = payment.NewPayments(cfg.Payments, payment.WithProcessors(procList...),
		payment.WithStore(payment.StorePayments(g.store)), payment.WithLogger(log),
		payment.WithEventHook(hook),
		payment.WithDigital(g.store, pageURL, smsTexter{sender, provider.Name()})); err != nil {
		return nil, err
	}
	g.payments = payments
	backgroundCtx, stopBackground := context.WithCancel(context.Background())
	var background sync.WaitGroup
	background.Go(func() { _ = sender.Run(backgroundCtx) })
	background.Go(func() { payments.RunLinkExpiry(backgroundCtx, linkExpiryEvery) })
	if events != nil {
		background.Go(func() { events.Run(backgroundCtx) })
	}
	g.stopBackground = func() { stopBackground(); background.Wait() }
	closers = append(closers, g.stopBackground)
	var apiOpts []api.Option
	if ob, ok := provider.(*sms.Outbox); ok {
		apiOpts = append(apiOpts, api.WithSMSOutbox(ob.Messages))
	}
	// The hosted payment page, on the public listener beside the API: a
	// POST of it must come from the page's own origin. Its CSRF tokens are
	// made under the form token's secret when one is set, so that every
	// node of a cluster (and this node after a restart) accepts them.
	pageOpts := []paypage.Option{paypage.WithLogger(log), paypage.WithHSTS(httpCfg.TLS.Enabled()),
		paypage.WithPublicOrigin(originOf(httpCfg.PublicBase()))}
	if httpCfg.FormTokenSecret != "" {
		pageOpts = append(pageOpts, paypage.WithSecret([]byte(httpCfg.FormTokenSecret)))
	}
	page, err := paypage.New(payments, pageOpts...)
	if err != nil {
		return nil, err
	}
	apiOpts = append(apiOpts, api.WithPage(page))
	// This node among those sharing the store: it heartbeats from now on
	// (alone, on SQLite, it lists itself).
	if g.cluster, err = cluster.New(cfg.Cluster, g.store, httpCfg.PublicBase(), cfg.SIP.Listen, cluster.WithLogger(log),
		cluster.WithOnDead(g.nodeDied)); err != nil {
		return nil, err
	}
	apiOpts = append(apiOpts, api.WithCluster(g.cluster))
	// Payments a previous run left with a processor, and those a
	// processor leaves without an answer in this one, are settled by
	// asking, never by charging again; in the background, once the
	// listeners are open, so that no processor holds up the start.
	reconcileOpts := []payment.ReconcilerOption{payment.WithReconcilePayments(g.payments), payment.WithReconcileLogger(log)}
	if g.store.Dialect() == "postgres" {
		// Several nodes may share it: a record in processing may be
		// another node's charge, under way.
		reconcileOpts = append(reconcileOpts, payment.WithReconcileProcessingGrace(payment.DefaultProcessingGrace))
	}
	if cfg.Cluster.Enabled {
		// One node at a time asks a processor about a payment.
		reconcileOpts = append(reconcileOpts, payment.WithReconcileLease(func(ctx context.Context, id string) bool {
			ok, err := g.store.ClaimLease(ctx, "reconcile:"+id, g.cluster.Self(), reconcileLease)
			return err == nil && ok
		}), payment.WithReconcileOwnerGone(g.ownerGone))
	}
	if g.reconciler, err = payment.NewReconciler(g.store, procs, cfg.Payments.Reconcile, reconcileOpts...); err != nil {
		return nil, err
	}
	newCall := g.payments.TakeCall
	if cfg.Cluster.Enabled {
		// Any node finds here which node holds a call. A previous run's
		// calls died with it.
		if _, err := g.store.RemoveNodeCalls(ctx, g.cluster.Self()); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		newCall = func(c *call.Call) {
			g.payments.TakeCall(c)
			g.shareCall(c)
		}
	}
	if g.calls, err = call.NewManager(cfg.Media, call.WithLogger(log), call.WithNewCall(newCall)); err != nil {
		return nil, err
	}
	closers = append(closers, func() { g.calls.Close() })
	if g.b2b, err = sip.NewB2BUA(cfg.SIP, g.calls, log); err != nil {
		return nil, err
	}
	if g.api, err = api.New(httpCfg, g.calls, g.payments, g.store, log, apiOpts...); err != nil {
		return nil, err
	}
	adminLn, err := net.Listen("tcp", cfg.Admin.Listen)
	if err != nil {
		return nil, fmt.Errorf("admin.listen: %w", err)
	}
	closers = append(closers, func() { adminLn.Close() })
	g.adminAddr = adminLn.Addr()
	admin, err := g.adminHandler(procList)
	if err != nil {
		return nil, err
	}
	ls, err := sip.Listen(cfg.SIP)
	if err != nil {
		return nil, err
	}
	g.sipAddr, g.sipCert = ls.Addr(), ls.Cert
	// Registered once every address is known: the first heartbeat now,
	// so that /readyz and the other nodes see this one at once.
	g.cluster.SetSIPAddress(g.sipAddr.String())
	_ = g.cluster.Beat(ctx)
	background.Go(func() { g.cluster.Run(backgroundCtx) })
	serveCtx, stop := context.WithCancel(context.Background())
	g.stopServing = stop
	g.sipServed, g.httpServed, g.adminServed = make(chan error, 1), make(chan error, 1), make(chan error, 1)
	// The admin listener serves until the drain is over, so /readyz says
	// 503 while the gateway drains.
	go func() { g.adminServed <- metrics.ServeAdmin(serveCtx, adminLn, admin) }()
	go func() { g.sipServed <- g.b2b.Serve(serveCtx, ls) }()
	go func() { g.httpServed <- g.api.Serve(serveCtx, ln) }()
	reconcileCtx, stopReconciler := context.WithCancel(context.Background())
	reconciled := make(chan error, 1)
	go func() { reconciled <- g.reconciler.Run(reconcileCtx) }()
	g.stopReconciler = func() { stopReconciler(); <-reconciled }
	target := cfg.SIP.DefaultTarget
	if target == "" {
		target = "none (calls need a route or the override header)"
	}
	log.Info("dtmfgw serving", "version", g.version, "sip", g.sipAddr.String(), "http", g.httpAddr.String(),
		"https", httpCfg.TLS.Enabled(),
		"admin", g.adminAddr.String(),
		"rtp_ports", cfg.Media.RTPPorts.String(), "default_target", target,
		"mask_events", cfg.Media.MaskEvents.String(), "mask_inband", cfg.Media.MaskInband.String(),
		"storage", g.store.Dialect(), "processors", len(procs))
	return g, nil
}

// Run serves until ctx ends, then drains: new calls and API changes are
// refused, calls in progress get up to sip.drain_timeout, and everything
// is closed. A listener that fails ends it early with its error. Each
// receive on hup (SIGHUP, nil for none) reloads the configuration
// (reload), its outcome given to reloaded if not nil.
func (g *Gateway) Run(ctx context.Context, hup <-chan os.Signal, reloaded func(error)) error {
	var early error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case early = <-g.sipServed:
			g.sipServed <- early
			break wait
		case early = <-g.httpServed:
			g.httpServed <- early
			break wait
		case <-hup:
			err := g.reload()
			if reloaded != nil {
				reloaded(err)
			}
		}
	}
	err := g.shutdown()
	return errors.Join(early, err)
}

// shutdown drains and closes the gateway.
func (g *Gateway) shutdown() error {
	drain := g.Config().SIP.DrainTimeout // SIGHUP may have changed it
	g.log.Info("draining", "calls", g.b2b.Calls(), "drain_timeout", drain.String())
	g.api.Drain()
	g.cluster.SetDraining(true)
	drainCtx, cancel := context.WithTimeout(context.Background(), drain)
	err := g.b2b.Shutdown(drainCtx)
	cancel()
	if errors.Is(err, context.DeadlineExceeded) {
		g.log.Warn("drain timeout: remaining calls hung up")
		err = nil
	}
	g.stopServing()
	err = errors.Join(err, <-g.sipServed, <-g.httpServed, <-g.adminServed)
	g.stopReconciler()
	g.stopBackground()
	g.calls.Close()
	g.stopWebhooks()
	g.store.Close()
	g.log.Info("stopped")
	return err
}

// SIPAddr returns the address SIP listens on, UDP and TCP.
func (g *Gateway) SIPAddr() netip.AddrPort { return g.sipAddr }

// HTTPAddr returns the address of the public listener: the API and the
// agent form.
func (g *Gateway) HTTPAddr() net.Addr { return g.httpAddr }

// AdminAddr returns the address of the admin listener: /metrics,
// /healthz, /readyz, /debug/pprof/.
func (g *Gateway) AdminAddr() net.Addr { return g.adminAddr }

// Calls returns the calls' media: the manager the B2BUA asks for each
// call's sockets.
func (g *Gateway) Calls() *call.Manager { return g.calls }

// Payments returns the payments: their configurations and each call's
// payment set.
func (g *Gateway) Payments() *payment.Payments { return g.payments }

// B2BUA returns the SIP B2BUA.
func (g *Gateway) B2BUA() *sip.B2BUA { return g.b2b }

// Webhooks returns the webhook of each payment configuration, as a reload
// last set them.
func (g *Gateway) Webhooks() *webhook.Directory { return g.webhooks }

// NewAPIKey returns a random API key, for a run that configured none.
func NewAPIKey() string {
	return "dtmfgw_" + randid.New(24)
}

// adminHandler registers the gateway's metrics on a registry of its own
// and returns the admin listener's handler: /metrics, /healthz, /readyz
// (ports, storage, every processor; 503 while draining), /debug/pprof/.
func (g *Gateway) adminHandler(procs []processor.Processor) (http.Handler, error) {
	reg := metrics.New(g.version)
	err := errors.Join(reg.AddMedia(g.calls), reg.AddPayments(g.payments), reg.AddSIP(g.b2b),
		reg.SSESubscribers(func() float64 { return float64(g.api.Streams()) }),
		reg.PaymentsUnresolved(func() (int, time.Duration) {
			n, _ := g.reconciler.Unresolved()
			return n, g.reconciler.OldestAge()
		}),
		reg.TLSCertificateExpiry(func() (at [2]time.Time) {
			for i, c := range g.certificates() {
				if c != nil {
					at[i] = c.NotAfter()
				}
			}
			return at
		}),
		reg.WebhookDeliveries(func() (delivered, retry, gaveUp uint64) {
			st := g.dispatcher.Stats()
			return st.Delivered, st.Failed, st.GaveUp // a failed attempt is retried
		}),
		reg.WebhookPending(func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			n, err := g.dispatcher.Pending(ctx)
			if err != nil {
				return math.NaN() // unknown, not zero
			}
			return float64(n)
		}))
	if err != nil {
		return nil, err
	}
	checks := []metrics.Check{metrics.PortsCheck(g.calls), metrics.StoreCheck(g.store)}
	if g.cluster.Enabled() {
		checks = append(checks, metrics.Check{Name: "cluster", Check: g.cluster.Ready})
		err := reg.ClusterNodes(func() (alive, dead float64) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			ns, err := g.cluster.Nodes(ctx)
			if err != nil {
				return math.NaN(), math.NaN() // unknown, not zero
			}
			for _, n := range ns {
				if n.Alive {
					alive++
				} else {
					dead++
				}
			}
			return alive, dead
		})
		if g.events != nil {
			err = errors.Join(err, reg.ClusterEventsDropped(g.events.Dropped))
		}
		if err != nil {
			return nil, err
		}
	}
	for _, p := range procs {
		checks = append(checks, metrics.ProcessorCheck(p))
	}
	return metrics.AdminHandler(reg, g.b2b.Draining, checks...), nil
}

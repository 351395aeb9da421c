package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"dtmfgw/call"
	"dtmfgw/internal/testkit"
	"dtmfgw/internal/testkit/sipptest"
	"dtmfgw/payment"
	"dtmfgw/processor"
	"dtmfgw/sip"
	"dtmfgw/store"
)

// gateway is dtmfgw as serve runs it, in-process on loopback: the B2BUA,
// the media manager with payments on a SQLite store and the sandbox, and
// a registry with every collector.
type gateway struct {
	b2b      *sip.B2BUA
	calls    *call.Manager
	payments *payment.Payments
	store    *store.Store
	reg      *Registry
	addr     string
}

func startGateway(t *testing.T, target string) *gateway {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "dtmfgw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	procs, err := processor.NewAll(processor.DefaultConfigs())
	if err != nil {
		t.Fatal(err)
	}
	var list []processor.Processor
	for _, p := range procs {
		list = append(list, p)
	}
	payments, err := payment.NewPayments(payment.DefaultSettings(), payment.WithProcessors(list...),
		payment.WithStore(payment.StorePayments(st)), payment.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	mc := call.DefaultMediaConfig()
	first := testkit.FreeRange(t, testkit.ZoneMetrics, 8)
	mc.RTPPorts = call.PortRange{Min: first, Max: first + 15}
	calls, err := call.NewManager(mc, call.WithLogger(log), call.WithNewCall(payments.TakeCall))
	if err != nil {
		t.Fatal(err)
	}
	cfg := sip.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DefaultTarget = target
	b2b, err := sip.NewB2BUA(cfg, calls, log)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := sip.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- b2b.Serve(sctx, ls) }()
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		defer dcancel()
		_ = b2b.Shutdown(dctx)
		cancel()
		<-served
		calls.Close()
	})
	reg := New("test")
	for _, err := range []error{reg.AddMedia(calls), reg.AddPayments(payments), reg.AddSIP(b2b)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return &gateway{b2b: b2b, calls: calls, payments: payments, store: st, reg: reg, addr: ls.Addr().String()}
}

// scrape gathers the registry and returns its families by name.
func scrape(t *testing.T, reg *Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	return byName
}

// value returns the counter or gauge value, or the histogram's count, of
// the series of family name with exactly the labels given (name=value
// pairs); -1 if there is none.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	mf := mfs[name]
	if mf == nil {
		return -1
	}
next:
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		for i := 0; i < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// enums are the label values each dtmfgw label may take; a label not
// listed here fails TestCallThroughGatewayShowsInMetrics.
var enums = map[string][]string{
	"leg":       Legs,
	"kind":      PacketKinds,
	"reason":    append(append(append(append([]string{}, DropReasons...), MaskReasons...), "bye_caller", "bye_agent", "cancel", "rejected", "ring_timeout", "media_timeout", "drain", "error"), sip.RefusalReasons[:]...),
	"source":    PressSources,
	"direction": append([]string{"in", "out"}, RelayDirections...),
	"result":    append(append([]string{}, CallResults...), PaymentResults...),
	"method":    sip.Methods[:],
	"class":     sip.ResponseClasses[:],
	"outcome":   append(append([]string{}, payment.PaymentOutcomes[:]...), WebhookOutcomes...),
	"processor": {"sandbox"},
	"listener":  TLSListeners,
	"version":   {"test"},
	"goversion": nil, // runtime.Version(): one value per binary
	"state":     append([]string{"created", "sent", "opened", "paid", "expired", "cancelled", "locked", "alive", "dead"}, payment.SMSStates...),
}

func TestCallThroughGatewayShowsInMetrics(t *testing.T) {
	sipptest.NeedSIPp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()

	rec, err := sipptest.NewRecorder(0)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	agent, err := sipptest.Start(ctx, sipptest.UASAnswer, sipptest.Options{MediaSink: rec.Addr(), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	gw := startGateway(t, "sip:agent@"+agent.Local().String())

	// Before any call: every series promlint-clean, the counters at 0.
	before := scrape(t, gw.reg)
	if v := value(before, "dtmfgw_calls_total"); v != 0 {
		t.Fatalf("calls_total before a call: %v", v)
	}

	// The caller keys the canary card as RFC 4733 events and in-band
	// tones at once, after a lead long enough to open a payment.
	c := sipptest.CallerRTP{Keys: sipptest.CanaryCard, Mode: sipptest.Both, Lead: 1500 * time.Millisecond}
	pcap := filepath.Join(t.TempDir(), sipptest.PcapName)
	d, err := c.WriteFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var res sipptest.Result
	go func() {
		var err error
		res, err = sipptest.Run(ctx, sipptest.UACCall, sipptest.Options{Remote: netipAddr(t, gw.addr), CallerPcap: pcap,
			CallDuration: d + 300*time.Millisecond, Dir: t.TempDir()})
		done <- err
	}()
	if err := rec.WaitPackets(ctx, 1); err != nil {
		t.Fatal(err)
	}
	live := gw.calls.List(call.ListFilter{})
	if len(live) != 1 {
		t.Fatalf("%d calls, want 1", len(live))
	}
	mid := scrape(t, gw.reg)
	if v := value(mid, "dtmfgw_calls_active"); v != 1 {
		t.Errorf("calls_active during the call: %v, want 1", v)
	}
	set := gw.payments.Set(live[0].ID())
	if set == nil {
		t.Fatal("no payment set for the call")
	}
	p, err := set.New("card", payment.Attributes{Amount: 100, Currency: "GBP"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Arm("card_number"); err != nil {
		t.Fatal(err)
	}
	// The payment set's bus closes after the payment's last event, once
	// the call has ended: the test waits on it for the cancellation.
	sub, err := set.Events().Subscribe(payment.MaxSubscriberBuffer)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Check(1); err != nil {
			t.Fatalf("caller: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the caller did not finish")
	}
	if err := gw.calls.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	for open := true; open; {
		select {
		case _, open = <-sub.C():
		case <-ctx.Done():
			t.Fatal("the payment's events did not end with the call")
		}
	}

	after := scrape(t, gw.reg)
	keys := float64(len(sipptest.CanaryCard))
	for _, c := range []struct {
		name   string
		labels []string
		check  func(float64) bool
		want   string
	}{
		{"dtmfgw_calls_total", nil, eq(1), "1"},
		{"dtmfgw_calls_active", nil, eq(0), "0"},
		{"dtmfgw_calls_terminated_total", []string{"result", "answered", "reason", "bye_caller"}, eq(1), "1"},
		{"dtmfgw_rtp_packets_total", []string{"leg", "caller", "kind", "audio", "direction", "in"}, gt(0), "> 0"},
		{"dtmfgw_rtp_packets_total", []string{"leg", "caller", "kind", "event", "direction", "in"}, gt(0), "> 0"},
		{"dtmfgw_rtp_packets_total", []string{"leg", "agent", "kind", "audio", "direction", "out"}, gt(0), "> 0"},
		{"dtmfgw_rtp_packets_total", []string{"leg", "agent", "kind", "event", "direction", "out"}, eq(0), "0 (events masked)"},
		{"dtmfgw_rtp_bytes_total", []string{"leg", "caller", "direction", "in"}, gt(0), "> 0"},
		{"dtmfgw_rtp_bytes_total", []string{"leg", "agent", "direction", "out"}, gt(0), "> 0"},
		{"dtmfgw_dtmf_masked_presses_total", nil, eq(keys), "every key"},
		{"dtmfgw_mask_packets_total", []string{"reason", "replaced"}, gt(0), "> 0 (the presses)"},
		{"dtmfgw_relay_added_latency_seconds", []string{"direction", "caller_to_agent"}, gt(0), "count > 0"},
		{"dtmfgw_call_setup_seconds", nil, eq(1), "count 1"},
		{"dtmfgw_rtp_jitter_seconds", []string{"leg", "caller"}, eq(1), "count 1"},
		{"dtmfgw_dtmf_detect_latency_seconds", []string{"source", "rfc4733"}, gt(0), "count > 0"},
		{"dtmfgw_press_event_latency_seconds", nil, gt(0), "count > 0"},
		{"dtmfgw_payments_total", []string{"result", "cancelled"}, eq(1), "1 (the call ended)"},
		{"dtmfgw_sip_requests_total", []string{"method", "INVITE", "direction", "in"}, eq(1), "1"},
		{"dtmfgw_sip_requests_total", []string{"method", "INVITE", "direction", "out"}, eq(1), "1"},
		{"dtmfgw_sip_requests_total", []string{"method", "BYE", "direction", "out"}, eq(1), "1"},
		{"dtmfgw_sip_responses_total", []string{"method", "INVITE", "class", "2xx", "direction", "out"}, ge(1), "≥ 1"},
		{"dtmfgw_sip_responses_total", []string{"method", "INVITE", "class", "2xx", "direction", "in"}, ge(1), "≥ 1"},
		{"dtmfgw_sip_requests_refused_total", []string{"method", "BYE", "reason", "wrong_tag"}, eq(0), "0 (the call's own BYE)"},
		{"dtmfgw_port_pool_size_ports", nil, eq(16), "16"},
		{"dtmfgw_build_info", []string{"version", "test", "goversion", goVersion()}, eq(1), "1"},
	} {
		if v := value(after, c.name, c.labels...); !c.check(v) {
			t.Errorf("%s%v = %v, want %s", c.name, c.labels, v, c.want)
		}
	}
	// Every press once, by the source that told it first.
	if n := value(after, "dtmfgw_dtmf_presses_total", "source", "rfc4733") + value(after, "dtmfgw_dtmf_presses_total", "source", "inband"); n != keys {
		t.Errorf("presses by rfc4733 and inband: %v, want %v", n, keys)
	}

	checkScrape(t, gw.reg)
}

// checkScrape lints a full scrape, and walks it: no label outside its
// enum, no card digits anywhere.
func checkScrape(t *testing.T, reg *Registry) {
	t.Helper()
	mfs, err := reg.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "dtmfgw_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				allowed, known := enums[lp.GetName()]
				if !known {
					t.Errorf("%s: label %q has no enum", mf.GetName(), lp.GetName())
					continue
				}
				if allowed != nil && !contains(allowed, lp.GetValue()) {
					t.Errorf("%s: %s=%q is outside its enum", mf.GetName(), lp.GetName(), lp.GetValue())
				}
			}
		}
	}
	// The canary: the whole exposition, as Prometheus reads it, holds no
	// run of the card number's digits (its last 6 would already be too
	// many).
	srv := httptest.NewServer(reg.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	card := sipptest.CanaryCard
	for i := 0; i+6 <= len(card); i++ {
		if strings.Contains(string(body), card[i:i+6]) {
			t.Fatalf("the scrape holds 6 digits of the card number at offset %d", i)
		}
	}
}

func eq(w float64) func(float64) bool { return func(v float64) bool { return v == w } }
func gt(w float64) func(float64) bool { return func(v float64) bool { return v > w } }
func ge(w float64) func(float64) bool { return func(v float64) bool { return v >= w } }

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

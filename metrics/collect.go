package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"dtmfgw/call"
	"dtmfgw/payment"
	"dtmfgw/sip"
)

// Label values of the media series. Each is a fixed set: a metric never
// grows with calls.
var (
	// Legs are the leg label values.
	Legs = []string{"caller", "agent"}
	// PacketKinds are the kind label values of dtmfgw_rtp_packets_total.
	PacketKinds = []string{"audio", "event", "other"}
	// DropReasons are the reason label values of
	// dtmfgw_rtp_dropped_packets_total.
	DropReasons = []string{"wrong_source", "malformed", "oversize", "unknown_pt"}
	// PressSources are the source label values of the DTMF series.
	PressSources = []string{"rfc4733", "inband", "sip_info"}
	// MaskReasons are the reason label values of
	// dtmfgw_mask_packets_total.
	MaskReasons = []string{"replaced", "stalled", "late", "reordered", "duplicate"}
	// RelayDirections are the direction label values of
	// dtmfgw_relay_added_latency_seconds.
	RelayDirections = []string{"caller_to_agent", "agent_to_caller"}
	// CallResults are the result label values of
	// dtmfgw_calls_terminated_total.
	CallResults = []string{"answered", "cancelled", "rejected", "failed"}
	// PaymentResults are the result label values of dtmfgw_payments_total.
	PaymentResults = []string{"approved", "declined", "failed", "cancelled", "timed_out", "reconciling"}
)

// endReasonLabels maps the call's end reasons to the reason label of
// dtmfgw_calls_terminated_total.
var endReasonLabels = map[call.EndReason]string{
	call.EndCallerHangup:       "bye_caller",
	call.EndAgentHangup:        "bye_agent",
	call.EndCallerCancel:       "cancel",
	call.EndAgentRejected:      "rejected",
	call.EndRingTimeout:        "ring_timeout",
	call.EndCallerMediaTimeout: "media_timeout",
	call.EndAgentMediaTimeout:  "media_timeout",
	call.EndShutdown:           "drain",
	call.EndError:              "error",
}

// termination returns the result and reason labels of an ended call.
func termination(t call.Termination) (result, reason string) {
	reason = endReasonLabels[t.Reason]
	if reason == "" {
		reason = "error"
	}
	switch {
	case t.Answered:
		return "answered", reason
	case t.Reason == call.EndCallerCancel:
		return "cancelled", reason
	case t.Reason == call.EndAgentRejected:
		return "rejected", reason
	}
	return "failed", reason
}

// mediaCollector reads a call.Manager once per scrape.
type mediaCollector struct {
	m *call.Manager

	active, total, terminated             *prometheus.Desc
	packets, bytes, dropped, lost, jitter *prometheus.Desc
	relayLatency, presses, detect, masked *prometheus.Desc
	maskPackets, poolInUse, poolSize      *prometheus.Desc
}

// AddMedia registers the call, RTP, relay, DTMF and port pool series,
// read from m at scrape time.
func (r *Registry) AddMedia(m *call.Manager) error {
	c := &mediaCollector{
		m:          m,
		active:     newDesc("calls_active", "Calls bridged through the gateway now (ports held)."),
		total:      newDesc("calls_total", "Calls created since start: every INVITE that got media ports."),
		terminated: newDesc("calls_terminated_total", "Calls ended, by result (answered, cancelled, rejected, failed) and reason.", "result", "reason"),
		packets:    newDesc("rtp_packets_total", "RTP packets by leg, kind (audio, event: RFC 4733, other) and direction (in: received from the leg's peer; out: sent to it).", "leg", "kind", "direction"),
		bytes:      newDesc("rtp_bytes_total", "RTP datagram bytes (header and payload) by leg and direction.", "leg", "direction"),
		dropped:    newDesc("rtp_dropped_packets_total", "Datagrams dropped on a leg: from a source other than the signalled one, not RTP, too large, or of an unknown payload type.", "leg", "reason"),
		lost:       newDesc("rtp_lost_packets_total", "RTP packets lost on the way to a leg (RFC 3550 cumulative loss, per call clamped at zero).", "leg"),
		jitter:     newDesc("rtp_jitter_seconds", "Each call leg's RFC 3550 interarrival jitter of the stream it received, observed at the call's end.", "leg"),
		relayLatency: newDesc("relay_added_latency_seconds",
			"Time from reading an RTP datagram to having relayed it, by direction; the masking look-ahead is not included.", "direction"),
		presses: newDesc("dtmf_presses_total", "Caller key presses, by the source that reported them first (one count per press).", "source"),
		detect:  newDesc("dtmf_detect_latency_seconds", "Time from a press's first packet (RFC 4733) or tone onset (in-band) to its detection.", "source"),
		masked:  newDesc("dtmf_masked_presses_total", "Key presses the agent heard as the mask tone instead of the digit."),
		maskPackets: newDesc("mask_packets_total",
			"Caller audio packets the masking pipeline did not send on time as they came, by reason: replaced (sent with the mask tone or silence for a press or a suspected tone), "+
				"stalled (held look-ahead replaced by silence because the caller's audio stopped mid-stream), late (sent late, nothing replaced, because the gateway fell behind; counted in packet times), "+
				"reordered (dropped: arrived after a later packet was sent), duplicate (dropped: a repeat).", "reason"),
		poolInUse: newDesc("port_pool_in_use_ports",
			"RTP ports held by live calls (two per RTP/RTCP pair; draining ports are not counted)."),
		poolSize: newDesc("port_pool_size_ports", "RTP ports in the configured range usable as RTP/RTCP pairs."),
	}
	return r.register(c)
}

func (c *mediaCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, c.active, c.total, c.terminated, c.packets, c.bytes, c.dropped,
		c.lost, c.jitter, c.relayLatency, c.presses, c.detect, c.masked, c.maskPackets, c.poolInUse, c.poolSize)
}

func (c *mediaCollector) Collect(ch chan<- prometheus.Metric) {
	mm := c.m.Metrics()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	gauge(c.active, float64(mm.Stats.Active))
	counter(c.total, mm.Stats.Created)
	terms := make(map[[2]string]uint64)
	for t, n := range mm.Terminated {
		res, reason := termination(t)
		terms[[2]string{res, reason}] += n
	}
	for k, n := range terms {
		counter(c.terminated, n, k[0], k[1])
	}

	st := mm.Calls
	pl, caller, agent := st.Pipeline, st.Relay.Caller, st.Relay.Agent
	// The caller's packets are classified by the masking pipeline; the
	// agent's are relayed unchanged, told apart by payload type only.
	counter(c.packets, pl.AudioPackets, "caller", "audio", "in")
	counter(c.packets, pl.EventPackets+pl.GuessedEventPackets, "caller", "event", "in")
	counter(c.packets, pl.ComfortNoise+pl.Other, "caller", "other", "in")
	agentEvents := min(agent.Received.EventPackets, agent.Received.Packets)
	counter(c.packets, agent.Received.Packets-agentEvents, "agent", "audio", "in")
	counter(c.packets, agentEvents, "agent", "event", "in")
	// Out: what each leg sent its peer. Toward the agent, the events
	// forwarded (only with event masking off); toward the caller, the
	// agent's packets as they came.
	fwdEvents := min(sat(pl.EventPackets+pl.GuessedEventPackets, pl.EventsDropped), agent.Sent.Packets)
	counter(c.packets, agent.Sent.Packets-fwdEvents, "agent", "audio", "out")
	counter(c.packets, fwdEvents, "agent", "event", "out")
	backEvents := min(agentEvents, caller.Sent.Packets)
	counter(c.packets, caller.Sent.Packets-backEvents, "caller", "audio", "out")
	counter(c.packets, backEvents, "caller", "event", "out")
	for i, leg := range []struct {
		in, out, wrong, malformed, oversize, unknown uint64
		lost                                         int64
	}{
		{caller.Received.Bytes, caller.Sent.Bytes, caller.Received.DroppedWrongSource, caller.Received.DroppedMalformed, caller.Received.DroppedOversize, pl.Other, caller.Received.Lost},
		{agent.Received.Bytes, agent.Sent.Bytes, agent.Received.DroppedWrongSource, agent.Received.DroppedMalformed, agent.Received.DroppedOversize, 0, agent.Received.Lost},
	} {
		counter(c.bytes, leg.in, Legs[i], "in")
		counter(c.bytes, leg.out, Legs[i], "out")
		counter(c.dropped, leg.wrong, Legs[i], "wrong_source")
		counter(c.dropped, leg.malformed, Legs[i], "malformed")
		counter(c.dropped, leg.oversize, Legs[i], "oversize")
		counter(c.dropped, leg.unknown, Legs[i], "unknown_pt")
		counter(c.lost, uint64(max(leg.lost, 0)), Legs[i])
	}
	ch <- constHistogram(c.jitter, mm.CallerJitter, "caller")
	ch <- constHistogram(c.jitter, mm.AgentJitter, "agent")
	ch <- constHistogram(c.relayLatency, mm.CallerToAgent, "caller_to_agent")
	ch <- constHistogram(c.relayLatency, mm.AgentToCaller, "agent_to_caller")
	d := st.Presses
	counter(c.presses, d.RFC4733, "rfc4733")
	counter(c.presses, d.Inband, "inband")
	counter(c.presses, d.SIPInfoFirst, "sip_info")
	ch <- constHistogram(c.detect, mm.DetectRFC4733, "rfc4733")
	ch <- constHistogram(c.detect, mm.DetectInband, "inband")
	counter(c.masked, pl.MaskedPresses)
	counter(c.maskPackets, pl.Masked, "replaced")
	counter(c.maskPackets, pl.StalledPackets, "stalled")
	counter(c.maskPackets, pl.BehindPackets, "late")
	counter(c.maskPackets, pl.Late, "reordered")
	counter(c.maskPackets, pl.Duplicates, "duplicate")
	gauge(c.poolInUse, float64(2*mm.Stats.PortPairsInUse))
	gauge(c.poolSize, float64(2*mm.Stats.PortPairs))
}

// sat returns a−b, or 0 when b > a.
func sat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// paymentsCollector reads payment.Payments once per scrape.
type paymentsCollector struct {
	p                                *payment.Payments
	results, processor, pressToEvent *prometheus.Desc
	links, sms                       *prometheus.Desc
}

// paymentStates maps the result label values to payment states.
var paymentStates = map[string]payment.State{
	"approved": payment.StateApproved, "declined": payment.StateDeclined, "failed": payment.StateFailed,
	"cancelled": payment.StateCancelled, "timed_out": payment.StateTimedOut, "reconciling": payment.StateReconciling,
}

// AddPayments registers the payment, processor and press-to-event series,
// read from p at scrape time.
func (r *Registry) AddPayments(p *payment.Payments) error {
	return r.register(&paymentsCollector{
		p: p,
		results: newDesc("payments_total",
			"Payments reaching a result: approved, declined, failed, cancelled, timed_out, or reconciling (no answer from the processor; counted again when settled).", "result"),
		processor: newDesc("processor_request_duration_seconds",
			"Duration of requests to a payment processor (charges and reconciliations), by configured processor and outcome (approved, declined, error, unknown).", "processor", "outcome"),
		pressToEvent: newDesc("press_event_latency_seconds",
			"Time from a key press being detected to its progress event (the agent form's dot) being published to subscribers."),
		links: newDesc("payment_links_total",
			"Digital payments' links entering each state: created, sent, opened, paid, expired, cancelled, locked.", "state"),
		sms: newDesc("sms_messages_total",
			"SMS carrying payment links, by delivery state as the SMS sender reports it: queued, sent, failed.", "state"),
	})
}

func (c *paymentsCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, c.results, c.processor, c.pressToEvent, c.links, c.sms)
}

func (c *paymentsCollector) Collect(ch chan<- prometheus.Metric) {
	pm := c.p.Metrics()
	for _, res := range PaymentResults {
		ch <- prometheus.MustNewConstMetric(c.results, prometheus.CounterValue, float64(pm.Results[paymentStates[res]]), res)
	}
	for name, hs := range pm.Processor {
		for i, h := range hs {
			ch <- constHistogram(c.processor, h, name, payment.PaymentOutcomes[i])
		}
	}
	ch <- constHistogram(c.pressToEvent, pm.PressEvent)
	for st, n := range pm.Links {
		ch <- prometheus.MustNewConstMetric(c.links, prometheus.CounterValue, float64(n), st.String())
	}
	for _, st := range payment.SMSStates {
		ch <- prometheus.MustNewConstMetric(c.sms, prometheus.CounterValue, float64(pm.SMS[st]), st)
	}
}

// sipCollector reads a B2BUA's counters once per scrape.
type sipCollector struct {
	b                                   *sip.B2BUA
	requests, responses, refused, setup *prometheus.Desc
}

// AddSIP registers the SIP message series and the call setup time, read
// from b at scrape time.
func (r *Registry) AddSIP(b *sip.B2BUA) error {
	return r.register(&sipCollector{
		b: b,
		requests: newDesc("sip_requests_total",
			"SIP requests by method (INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, other) and direction (in: received, out: sent), retransmissions included.", "method", "direction"),
		responses: newDesc("sip_responses_total",
			"SIP responses by the method of their CSeq, class (1xx–6xx) and direction, retransmissions included.", "method", "class", "direction"),
		refused: newDesc("sip_requests_refused_total",
			"SIP requests refused before they could act on a call, by method and reason: acl (source outside sip.acl, 403), wrong_source (inside the ACL but not the dialog's peer, 403), wrong_tag (not the dialog's tags, 481), no_dialog (names no call, 481).", "method", "reason"),
		setup: newDesc("call_setup_seconds", "Time from a caller's INVITE to our 200 OK to it (the agent's ringing included)."),
	})
}

func (c *sipCollector) Describe(ch chan<- *prometheus.Desc) {
	describe(ch, c.requests, c.responses, c.refused, c.setup)
}

func (c *sipCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.b.Metrics()
	for i, method := range sip.Methods {
		for d, dir := range sip.Directions {
			ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(m.Requests[i][d]), method, dir)
			for k, class := range sip.ResponseClasses {
				if n := m.Responses[i][k][d]; n > 0 {
					ch <- prometheus.MustNewConstMetric(c.responses, prometheus.CounterValue, float64(n), method, class, dir)
				}
			}
		}
	}
	for i, method := range sip.Methods {
		for r, reason := range sip.RefusalReasons {
			ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(m.Refused[i][r]), method, reason)
		}
	}
	ch <- constHistogram(c.setup, m.Setup)
}

package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const dashboard = "grafana/dtmfgw.json"

// metricTypes are the series dtmfgw exports (the list the metrics package
// is built from): name → type. The dashboard may name only
// these, their histogram series (_bucket, _sum, _count), and
// standardMetrics.
var metricTypes = map[string]string{
	"dtmfgw_calls_active":                             "gauge",
	"dtmfgw_calls_total":                              "counter",
	"dtmfgw_calls_terminated_total":                   "counter",
	"dtmfgw_sip_requests_total":                       "counter",
	"dtmfgw_sip_responses_total":                      "counter",
	"dtmfgw_sip_requests_refused_total":               "counter",
	"dtmfgw_call_setup_seconds":                       "histogram",
	"dtmfgw_rtp_packets_total":                        "counter",
	"dtmfgw_rtp_bytes_total":                          "counter",
	"dtmfgw_rtp_dropped_packets_total":                "counter",
	"dtmfgw_rtp_lost_packets_total":                   "counter",
	"dtmfgw_rtp_jitter_seconds":                       "histogram",
	"dtmfgw_relay_added_latency_seconds":              "histogram",
	"dtmfgw_dtmf_presses_total":                       "counter",
	"dtmfgw_dtmf_detect_latency_seconds":              "histogram",
	"dtmfgw_dtmf_masked_presses_total":                "counter",
	"dtmfgw_mask_packets_total":                       "counter",
	"dtmfgw_press_event_latency_seconds":              "histogram",
	"dtmfgw_payments_total":                           "counter",
	"dtmfgw_payment_links_total":                      "counter",
	"dtmfgw_sms_messages_total":                       "counter",
	"dtmfgw_cluster_nodes":                            "gauge",
	"dtmfgw_cluster_events_dropped_total":             "counter",
	"dtmfgw_processor_request_duration_seconds":       "histogram",
	"dtmfgw_sse_subscribers":                          "gauge",
	"dtmfgw_webhook_deliveries_total":                 "counter",
	"dtmfgw_webhook_pending":                          "gauge",
	"dtmfgw_payments_unresolved":                      "gauge",
	"dtmfgw_payments_unresolved_oldest_age_seconds":   "gauge",
	"dtmfgw_tls_certificate_expiry_timestamp_seconds": "gauge",
	"dtmfgw_port_pool_in_use_ports":                   "gauge",
	"dtmfgw_port_pool_size_ports":                     "gauge",
	"dtmfgw_build_info":                               "gauge",
}

// standardMetrics are series of client_golang's Go and process collectors
// (the metrics package registers both) the dashboard may use.
var standardMetrics = []string{
	"go_goroutines", "go_threads", "go_memstats_heap_inuse_bytes", "go_memstats_alloc_bytes",
	"go_gc_duration_seconds", "go_gc_duration_seconds_count", "go_gc_duration_seconds_sum",
	"process_cpu_seconds_total", "process_resident_memory_bytes", "process_virtual_memory_bytes",
	"process_open_fds", "process_max_fds", "process_start_time_seconds",
}

// knownMetric reports whether a series name in a query is one dtmfgw
// exports, returning the metric family it belongs to.
func knownMetric(name string) (family string, ok bool) {
	if slices.Contains(standardMetrics, name) {
		return name, true
	}
	if metricTypes[name] != "" && metricTypes[name] != "histogram" {
		return name, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, found := strings.CutSuffix(name, suffix); found && metricTypes[base] == "histogram" {
			return base, true
		}
	}
	return "", false
}

var (
	// PromQL pieces that hold no metric name: strings, label matchers,
	// grouping clauses, range and offset durations.
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^{}]*\}`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	// Numbers and durations (0.99, 5m, 1e3) are matched so that their
	// letters are not taken for names.
	promIdent    = regexp.MustCompile(`[0-9][0-9a-zA-Z.]*|[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset", "inf", "nan"}
)

// metricNames returns the series names a PromQL expression selects: every
// identifier that is not a function call, a keyword, a label or a string.
func metricNames(expr string) []string {
	s := promString.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	s = promRange.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range promIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if name[0] >= '0' && name[0] <= '9' {
			continue
		}
		rest := strings.TrimLeft(s[loc[1]:], " ")
		if strings.HasPrefix(rest, "(") || slices.Contains(promKeywords, strings.ToLower(name)) {
			continue // a function or aggregation, or a keyword
		}
		out = append(out, name)
	}
	return out
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`sum(dtmfgw_calls_active{job=~"$job"})`, []string{"dtmfgw_calls_active"}},
		{`sum by (leg, kind) (rate(dtmfgw_rtp_packets_total{leg="caller"}[$__rate_interval]))`, []string{"dtmfgw_rtp_packets_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))`, []string{"x_bucket"}},
		{`a / on (instance) group_left b offset 5m`, []string{"a", "b"}},
		{`8 * rate(go_gc_duration_seconds_count[1m]) > bool 0`, []string{"go_gc_duration_seconds_count"}},
		{`rate(x[5m] offset 1h) * 1e3`, []string{"x"}},
		{`label_values(dtmfgw_build_info{job=~"$job"}, instance)`, []string{"dtmfgw_build_info", "instance"}},
	} {
		if got := metricNames(tc.expr); !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

// walk calls f on every JSON object in v, with its path.
func walk(v any, path string, f func(path string, obj map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		f(path, v)
		for k, c := range v {
			walk(c, path+"."+k, f)
		}
	case []any:
		for i, c := range v {
			walk(c, fmt.Sprintf("%s[%d]", path, i), f)
		}
	}
}

// TestGrafanaDashboard checks the dashboard: valid JSON of a Grafana 10/11
// schema, a Prometheus data source variable and no data source uid written
// in, the rows the SREs expect, and queries naming only exported series —
// every dtmfgw series on at least one panel.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(dashboard)
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("%s: %v", dashboard, err)
	}
	if v, _ := dash["schemaVersion"].(float64); v < 36 {
		t.Errorf("schemaVersion %v, want Grafana 10/11's (≥ 36)", dash["schemaVersion"])
	}
	if _, ok := dash["__inputs"]; ok {
		t.Error("__inputs: the dashboard is an export bound to one data source; use the ${datasource} variable")
	}

	// The data source variable.
	var dsVar map[string]any
	vars, _ := dash["templating"].(map[string]any)["list"].([]any)
	for _, v := range vars {
		if m, _ := v.(map[string]any); m["type"] == "datasource" {
			dsVar = m
		}
	}
	if dsVar == nil || dsVar["query"] != "prometheus" || dsVar["name"] != "datasource" {
		t.Fatalf("no datasource variable named datasource of type prometheus: %v", dsVar)
	}

	// Every data source reference goes through the variable.
	walk(dash, "", func(path string, obj map[string]any) {
		ds, ok := obj["datasource"]
		if !ok {
			return
		}
		m, ok := ds.(map[string]any)
		if !ok {
			t.Errorf("%s.datasource = %v: want {type, uid: ${datasource}}", path, ds)
			return
		}
		if m["type"] == "grafana" && m["uid"] == "-- Grafana --" {
			return // the built-in annotations source
		}
		if m["uid"] != "${datasource}" || m["type"] != "prometheus" {
			t.Errorf("%s.datasource = %v: a hard-coded data source", path, m)
		}
	})

	// Rows, panels and queries.
	var rows []string
	ids := map[float64]bool{}
	used := map[string]bool{}
	exprs := 0
	walk(dash["panels"], "panels", func(path string, p map[string]any) {
		typ, _ := p["type"].(string)
		if typ == "" || p["gridPos"] == nil {
			return // not a panel
		}
		id, _ := p["id"].(float64)
		if ids[id] {
			t.Errorf("%s: duplicate panel id %v", path, id)
		}
		ids[id] = true
		title, _ := p["title"].(string)
		if title == "" {
			t.Errorf("%s: panel without a title", path)
		}
		if typ == "row" {
			rows = append(rows, title)
			return
		}
		targets, _ := p["targets"].([]any)
		if len(targets) == 0 {
			t.Errorf("panel %q has no query", title)
		}
		for _, tg := range targets {
			expr, _ := tg.(map[string]any)["expr"].(string)
			if expr == "" {
				t.Errorf("panel %q: a target without expr", title)
				continue
			}
			exprs++
			for _, name := range metricNames(expr) {
				family, ok := knownMetric(name)
				if !ok {
					t.Errorf("panel %q names %q, which dtmfgw does not export: %s", title, name, expr)
					continue
				}
				used[family] = true
			}
		}
	})
	for _, want := range []string{"Calls", "SIP", "Media", "DTMF", "Payments", "Capacity"} {
		if !slices.Contains(rows, want) {
			t.Errorf("rows %q: no %q", rows, want)
		}
	}
	// The variables' queries name series too.
	for _, v := range vars {
		m := v.(map[string]any)
		if def, _ := m["definition"].(string); def != "" {
			for _, name := range metricNames(def) {
				if _, ok := knownMetric(name); !ok && name != "job" && name != "instance" {
					t.Errorf("variable %v names %q", m["name"], name)
				}
			}
		}
	}
	if exprs < 30 {
		t.Errorf("only %d queries: the walk missed panels", exprs)
	}
	for name := range metricTypes {
		if !used[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}

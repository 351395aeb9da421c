//go:build linux

package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNGResult(t *testing.T) {
	m, err := ngResult("d6:result2:ok3:sdp5:v=0\r\ne")
	if err != nil || m["sdp"] != "v=0\r\n" {
		t.Fatalf("%v, %v", m, err)
	}
	if _, err := ngResult("d6:result4:ponge"); err != nil {
		t.Fatal(err)
	}
	if _, err := ngResult("d6:result5:error12:error-reason12:Unknown calle"); err == nil || !strings.Contains(err.Error(), "Unknown call") {
		t.Fatalf("error result: %v", err)
	}
	if _, err := ngResult("l2:oke"); err == nil {
		t.Fatal("a list taken for a response")
	}
}

func TestParseServeConfig(t *testing.T) {
	yaml := "sip:\n  listen: 127.0.0.1:5060\n  look_ahead: 99ms\nmedia:\n  bind_address: 127.0.0.1\n  rtp_ports: 20000-29999\n  reactors: 0\n  media_timeout: 30s\n  mask_events: always\n  mask_inband: always\n  look_ahead: 26ms\n  digit_queue: 64\npayments:\n  look_ahead: 1s\n"
	sc, err := parseServeConfig(yaml)
	if err != nil {
		t.Fatal(err)
	}
	if want := (serveConfig{lookAhead: 26 * time.Millisecond, maskEvents: "always", maskInband: "always", mediaTimeout: "30s", reactors: "0"}); sc != want {
		t.Fatalf("%+v, want %+v", sc, want)
	}
	if _, err := parseServeConfig("media:\n  mask_events: always\n"); err == nil {
		t.Fatal("a configuration without look_ahead read")
	}
	if _, err := parseServeConfig("media:\n  look_ahead: soon\n"); err == nil {
		t.Fatal("a bad look_ahead read")
	}
}

func TestPickCounters(t *testing.T) {
	text := `# HELP dtmfgw_calls_total calls
# TYPE dtmfgw_calls_total counter
dtmfgw_calls_total 20
dtmfgw_calls_active 20
dtmfgw_dtmf_presses_total{source="inband"} 13
dtmfgw_dtmf_presses_total{source="sip_info"} 0
dtmfgw_rtp_packets_total{direction="out",kind="event",leg="agent"} 0
dtmfgw_rtp_packets_total{direction="out",kind="audio",leg="agent"} 5000
dtmfgw_rtp_dropped_packets_total{leg="caller",reason="wrong_source"} 2
`
	got := pickCounters(text)
	want := []string{"dtmfgw_calls_total 20", `dtmfgw_dtmf_presses_total{source="inband"} 13`, `dtmfgw_rtp_dropped_packets_total{leg="caller",reason="wrong_source"} 2`}
	if !slices.Equal(got, want) {
		t.Fatalf("%q\nwant %q", got, want)
	}
}

func TestParseOptionsEndToEnd(t *testing.T) {
	o, err := parseOptions([]string{"-calls", "100,300", "-modes", "reference,serve,serve@0,rtpengine,rtpengine-dtmf@1", "-taskset", "0,1", "-setup-rate", "50", "-rtpengine-delay-buffer", "20ms", "-stop-relay", "100ms"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.calls, []int{100, 300}) || len(o.modes) != 5 || o.taskset != "0,1" || o.setupRate != 50 || o.delayBuffer != 20*time.Millisecond || o.stopRelay != 100*time.Millisecond {
		t.Fatalf("%+v", o)
	}
	if baseMode("serve@0") != modeServe || cpusOf("serve@0") != "0" || cpusOf("serve") != "" || !endToEnd("rtpengine-dtmf@1") || !endToEnd("serve-base@0") || endToEnd("relay+mask") {
		t.Fatal("mode names")
	}
	d, err := parseOptions(nil)
	if err != nil || !slices.Equal(d.modes, defaultModes) || d.setupRate != 100 || d.rtpengine != defaultRTPEngine || d.delayBuffer != 40*time.Millisecond {
		t.Fatalf("defaults: %+v, %v", d, err)
	}
	for _, bad := range [][]string{
		{"-modes", "serve@"}, {"-modes", "serve@a"}, {"-modes", "serve@1-0"}, {"-modes", "serve,serve"}, {"-modes", "asterisk"},
		{"-taskset", "0;1"}, {"-taskset", "x"}, {"-setup-rate", "0"}, {"-setup-rate", "1001"}, {"-setup-timeout", "10ms"},
		{"-rtpengine-delay-buffer", "-1ms"}, {"-stop-relay", "-1ms"}, {"-stop-relay", "1s"}, {"stray"},
	} {
		if _, err := parseOptions(bad); err == nil {
			t.Errorf("parseOptions(%q) gave no error", bad)
		}
	}
}

func TestParseUDPDrops(t *testing.T) {
	text := `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 0100007F:9C40 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0000000000000000 7
  101: 0100007F:9C41 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2 2 0000000000000000 0
  102: 0100007F:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3 2 0000000000000000 99
`
	drops, found, err := parseUDPDrops(strings.NewReader(text), map[uint16]bool{40000: true, 40001: true, 5: true})
	if err != nil || drops != 7 || found != 2 {
		t.Fatalf("%d drops on %d sockets, %v; want 7 on 2", drops, found, err)
	}
}

func TestValidCPUList(t *testing.T) {
	for s, want := range map[string]bool{"0": true, "0-1": true, "1,3-4": true, "": false, "a": false, "2-1": false, "0,": false, "-1": false} {
		if got := validCPUList(s, true); got != want {
			t.Errorf("validCPUList(%q) = %v", s, got)
		}
	}
	if validCPUList("0,1", false) {
		t.Error("a comma taken in a mode's CPU list")
	}
}

func TestDescribeNG(t *testing.T) {
	got := describeNG(dtmfBlock("c", "f", 40*time.Millisecond))
	if want := "`block DTMF` on the caller's from-tag, DTMF-security=silence, delay-buffer=40, flags=[detect-DTMF]"; got != want {
		t.Fatalf("%s\nwant %s", got, want)
	}
	if _, ok := dtmfBlock("c", "f", 0)["delay-buffer"]; ok {
		t.Fatal("a delay buffer of 0 sent")
	}
}

func TestServeBaseNeedsItsBinary(t *testing.T) {
	o, err := parseOptions([]string{"-modes", "serve-base"})
	if err != nil {
		t.Fatal(err)
	}
	if err := prepare(&o); err == nil || !strings.Contains(err.Error(), "-dtmfgw-base") {
		t.Fatalf("prepare without -dtmfgw-base: %v, want an error naming it", err)
	}
	o.dtmfgwBase, o.dtmfgw = "/base/dtmfgw", "/new/dtmfgw"
	if got := o.dtmfgwFor("serve-base@0"); got != "/base/dtmfgw" {
		t.Errorf("serve-base runs %q", got)
	}
	if got := o.dtmfgwFor("serve"); got != "/new/dtmfgw" {
		t.Errorf("serve runs %q", got)
	}
}

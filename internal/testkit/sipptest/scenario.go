package sipptest

import (
	"bytes"
	"embed"
	"fmt"
	"path"
	"slices"
	"strings"
)

//go:embed scenarios/*.xml
var scenarioFS embed.FS

// Role says which side of a call a scenario plays.
type Role int

// The two roles a SIPp scenario plays.
const (
	// UAC scenarios start calls toward Options.Remote.
	UAC Role = iota + 1
	// UAS scenarios wait for calls on Options.Local.
	UAS
)

func (r Role) String() string {
	switch r {
	case UAC:
		return "uac"
	case UAS:
		return "uas"
	}
	return "unknown"
}

// PcapName is the file name the scenarios that play the caller's RTP give
// play_pcap_audio; Run puts Options.CallerPcap there, in the run
// directory, since SIPp reads it when it loads the scenario.
const PcapName = "caller.pcap"

// Scenario is one SIPp XML scenario.
type Scenario struct {
	// Name is the scenario's name, the file name without ".xml".
	Name string
	// Role is the side the scenario plays, from its name's prefix.
	Role Role
	// XML is the scenario file.
	XML []byte
	// Keys are the -key values the scenario needs and their defaults;
	// Options.Keys and the Options fields that set keys override them.
	Keys map[string]string
}

// PlaysPcap reports whether the scenario plays the caller's RTP from
// PcapName, which Options.CallerPcap must then supply.
func (s Scenario) PlaysPcap() bool {
	return bytes.Contains(s.XML, []byte(`play_pcap_audio="`+PcapName+`"`))
}

// The -key names the agent scenarios put in their SDP answers (c=, m=):
// where the far end is to send the agent's media.
const (
	KeyRTPIP   = "rtp_ip"
	KeyRTPPort = "rtp_port"
	// KeyInfoSignal is the key uac_info sends in its INFO body.
	KeyInfoSignal = "info_signal"
)

// keyDefaults lists the -key values each scenario needs. An agent scenario
// whose media address was not set sends its answer with the discard port
// on 127.0.0.1, so that a forgotten recorder shows as silence, not as media
// sent somewhere else.
var keyDefaults = map[string]map[string]string{
	"uac_info":   {KeyInfoSignal: "5"},
	"uas_answer": {KeyRTPIP: "127.0.0.1", KeyRTPPort: "9"},
	"uas_bye":    {KeyRTPIP: "127.0.0.1", KeyRTPPort: "9"},
	"uas_load":   {KeyRTPIP: "127.0.0.1", KeyRTPPort: "9"},
}

// Lookup returns the embedded scenario of that name (e.g. "uac_call").
func Lookup(name string) (Scenario, error) {
	xml, err := scenarioFS.ReadFile(path.Join("scenarios", name+".xml"))
	if err != nil {
		return Scenario{}, fmt.Errorf("sipptest: no scenario %q", name)
	}
	s := Scenario{Name: name, XML: xml, Keys: map[string]string{}}
	switch {
	case strings.HasPrefix(name, "uac_"):
		s.Role = UAC
	case strings.HasPrefix(name, "uas_"):
		s.Role = UAS
	}
	for k, v := range keyDefaults[name] {
		s.Keys[k] = v
	}
	return s, nil
}

// MustLookup is Lookup for the embedded names, which cannot fail; it
// panics on a name that is not embedded.
func MustLookup(name string) Scenario {
	s, err := Lookup(name)
	if err != nil {
		panic(err)
	}
	return s
}

// Names returns the names of the embedded scenarios, sorted.
func Names() []string {
	entries, err := scenarioFS.ReadDir("scenarios")
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".xml"); ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// The embedded scenarios, by call flow. See each file for the messages.
var (
	// UACCall calls, plays caller.pcap, hangs up after -d.
	UACCall = MustLookup("uac_call")
	// UACWaitBye calls, plays caller.pcap and waits for the far end's BYE.
	UACWaitBye = MustLookup("uac_wait_bye")
	// UACCancel calls and CANCELs on 180; requires 200 to the CANCEL and 487.
	UACCancel = MustLookup("uac_cancel")
	// UACInfo calls, plays caller.pcap, presses KeyInfoSignal by SIP INFO
	// (application/dtmf-relay) after -d, requires 200, hangs up.
	UACInfo = MustLookup("uac_info")
	// UACHold calls, plays caller.pcap, holds (a=sendonly) and unholds
	// (a=sendrecv) by re-INVITE, each after -d, checking the answers.
	UACHold = MustLookup("uac_hold")
	// UACBadSDP offers a malformed SDP and requires 488.
	UACBadSDP = MustLookup("uac_bad_sdp")
	// UACForbidden calls and requires 403 (run from an untrusted address).
	UACForbidden = MustLookup("uac_forbidden")
	// UACBusy calls and requires 486.
	UACBusy = MustLookup("uac_busy")
	// UACLoad is the caller of a load run: PCMU, caller.pcap, BYE after -d.
	UACLoad = MustLookup("uac_load")
	// UASAnswer rings 200 ms (CANCEL answered 487), answers with media to
	// KeyRTPIP:KeyRTPPort, answers INFO and re-INVITEs, ends on BYE.
	UASAnswer = MustLookup("uas_answer")
	// UASRing rings until CANCEL, then 200 and 487.
	UASRing = MustLookup("uas_ring")
	// UASBye answers like UASAnswer and hangs up itself after -d.
	UASBye = MustLookup("uas_bye")
	// UASBusy answers 486 Busy Here.
	UASBusy = MustLookup("uas_busy")
	// UASLoad is the agent of a load run: answers at once, ends on BYE.
	UASLoad = MustLookup("uas_load")
)

// busyStatus is the status line UASReject replaces in uas_busy.
const busyStatus = "SIP/2.0 486 Busy Here"

// UASReject returns uas_busy answering the INVITE with another final
// status, 300–699 (RFC 3261 §21), e.g. 403 Forbidden or 488 Not
// Acceptable Here. SIPp reads the status code when it loads a scenario, so
// it cannot come from a -key.
func UASReject(code int, reason string) (Scenario, error) {
	if code < 300 || code > 699 {
		return Scenario{}, fmt.Errorf("sipptest: %d is not a final error status", code)
	}
	if reason == "" || strings.ContainsAny(reason, "\r\n\x00]<&") {
		return Scenario{}, fmt.Errorf("sipptest: reason phrase %q is empty or has characters a scenario cannot hold", reason)
	}
	s := UASBusy
	if !bytes.Contains(s.XML, []byte(busyStatus)) {
		return Scenario{}, fmt.Errorf("sipptest: uas_busy no longer holds %q", busyStatus)
	}
	s.Name = fmt.Sprintf("uas_reject_%d", code)
	s.XML = bytes.Replace(s.XML, []byte(busyStatus), fmt.Appendf(nil, "SIP/2.0 %d %s", code, reason), 1)
	s.XML = bytes.Replace(s.XML, []byte(`<scenario name="uas_busy">`), fmt.Appendf(nil, `<scenario name="%s">`, s.Name), 1)
	s.Keys = map[string]string{}
	return s, nil
}

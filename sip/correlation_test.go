package sip

import (
	"reflect"
	"strings"
	"testing"
)

func TestCorrelate(t *testing.T) {
	const (
		callID = "a84b4c76e66710@pc33.example"
		from   = "+441632960001"
		to     = "+441632960999"
	)
	tests := []struct {
		name    string
		ruri    string
		hdrs    []string
		names   *HeaderNames // nil: DefaultHeaderNames
		want    Correlation  // Dropped compared separately
		dropped []string     // Dropped[i].String()
	}{
		{
			name: "base INVITE",
			want: Correlation{CallID: callID, Caller: from, Called: to, Direction: CallInbound},
		},
		{
			name: "all headers",
			hdrs: []string{"X-Agent-Id: agent-7", "X-Primary-Call-Id: 9f2c7b1e-5d3a-4c1b-8e2f-0a1b2c3d4e5f", "X-Call-Direction: outbound"},
			want: Correlation{CallID: callID, Caller: from, Called: to, Direction: CallOutbound, AgentID: "agent-7", PrimaryCallID: "9f2c7b1e-5d3a-4c1b-8e2f-0a1b2c3d4e5f"},
		},
		{
			name: "direction case and spaces",
			hdrs: []string{"X-Call-Direction:   Inbound  "},
			want: Correlation{CallID: callID, Caller: from, Called: to, Direction: CallInbound},
		},
		{
			name: "P-Asserted-Identity beats From",
			hdrs: []string{"P-Asserted-Identity: \"Caller\" <sip:+441632960555@carrier.example>"},
			want: Correlation{CallID: callID, Caller: "+441632960555", Called: to, Direction: CallInbound},
		},
		{
			name: "P-Asserted-Identity tel URI, escaped sip user",
			hdrs: []string{"P-Asserted-Identity: <tel:+441632960556>, <sip:%2B441632960557@carrier.example>"},
			want: Correlation{CallID: callID, Caller: "+441632960556", Called: to, Direction: CallInbound},
		},
		{
			name: "P-Asserted-Identity without brackets",
			hdrs: []string{"P-Asserted-Identity: sip:+441632960558@carrier.example"},
			want: Correlation{CallID: callID, Caller: "+441632960558", Called: to, Direction: CallInbound},
		},
		{
			name: "P-Asserted-Identity with no user falls to the second identity",
			hdrs: []string{"P-Asserted-Identity: <sip:carrier.example>, <tel:+441632960559>"},
			want: Correlation{CallID: callID, Caller: "+441632960559", Called: to, Direction: CallInbound},
		},
		{
			name: "P-Asserted-Identity with a comma in the display name",
			hdrs: []string{"P-Asserted-Identity: \"Doe, Jane\" <sip:+441632960560@carrier.example>"},
			want: Correlation{CallID: callID, Caller: "+441632960560", Called: to, Direction: CallInbound},
		},
		{
			name:    "P-Asserted-Identity malformed falls to From",
			hdrs:    []string{"P-Asserted-Identity: \"unterminated <sip:+1@x>"},
			want:    Correlation{CallID: callID, Caller: from, Called: to, Direction: CallInbound},
			dropped: []string{"caller from P-Asserted-Identity: not a name-addr or addr-spec"},
		},
		{
			name:    "P-Asserted-Identity with a space in the user falls to From",
			hdrs:    []string{"P-Asserted-Identity: <sip:%2B44%20555@carrier.example>"},
			want:    Correlation{CallID: callID, Caller: from, Called: to, Direction: CallInbound},
			dropped: []string{"caller from P-Asserted-Identity: not printable ASCII without spaces"},
		},
		{
			name:    "P-Asserted-Identity with a NUL falls to From",
			hdrs:    []string{"P-Asserted-Identity: <sip:+44\x00@carrier.example>"},
			want:    Correlation{CallID: callID, Caller: from, Called: to, Direction: CallInbound},
			dropped: []string{"caller from P-Asserted-Identity: value contains control character 0x00"},
		},
		{
			name: "anonymous From",
			hdrs: []string{"From: \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=1"},
			want: Correlation{CallID: callID, Caller: "anonymous", Called: to, Direction: CallInbound},
		},
		{
			name: "From without a user",
			hdrs: []string{"From: <sip:carrier.example>;tag=1"},
			want: Correlation{CallID: callID, Called: to, Direction: CallInbound},
		},
		{
			name:    "From with malformed escape",
			hdrs:    []string{"From: <sip:%zz@carrier.example>;tag=1"},
			want:    Correlation{CallID: callID, Called: to, Direction: CallInbound},
			dropped: []string{"caller from From: malformed percent-escape"},
		},
		{
			name: "called from Request-URI when To has no user",
			ruri: "sip:+441632960777@gw.example",
			hdrs: []string{"To: <sip:gw.example>"},
			want: Correlation{CallID: callID, Caller: from, Called: "+441632960777", Direction: CallInbound},
		},
		{
			name: "called from tel To",
			hdrs: []string{"To: <tel:+441632960778;phone-context=example.com>"},
			want: Correlation{CallID: callID, Caller: from, Called: "+441632960778", Direction: CallInbound},
		},
		{
			name:    "called: To too long, Request-URI used",
			ruri:    "sip:+441632960779@gw.example",
			hdrs:    []string{"To: <sip:" + strings.Repeat("9", 129) + "@gw.example>"},
			want:    Correlation{CallID: callID, Caller: from, Called: "+441632960779", Direction: CallInbound},
			dropped: []string{"called from To: longer than 128 bytes"},
		},
		{
			name:    "direction unknown",
			hdrs:    []string{"X-Call-Direction: sideways"},
			want:    Correlation{CallID: callID, Caller: from, Called: to, Direction: CallInbound},
			dropped: []string{"direction from X-Call-Direction: not inbound or outbound"},
		},
		{
			name:    "agent id with space dropped",
			hdrs:    []string{"X-Agent-Id: agent 7"},
			want:    Correlation{CallID: callID, Caller: from, Called: to, Direction: CallInbound},
			dropped: []string{"agent_id from X-Agent-Id: not printable ASCII without spaces"},
		},
		{
			name:    "agent id with DEL dropped",
			hdrs:    []string{"X-Agent-Id: agent\x7f"},
			want:    Correlation{CallID: callID, Caller: from, Called: to, Direction: CallInbound},
			dropped: []string{"agent_id from X-Agent-Id: not printable ASCII without spaces"},
		},
		{
			name:    "agent id non-ASCII dropped",
			hdrs:    []string{"X-Agent-Id: agént"},
			want:    Correlation{CallID: callID, Caller: from, Called: to, Direction: CallInbound},
			dropped: []string{"agent_id from X-Agent-Id: not printable ASCII without spaces"},
		},
		{
			name:    "agent id too long dropped",
			hdrs:    []string{"X-Agent-Id: " + strings.Repeat("a", 129)},
			want:    Correlation{CallID: callID, Caller: from, Called: to, Direction: CallInbound},
			dropped: []string{"agent_id from X-Agent-Id: longer than 128 bytes"},
		},
		{
			name:    "agent id empty dropped",
			hdrs:    []string{"X-Agent-Id: "},
			want:    Correlation{CallID: callID, Caller: from, Called: to, Direction: CallInbound},
			dropped: []string{"agent_id from X-Agent-Id: empty"},
		},
		{
			name: "primary call id repeated with one value",
			hdrs: []string{"X-Primary-Call-Id: p-1", "x-primary-call-id: p-1"},
			want: Correlation{CallID: callID, Caller: from, Called: to, Direction: CallInbound, PrimaryCallID: "p-1"},
		},
		{
			name:    "primary call id repeated with two values",
			hdrs:    []string{"X-Primary-Call-Id: p-1", "X-Primary-Call-Id: p-2"},
			want:    Correlation{CallID: callID, Caller: from, Called: to, Direction: CallInbound},
			dropped: []string{"primary_call_id from X-Primary-Call-Id: repeated with different values"},
		},
		{
			name:    "primary call id up to 256 bytes",
			hdrs:    []string{"X-Primary-Call-Id: " + strings.Repeat("p", 256), "X-Agent-Id: " + strings.Repeat("a", 128)},
			want:    Correlation{CallID: callID, Caller: from, Called: to, Direction: CallInbound, PrimaryCallID: strings.Repeat("p", 256), AgentID: strings.Repeat("a", 128)},
			dropped: nil,
		},
		{
			name:    "Call-ID with a space dropped",
			hdrs:    []string{"Call-ID: abc def"},
			want:    Correlation{Caller: from, Called: to, Direction: CallInbound},
			dropped: []string{"call_id from Call-ID: not printable ASCII without spaces"},
		},
		{
			name:  "configured names",
			hdrs:  []string{"X-Agent-Id: wrong", "X-CC-Agent: agent-9", "X-CC-Call: cc-1", "X-CC-Dir: OUTBOUND"},
			names: &HeaderNames{AgentID: "X-CC-Agent", PrimaryCallID: "X-CC-Call", Direction: "X-CC-Dir"},
			want:  Correlation{CallID: callID, Caller: from, Called: to, Direction: CallOutbound, AgentID: "agent-9", PrimaryCallID: "cc-1"},
		},
		{
			name:  "names off",
			hdrs:  []string{"X-Agent-Id: a", "X-Primary-Call-Id: p", "X-Call-Direction: outbound"},
			names: &HeaderNames{},
			want:  Correlation{CallID: callID, Caller: from, Called: to, Direction: CallInbound},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ruri := tc.ruri
			if ruri == "" {
				ruri = "sip:gw.example"
			}
			names := DefaultHeaderNames()
			if tc.names != nil {
				names = *tc.names
			}
			got := Correlate(invite(t, ruri, tc.hdrs...), names)
			var dropped []string
			for _, d := range got.Dropped {
				dropped = append(dropped, d.String())
			}
			got.Dropped = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Correlate =\n %+v\nwant\n %+v", got, tc.want)
			}
			if !reflect.DeepEqual(dropped, tc.dropped) {
				t.Errorf("dropped %q, want %q", dropped, tc.dropped)
			}
		})
	}
}

// TestCorrelateDropsNeverQuoteValues: a dropped value may be anything a
// peer sent; a card number in it must not reach the log line.
func TestCorrelateDropsNeverQuoteValues(t *testing.T) {
	const pan = "4111111111111111"
	req := invite(t, "sip:gw.example",
		"Call-ID: "+pan+" x",
		"From: <sip:"+pan+"%00@carrier.example>;tag=1",
		"To: <sip:"+pan+"%zz@gw.example>",
		"P-Asserted-Identity: <sip:"+pan+"%20@x.example>",
		"X-Agent-Id: "+pan+" a",
		"X-Primary-Call-Id: "+pan+"\x01",
		"X-Call-Direction: "+pan,
	)
	c := Correlate(req, DefaultHeaderNames())
	if len(c.Dropped) < 7 {
		t.Fatalf("dropped %v, want every field", c.Dropped)
	}
	for _, d := range c.Dropped {
		if strings.Contains(d.String(), "4111") {
			t.Errorf("drop %q quotes the value", d)
		}
	}
}

// checkCorrelation fails t when a recorded value would not pass its check
// or a drop quotes more than its reason.
func checkCorrelation(t *testing.T, c Correlation) {
	t.Helper()
	for field, v := range map[string]string{"caller": c.Caller, "called": c.Called, "agent_id": c.AgentID} {
		if v != "" && checkID(v, maxIDLen) != "" {
			t.Fatalf("%s %q recorded", field, v)
		}
	}
	for field, v := range map[string]string{"call_id": c.CallID, "primary_call_id": c.PrimaryCallID} {
		if v != "" && checkID(v, maxCallIDLen) != "" {
			t.Fatalf("%s %q recorded", field, v)
		}
	}
	if c.Direction != CallInbound && c.Direction != CallOutbound {
		t.Fatalf("direction %q", c.Direction)
	}
	if len(c.Dropped) > 9 {
		// Call-ID, two identities, From, To, Request-URI, three headers: 9.
		t.Fatalf("%d drops", len(c.Dropped))
	}
}

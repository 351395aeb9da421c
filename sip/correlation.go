package sip

import (
	"fmt"
	"strings"

	sipmsg "github.com/emiago/sipgo/sip"
)

// CallDirection is which way the contact centre's call went: a customer who
// called in, or an agent who called out. It comes from a configurable
// header; without one a call is inbound.
type CallDirection string

// The two directions a call may have.
const (
	CallInbound  CallDirection = "inbound"
	CallOutbound CallDirection = "outbound"
)

// HeaderNames are the configurable names of the headers correlation reads.
// An empty name turns its field off.
type HeaderNames struct {
	// AgentID names the header carrying the agent's id on the contact
	// centre's platform (e.g. X-Agent-Id).
	AgentID string `yaml:"agent_id"`
	// PrimaryCallID names the header carrying the contact centre's own id
	// for the call (e.g. X-Primary-Call-Id), so the API can find the call
	// an agent is on.
	PrimaryCallID string `yaml:"primary_call_id"`
	// SecondaryCallID names the header carrying the contact centre's id
	// of the call's other leg or transfer (e.g. X-Secondary-Call-Id), for
	// the agent's form.
	SecondaryCallID string `yaml:"secondary_call_id"`
	// Direction names the header whose value is "inbound" or "outbound".
	Direction string `yaml:"direction"`
}

// DefaultHeaderNames are the header names of a fresh configuration.
func DefaultHeaderNames() HeaderNames {
	return HeaderNames{
		AgentID:         "X-Agent-Id",
		PrimaryCallID:   "X-Primary-Call-Id",
		SecondaryCallID: "X-Secondary-Call-Id",
		Direction:       "X-Call-Direction",
	}
}

// Bounds on correlation values. RFC 3261 bounds none of them; these keep
// what we store, index and show in the API small. A Call-ID is usually a
// UUID or hex string at a host (under 100 bytes); a number or id far
// shorter than 128.
const (
	maxCallIDLen = 256
	maxIDLen     = 128
)

// Correlation is what we record about an inbound INVITE so that the API and
// logs can tie our call to the contact centre's. Every
// field holds a checked value (printable ASCII without spaces, bounded) or
// is empty; a value that failed its check is listed in Dropped instead.
type Correlation struct {
	// CallID is the inbound leg's Call-ID (RFC 3261 §20.8).
	CallID string
	// Caller is the calling number: the user of the P-Asserted-Identity
	// (RFC 3325 §9.1), else of From (§20.20).
	Caller string
	// Called is the called number: the user of To (§20.39, which keeps
	// what was dialled when a proxy rewrites the Request-URI), else of the
	// Request-URI.
	Called string
	// Direction is inbound unless the direction header says outbound.
	Direction CallDirection
	// AgentID is the agent header's value.
	AgentID string
	// PrimaryCallID is the primary call id header's value.
	PrimaryCallID string
	// SecondaryCallID is the secondary call id header's value.
	SecondaryCallID string
	// Dropped lists the values that were present but refused.
	Dropped []Dropped
}

// Dropped records a value that was present in the INVITE but not recorded,
// and why. It never holds the value.
type Dropped struct {
	// Field is the Correlation field: "call_id", "caller", "called",
	// "direction", "agent_id", "primary_call_id".
	Field string
	// Header is the header the value came from ("Request-URI" for the
	// Request-URI).
	Header string
	// Reason says what was wrong with the value, without quoting it.
	Reason string
}

// String formats the drop for a log line: field, header and reason.
func (d Dropped) String() string {
	return d.Field + " from " + d.Header + ": " + d.Reason
}

// Correlate extracts the correlation of the inbound INVITE req, reading the
// configurable headers named by names. It never fails: a missing value
// leaves its field empty, an invalid one is dropped with a reason.
func Correlate(req *sipmsg.Request, names HeaderNames) Correlation {
	c := Correlation{Direction: CallInbound}
	drop := func(field, header, reason string) {
		c.Dropped = append(c.Dropped, Dropped{Field: field, Header: header, Reason: reason})
	}

	if h := req.CallID(); h != nil {
		if reason := checkID(string(*h), maxCallIDLen); reason != "" {
			drop("call_id", "Call-ID", reason)
		} else {
			c.CallID = string(*h)
		}
	}

	c.Caller = correlateCaller(req, drop)
	c.Called = correlateCalled(req, drop)

	if names.Direction != "" {
		if v, ok := singleValue(req, names.Direction, "direction", maxIDLen, drop); ok {
			switch CallDirection(strings.ToLower(strings.TrimSpace(v))) {
			case CallInbound:
			case CallOutbound:
				c.Direction = CallOutbound
			default:
				drop("direction", names.Direction, "not inbound or outbound")
			}
		}
	}
	if names.AgentID != "" {
		c.AgentID, _ = singleValue(req, names.AgentID, "agent_id", maxIDLen, drop)
	}
	if names.PrimaryCallID != "" {
		c.PrimaryCallID, _ = singleValue(req, names.PrimaryCallID, "primary_call_id", maxCallIDLen, drop)
	}
	if names.SecondaryCallID != "" {
		c.SecondaryCallID, _ = singleValue(req, names.SecondaryCallID, "secondary_call_id", maxCallIDLen, drop)
	}
	return c
}

// correlateCaller returns the caller number from the first
// P-Asserted-Identity that yields a valid user, else from From.
func correlateCaller(req *sipmsg.Request, drop func(field, header, reason string)) string {
	// RFC 3325 §9.1: one or two identities (a sip: and a tel: URI), as
	// separate headers or a comma-separated list; either carries the number.
	// Only the first two are looked at, so a peer cannot make the drop
	// list (and the log line) as long as its message.
	seen := 0
	for _, h := range req.GetHeaders("P-Asserted-Identity") {
		if seen == 2 {
			break
		}
		v := h.Value()
		if reason := checkValue(v, MaxHeaderValueLen); reason != "" {
			drop("caller", "P-Asserted-Identity", reason)
			seen++
			continue
		}
		for _, addr := range splitAddressList(v) {
			if seen == 2 {
				break
			}
			seen++
			var u sipmsg.Uri
			if _, err := sipmsg.ParseAddressValue(addr, &u, nil); err != nil {
				drop("caller", "P-Asserted-Identity", "not a name-addr or addr-spec")
				continue
			}
			if user, reason := checkedUser(&u); reason != "" {
				drop("caller", "P-Asserted-Identity", reason)
			} else if user != "" {
				return user
			}
		}
	}
	if f := req.From(); f != nil {
		user, reason := checkedUser(&f.Address)
		if reason != "" {
			drop("caller", "From", reason)
		}
		return user
	}
	return ""
}

// correlateCalled returns the called number from To, else the Request-URI.
func correlateCalled(req *sipmsg.Request, drop func(field, header, reason string)) string {
	if t := req.To(); t != nil {
		user, reason := checkedUser(&t.Address)
		if reason != "" {
			drop("called", "To", reason)
		}
		if user != "" {
			return user
		}
	}
	user, reason := checkedUser(&req.Recipient)
	if reason != "" {
		drop("called", "Request-URI", reason)
	}
	return user
}

// checkedUser returns the decoded user of u (URIUser) when it passes
// checkID, else "" and why. A URI with no user, or of a scheme other than
// sip, sips and tel, gives "", "".
func checkedUser(u *sipmsg.Uri) (user, reason string) {
	if rawUser(u) == "" {
		return "", ""
	}
	if user = URIUser(u); user == "" {
		return "", "malformed percent-escape"
	}
	if reason := checkID(user, maxIDLen); reason != "" {
		return "", reason
	}
	return user, ""
}

// singleValue returns the value of the header name, when it is present once
// (or repeated with one value) and passes checkID. Otherwise it records a
// drop for field and returns false.
func singleValue(req *sipmsg.Request, name, field string, maxLen int, drop func(field, header, reason string)) (string, bool) {
	hs := req.GetHeaders(name)
	if len(hs) == 0 {
		return "", false
	}
	v := strings.TrimSpace(hs[0].Value())
	for _, h := range hs[1:] {
		if strings.TrimSpace(h.Value()) != v {
			drop(field, name, "repeated with different values")
			return "", false
		}
	}
	if reason := checkID(v, maxLen); reason != "" {
		drop(field, name, reason)
		return "", false
	}
	return v, true
}

// checkID returns why v may not be recorded as an id or number, or "". A
// recorded value is 1 to maxLen bytes of printable ASCII without spaces
// (0x21-0x7E): it is stored, indexed, put in URLs and shown in the agent
// form and logs, and every Call-ID (RFC 3261 §25.1 word), tel number and
// platform id we know fits.
func checkID(v string, maxLen int) string {
	if v == "" {
		return "empty"
	}
	if len(v) > maxLen {
		return fmt.Sprintf("longer than %d bytes", maxLen)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= 0x20 || c >= 0x7f {
			return "not printable ASCII without spaces"
		}
	}
	return ""
}

// splitAddressList splits a header value holding a comma-separated list of
// name-addr / addr-spec (RFC 3261 §7.3.1) at the commas outside quoted
// strings and angle brackets.
func splitAddressList(v string) []string {
	var out []string
	var quoted, escaped bool
	depth, start := 0, 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == '<':
			depth++
		case c == '>' && depth > 0:
			depth--
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(v[start:]))
}

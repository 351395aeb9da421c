package call

import "dtmfgw/internal/enumtext"

// Direction says which way the contact centre placed the call.
type Direction uint8

const (
	// Inbound is a customer calling the contact centre: the default.
	Inbound Direction = iota
	// Outbound is the contact centre calling a customer.
	Outbound
)

var directionText = enumtext.Table[Direction]{What: "call: direction", Invalid: "unknown", Names: []string{
	Inbound: "inbound", Outbound: "outbound",
}}

// String returns "inbound" or "outbound".
func (d Direction) String() string { return directionText.String(d) }

// MarshalText writes "inbound" or "outbound" (for JSON).
func (d Direction) MarshalText() ([]byte, error) { return directionText.MarshalText(d) }

// Correlation ties a call to the identifiers the signalling and the
// contact centre know it by, so the API can find the call an agent is on.
// The SIP layer fills it; the call only stores it and filters by it.
// It holds no card data; the numbers are the caller's and the called
// party's telephone numbers.
type Correlation struct {
	// InboundCallID is the Call-ID of the caller's dialog, OutboundCallID
	// the one of the dialog toward the agent (RFC 3261 §8.1.1.4).
	InboundCallID, OutboundCallID string
	// CallerNumber and CalledNumber are the user parts the SIP layer
	// took from the inbound INVITE (From and Request-URI or To).
	CallerNumber, CalledNumber string
	// Direction is inbound unless the contact centre's header said
	// otherwise.
	Direction Direction
	// AgentID identifies the agent the call is bridged to, from a header
	// of the contact centre's.
	AgentID string
	// PrimaryCallID is the contact centre's own id of the customer's
	// call (e.g. from X-Primary-Call-Id).
	PrimaryCallID string
	// SecondaryCallID is the contact centre's id of the call's other leg
	// or transfer (e.g. from X-Secondary-Call-Id), shown in the agent's
	// form.
	SecondaryCallID string
}

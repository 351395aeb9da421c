package call

import "dtmfgw/internal/enumtext"

// EndReason says why a call ended. It is one of a small fixed set, so it
// can label a metric (calls_terminated_total{reason}) without growing it.
// The zero value means the call has not ended.
type EndReason uint8

// The reasons a call ends. The SIP layer picks the signalling ones; the
// call picks the media timeouts and EndShutdown itself.
const (
	// NotEnded is the zero EndReason: the call is still up.
	NotEnded EndReason = iota
	// EndCallerHangup: the caller sent BYE (RFC 3261 §15).
	EndCallerHangup
	// EndAgentHangup: the agent sent BYE.
	EndAgentHangup
	// EndCallerCancel: the caller cancelled before the agent answered
	// (RFC 3261 §9).
	EndCallerCancel
	// EndAgentRejected: the agent answered the INVITE with a non-2xx
	// final response.
	EndAgentRejected
	// EndRingTimeout: the agent did not answer in time.
	EndRingTimeout
	// EndCallerMediaTimeout and EndAgentMediaTimeout: that leg received
	// no RTP for the media timeout while answered and not on hold. The
	// SIP layer sends BYE both ways.
	EndCallerMediaTimeout
	EndAgentMediaTimeout
	// EndShutdown: the Manager was closed with the call still up.
	EndShutdown
	// EndError: a signalling or media failure that fits no other reason.
	EndError

	numEndReasons
)

var endReasonText = enumtext.Table[EndReason]{What: "call: end reason", Invalid: "unknown", Names: []string{
	NotEnded:              "not-ended",
	EndCallerHangup:       "caller-hangup",
	EndAgentHangup:        "agent-hangup",
	EndCallerCancel:       "caller-cancel",
	EndAgentRejected:      "agent-rejected",
	EndRingTimeout:        "ring-timeout",
	EndCallerMediaTimeout: "caller-media-timeout",
	EndAgentMediaTimeout:  "agent-media-timeout",
	EndShutdown:           "shutdown",
	EndError:              "error",
}}

// String returns the reason's metric label.
func (r EndReason) String() string { return endReasonText.String(r) }

// MarshalText writes the reason's metric label (for JSON).
func (r EndReason) MarshalText() ([]byte, error) { return endReasonText.MarshalText(r) }

// MediaTimeout reports whether the call ended because a leg's media
// stopped: the signalling layer must then end both dialogs itself.
func (r EndReason) MediaTimeout() bool {
	return r == EndCallerMediaTimeout || r == EndAgentMediaTimeout
}

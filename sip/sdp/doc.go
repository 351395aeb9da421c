// Package sdp is the session descriptions of dtmfgw's B2BUA (package sip):
// reading a peer's SDP, building ours, and the offer/answer between the two
// legs (RFC 4566, RFC 3264), on github.com/pion/sdp.
//
//   - Parse reads a peer's offer or answer and returns its audio stream as
//     a Media; what it cannot use is an *Error with a Warning code and a
//     reason fit for a 488's Warning header (ErrUnacceptable).
//   - OfferToAgent, OfferToCaller and BuildOffer build our offers;
//     AnswerToCaller, AnswerToAgent and CheckAnswer our answers, always
//     anchored on a relay address of ours. The caller always gets
//     telephone-event; the agent, by default, none.
//   - Origin is one leg's o= line: Origin.Marshal writes a Media as the SDP
//     we send on that leg, with the session version RFC 3264 §8 asks for.
//   - Compare says what a re-INVITE's SDP changed.
//
// It opens no socket and knows nothing of SIP messages.
package sdp

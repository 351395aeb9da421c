package processor

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"dtmfgw/internal/redact"
)

// The HTTP connector's wire format (docs/processor.md, "HTTP connector"):
// the request bodies it writes and the answers it reads. The field and
// method names are those of the best-known programmable-voice platform's
// generic pay connector, so that an endpoint written for it works
// unchanged; what dtmfgw adds is named in the documentation.

// Methods of the connector's requests (the body's "method").
const (
	methodCharge   = "charge"
	methodTokenize = "tokenize"
	methodStatus   = "status"
)

// Headers of a connector request.
const (
	// ConnectorSignatureHeader carries "t=<unix seconds>,v1=<hex
	// HMAC-SHA256>": the HMAC, keyed with the processor's signing
	// secret, of the decimal timestamp, a dot and the body exactly as
	// sent. It is the webhooks' scheme and header (webhook.Verify checks
	// it as well).
	ConnectorSignatureHeader = "Dtmfgw-Signature"
	// ConnectorIdempotencyHeader carries the charge's idempotency key,
	// the body's transaction_id, on charge and tokenize requests.
	ConnectorIdempotencyHeader = "Idempotency-Key"
)

// Error codes of a connector answer that dtmfgw reads as Failed (nothing
// charged, not the card's fault); any other error_code is a decline.
const (
	// ConnectorNotFound: the status call knows no charge under the
	// transaction_id (Reconcile's ErrNotFound).
	ConnectorNotFound = "not_found"
	// ConnectorIdempotencyMismatch: the transaction_id was used before
	// with another method, amount or currency (ErrIdempotencyMismatch).
	ConnectorIdempotencyMismatch = "idempotency_mismatch"
)

// connectorFailureCodes are the error codes that mean Failed: the
// receiver or its processor did not process the request.
var connectorFailureCodes = map[string]bool{
	"processing_error":           true,
	"invalid_request":            true,
	"authentication_error":       true,
	"configuration_error":        true,
	"rate_limited":               true,
	"not_supported":              true,
	ConnectorNotFound:            true,
	ConnectorIdempotencyMismatch: true,
}

// maxAnswerLen bounds a connector answer's body: the four fields the
// answer has fit in a fraction of it; more is not an answer of ours.
const maxAnswerLen = 64 << 10

// currencyExponents are the ISO 4217 currencies whose minor unit is not a
// hundredth (the rest have two decimals), for the decimal "amount".
var currencyExponents = map[string]int{
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
	"RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	"CLF": 4, "UYW": 4,
}

// currencyExponent is the number of decimals of a currency's major unit.
func currencyExponent(upper string) int {
	if e, ok := currencyExponents[upper]; ok {
		return e
	}
	return 2
}

// connectorBody is the JSON body of a charge or tokenize request, written
// by hand into a slice allocated once at its final size: growing it would
// leave a copy of the card behind in the old array, out of reach of the
// zeroing, and an encoder would make strings of the card fields.
func connectorBody(req *Request) []byte {
	b := make([]byte, 0, connectorBodyCap(req))
	method := methodCharge
	if req.Tokenize {
		method = methodTokenize
	}
	b = append(b, `{"method":"`...)
	b = append(b, method...)
	b = append(b, `","transaction_id":`...)
	b = appendJSONString(b, req.IdempotencyKey)
	// The card fields are digits (Request.Validate): nothing to escape.
	b = append(b, `,"cardnumber":"`...)
	b = append(b, req.PAN...)
	b = append(b, `","cvv":"`...)
	b = append(b, req.CVC...)
	b = append(b, `","expiry_month":"`...)
	b = append(b, byte('0'+req.ExpMonth/10), byte('0'+req.ExpMonth%10))
	b = append(b, `","expiry_year":"`...)
	b = strconv.AppendInt(b, int64(req.ExpYear), 10)
	b = append(b, `","postal_code":`...)
	b = appendJSONString(b, req.Postcode)
	b = append(b, `,"cardholder_name":`...)
	b = appendJSONString(b, req.CardholderName)
	b = append(b, `,"description":`...)
	b = appendJSONString(b, req.Reference)
	currency := strings.ToUpper(req.Currency)
	b = append(b, `,"currency_code":`...)
	b = appendJSONString(b, currency)
	if req.Tokenize {
		b = append(b, `,"token_type":"reusable"}`...)
		return b
	}
	b = append(b, `,"amount":`...)
	b = appendDecimal(b, req.Amount, currencyExponent(currency))
	b = append(b, `,"amount_minor":`...)
	b = strconv.AppendInt(b, req.Amount, 10)
	return append(b, '}')
}

// connectorBodyCap bounds connectorBody's length: the names, quotes and
// fixed values take under 320 bytes, the numbers under 64, and escaping
// makes at most six bytes of one.
func connectorBodyCap(req *Request) int {
	return 320 + 64 + len(req.PAN) + len(req.CVC) +
		6*(len(req.IdempotencyKey)+len(req.Postcode)+len(req.CardholderName)+len(req.Reference)+len(req.Currency))
}

// statusBody is the JSON body of the status call: no card data.
func statusBody(key string) []byte {
	b := appendJSONString([]byte(`{"method":"status","transaction_id":`), key)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string. It works on bytes as well
// as strings, so that a card field is never made a string to be escaped.
func appendJSONString[T string | []byte](dst []byte, s T) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < ' ':
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// appendDecimal appends v minor units as a decimal number of the major
// unit with exp decimals (1250, 2 → 12.50), without floating point.
func appendDecimal(dst []byte, v int64, exp int) []byte {
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	if exp == 0 {
		return strconv.AppendInt(dst, v, 10)
	}
	unit := int64(1)
	for range exp {
		unit *= 10
	}
	dst = strconv.AppendInt(dst, v/unit, 10)
	dst = append(dst, '.')
	frac := strconv.AppendInt(nil, v%unit, 10)
	for range exp - len(frac) {
		dst = append(dst, '0')
	}
	return append(dst, frac...)
}

// signConnector returns the ConnectorSignatureHeader value for body sent
// at t.
func signConnector(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	sum := m.Sum(nil)
	// The hash keeps the body's last partial block in its buffer: a
	// block of zeros overwrites it, so no card digit stays behind in the
	// hash's memory.
	var zeros [sha256.BlockSize]byte
	m.Write(zeros[:])
	return "t=" + ts + ",v1=" + hex.EncodeToString(sum)
}

// connectorAnswer is a connector's answer body. Every field is checked
// before it reaches a Result, an error or a log line.
type connectorAnswer struct {
	ChargeID     jsonText `json:"charge_id"`
	TokenID      jsonText `json:"token_id"`
	ErrorCode    jsonText `json:"error_code"`
	ErrorMessage jsonText `json:"error_message"`
}

// jsonText is a field that may come as a string, a number (a numeric
// error code, "error_code": 51) or null (no value).
type jsonText string

// UnmarshalJSON implements json.Unmarshaler.
func (t *jsonText) UnmarshalJSON(b []byte) error {
	switch {
	case bytes.Equal(b, []byte("null")):
		*t = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = jsonText(s)
	case len(b) > 0 && (b[0] == '-' || '0' <= b[0] && b[0] <= '9'):
		*t = jsonText(b)
	default:
		return errors.New("not a string, a number or null")
	}
	return nil
}

// parseAnswer reads a connector answer: a JSON object.
func parseAnswer(body []byte) (connectorAnswer, error) {
	var a connectorAnswer
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return a, errors.New("not a JSON object")
	}
	err := json.Unmarshal(body, &a)
	return a, err
}

// safeCode returns an error code fit for a Result and a log line: ASCII
// letters, digits and "_.-", at most maxTokenLen, no run of six digits
// (what the log redaction would mask); anything else becomes "". Numeric
// codes ("05", "51") are kept: processors' response codes are short.
func safeCode(s string) string { return redact.Ident(s, maxTokenLen, redact.MinRun, "_.-") }

// safeConnectorID returns s if it is fit as a Reference or a Token: at
// most maxIDLen bytes of ASCII letters, digits and "_-.:+/=", without a
// run of minPANRun digits or more (the rule of every id from a
// processor: no id may carry a card number). Anything else becomes "".
func safeConnectorID(s string) string { return redact.Ident(s, maxIDLen, minPANRun, "_-.:+/=") }

// connectorOutcome is what an answer says, before it is logged.
type connectorOutcome struct {
	res Result
	err error
	// withheld: the answer's charge_id or token_id was dropped as
	// unsafe (it looks like a card number).
	withheld bool
}

// connectorResult reads a connector's answer to a request of method:
// its HTTP status, its request id header, its body (nil when unreadable
// or too long).
func connectorResult(name, method string, status int, requestID string, body []byte) connectorOutcome {
	ans, perr := parseAnswer(body)
	ae := &APIError{Processor: name, Stage: method, HTTPStatus: status, RequestID: safeID(requestID), kind: ErrProcessor}
	hasCode := perr == nil && ans.ErrorCode != ""
	if hasCode {
		ae.Code = safeCode(string(ans.ErrorCode))
	}
	code := strings.ToLower(ae.Code)
	switch {
	case status >= 200 && status < 300:
		if perr != nil {
			return connectorOutcome{res: Result{Status: Unknown, Message: msgUnreadable},
				err: fmt.Errorf("%w: processor %s: %s: HTTP %d: an answer that is not the connector's JSON", ErrTransport, name, method, status)}
		}
		if hasCode {
			return codeOutcome(method, code, ae, string(ans.ErrorMessage))
		}
		return successOutcome(method, ans, ae)
	case status == http.StatusConflict:
		// A request under this transaction_id is still being processed.
		return connectorOutcome{res: Result{Status: Unknown, Message: "the processor is still processing the payment; it will be reconciled"}, err: ae}
	case status == http.StatusNotFound && method == methodStatus && code == ConnectorNotFound:
		return codeOutcome(method, code, ae, string(ans.ErrorMessage))
	case code == ConnectorIdempotencyMismatch && status >= 300 && status < 500:
		return codeOutcome(method, code, ae, string(ans.ErrorMessage))
	case status == http.StatusPaymentRequired && hasCode && method != methodStatus:
		// 402 with a code: the card refused, as a 2xx with the code.
		return codeOutcome(method, code, ae, string(ans.ErrorMessage))
	case status >= 300 && status < 500:
		if method == methodStatus {
			return connectorOutcome{res: Result{Status: Unknown, Message: "the processor refused the status request"}, err: ae}
		}
		return connectorOutcome{res: Result{Status: Failed, DeclineCode: ae.Code, Message: "the processor refused the request; nothing was charged"}, err: ae}
	default:
		// 5xx (and 1xx): the outcome is open.
		return connectorOutcome{res: Result{Status: Unknown, Message: "the processor failed to answer the request; it will be reconciled"}, err: ae}
	}
}

// msgUnreadable is the Message of an answer that could not be read.
const msgUnreadable = "the processor's answer could not be read; the payment will be reconciled"

// codeOutcome reads an answer's error_code: not_found on a status call,
// an idempotency mismatch, a failure code, or a decline.
func codeOutcome(method, code string, ae *APIError, message string) connectorOutcome {
	switch {
	case method == methodStatus && code == ConnectorNotFound:
		return connectorOutcome{res: Result{Status: Unknown, Message: "the processor has no charge under this key"},
			err: fmt.Errorf("%w (processor %s)", ErrNotFound, ae.Processor)}
	case code == ConnectorIdempotencyMismatch:
		ae.kind = ErrIdempotencyMismatch
		return connectorOutcome{res: Result{Status: Failed, DeclineCode: ae.Code,
			Message: "idempotency key reused with different parameters; nothing was charged by this call"}, err: ae}
	case connectorFailureCodes[code]:
		return connectorOutcome{res: Result{Status: Failed, DeclineCode: ae.Code,
			Message: safeMessage(message, "the processor did not process the payment; nothing was charged")}}
	}
	return connectorOutcome{res: Result{Status: Declined, DeclineCode: ae.Code, Message: safeMessage(message, "declined")}}
}

// successOutcome reads a 2xx answer without an error_code.
func successOutcome(method string, ans connectorAnswer, ae *APIError) connectorOutcome {
	ref, tok := safeConnectorID(string(ans.ChargeID)), safeConnectorID(string(ans.TokenID))
	withheld := ref == "" && ans.ChargeID != "" || tok == "" && ans.TokenID != ""
	switch {
	case method == methodTokenize || method == methodStatus && ans.TokenID != "":
		if tok == "" {
			// A card saved without a token to name it by is of no use,
			// and nothing was charged: Failed, not Unknown.
			what := "no token_id"
			if ans.TokenID != "" {
				what = "a token_id that looks like a card number"
			}
			return connectorOutcome{res: Result{Status: Failed, Message: "the processor answered without a usable token; nothing was charged"},
				err: fmt.Errorf("%w: %s: the answer has %s", ErrProcessor, ae.Error(), what), withheld: withheld}
		}
		return connectorOutcome{res: Result{Status: Approved, Reference: ref, Token: tok, Message: msgApproved}, withheld: withheld}
	case ans.ChargeID != "":
		// A charge_id that looks like a card number is dropped, but the
		// receiver said the money was taken.
		return connectorOutcome{res: Result{Status: Approved, Reference: ref, Message: msgApproved}, withheld: withheld}
	case method == methodStatus:
		// Neither an id nor a code: not finished yet.
		return connectorOutcome{res: Result{Status: Unknown, Message: "the payment is still processing; it will be reconciled"}}
	}
	// A charge that answers success without an id may have charged.
	return connectorOutcome{res: Result{Status: Unknown, Message: msgUnreadable},
		err: fmt.Errorf("%w: %s: the answer has neither charge_id nor error_code", ErrProcessor, ae.Error())}
}

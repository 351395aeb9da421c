package webhook

// The compatible format (payment.FormatCompatible): callbacks named and
// valued as the keypad payment verb of the best-known programmable-voice
// platform names its status callbacks, so that a CRM integration written
// for those parses dtmfgw's unchanged. Each callback is a
// form-urlencoded body of parameters; it is signed, stored, retried and
// headed (Dtmfgw-Event, Dtmfgw-Delivery) exactly as a JSON delivery is.
// docs/webhooks.md lists the parameters and where they differ from the
// platform's.

import (
	"net/url"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/text/currency"

	"dtmfgw/payment"
	"dtmfgw/store"
)

// The Content-Types of a delivery's body.
const (
	contentTypeJSON = "application/json"
	contentTypeForm = "application/x-www-form-urlencoded"
)

// contentType returns the Content-Type of a delivery's body. The outbox
// keeps no format per delivery, and a reload may change a
// configuration's format while deliveries wait, so the body itself says:
// a dtmfgw document is a JSON object and starts with '{', a form body
// starts with a parameter's name (in which a '{' would be escaped).
func contentType(body []byte) string {
	if len(body) > 0 && body[0] == '{' {
		return contentTypeJSON
	}
	return contentTypeForm
}

// The capture names of the compatible format: what Capture, For and
// Required name a field by.
const (
	CaptureCardNumber   = "payment-card-number"
	CaptureExpiry       = "expiration-date"
	CaptureSecurityCode = "security-code"
	CapturePostalCode   = "postal-code"
	// CaptureOwnPrefix starts the capture name of any other digits field,
	// followed by the field's id ("dtmfgw-customer_number"): the platform
	// has no name for such a field.
	CaptureOwnPrefix = "dtmfgw-"
)

// The values of ErrorType that are not a field's own invalid-… value.
const (
	// ErrorCardType: a well-formed card number of a brand the
	// configuration does not accept.
	ErrorCardType = "invalid-card-type"
	// ErrorInputTimeout: the session timeout ended the payment (or its
	// link expired) before the card was handed over.
	ErrorInputTimeout = "input-timeout"
)

// The values of Result.
const (
	ResultSuccess = "success"
	// ResultConnectorError: the processor declined the card or failed.
	ResultConnectorError = "payment-connector-error"
	// ResultTooManyFailedAttempts: a digital payment's link was locked
	// by failed attempts.
	ResultTooManyFailedAttempts = "too-many-failed-attempts"
	// ResultCallerHungUp: the call ended first.
	ResultCallerHungUp = "caller-hung-up"
	// ResultInputTimeout: the session timeout (or the link's expiry)
	// ended the payment.
	ResultInputTimeout = "input-timeout"
	// ResultAgentCancelled: the agent ended the payment. dtmfgw's own
	// value: the platform's caller cancels with '*', which in dtmfgw
	// clears a field instead.
	ResultAgentCancelled = "agent-cancelled"
)

// capture is one field as the compatible format names it.
type capture struct {
	name    string // in Capture, For and Required
	param   string // the parameter carrying its masked value
	invalid string // its ErrorType when complete but invalid
}

// captureOf names a field of kind, with id, in the compatible format.
// A postal_code field is the billing postal code, and so is a digits
// field whose id is payment.PostcodeFieldID, as the processor hand-off
// reads them.
func captureOf(kind payment.FieldKind, id string) capture {
	switch {
	case kind == payment.FieldCardNumber:
		return capture{CaptureCardNumber, "PaymentCardNumber", "invalid-card-number"}
	case kind == payment.FieldExpiry:
		return capture{CaptureExpiry, "ExpirationDate", "invalid-date"}
	case kind == payment.FieldSecurityCode:
		return capture{CaptureSecurityCode, "SecurityCode", "invalid-security-code"}
	case kind == payment.FieldPostalCode, id == payment.PostcodeFieldID:
		return capture{CapturePostalCode, "PaymentCardPostalCode", "invalid-postal-code"}
	}
	name := CaptureOwnPrefix + id
	return capture{name, "DtmfgwDigits", "invalid-" + name}
}

// dateLayout writes DateUpdated: UTC to the millisecond, as the
// platform's callbacks do.
const dateLayout = "2006-01-02T15:04:05.000Z"

// masked returns n mask characters: as many as the caller typed, never a
// digit.
func masked(n int) string { return strings.Repeat("x", max(n, 0)) }

// maskedCard returns a card number of length digits masked but for its
// last four, taken from a payment event's MaskedPAN ("•••• 4242"), which
// holds them only for a complete, valid number; else every digit masked.
func maskedCard(length int, maskedPAN string) string {
	if len(maskedPAN) < 4 || length < 4 {
		return masked(length)
	}
	last4 := maskedPAN[len(maskedPAN)-4:]
	for i := range 4 {
		if last4[i] < '0' || last4[i] > '9' {
			return masked(length)
		}
	}
	return masked(length-4) + last4
}

// cardType names a brand as the platform's PaymentCardType does; ""
// for none.
func cardType(brand string) string {
	switch brand {
	case "", "unknown":
		return ""
	case "diners":
		return "diners-club"
	}
	return brand
}

// compatibleBase returns the parameters every progress callback about e
// carries: the payment's and the call's ids, the event's order and time.
func compatibleBase(e payment.Event) url.Values {
	v := url.Values{}
	v.Set("Sid", e.PaymentID)
	if e.CallID != "" {
		v.Set("CallSid", e.CallID)
	}
	if e.Seq > 0 {
		v.Set("SequenceNumber", strconv.FormatUint(e.Seq, 10))
	}
	v.Set("DateUpdated", e.At.UTC().Format(dateLayout))
	return v
}

// requiredSent remembers, for each open payment of a compatible
// webhook, the Required value last sent, so that one goes out only when
// it changes. A payment is forgotten at its final result.
type requiredSent struct {
	mu   sync.Mutex
	last map[string]string
}

// change reports whether value differs from what was last sent for the
// payment, and records it as sent if so.
func (r *requiredSent) change(paymentID, value string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if last, ok := r.last[paymentID]; ok && last == value {
		return false
	}
	if r.last == nil {
		r.last = make(map[string]string)
	}
	r.last[paymentID] = value
	return true
}

// forget drops the payment.
func (r *requiredSent) forget(paymentID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.last, paymentID)
}

// compatibleProgress returns the compatible callbacks a payment event of
// configuration configID makes, in order (none for most events):
//
//   - field_armed naming a field: capture started (Capture);
//   - field_length: a partial result (PartialResult, For, the field's
//     value masked so far);
//   - field_complete, valid: a partial result with the whole value
//     masked (a card number's last four shown);
//   - field_complete, invalid: an error (ErrorType, For);
//   - state timed_out: an error (ErrorType input-timeout);
//   - then, after a field event, the required fields left (Required)
//     when they differ from the last sent for the payment.
//
// The webhook's events filter applies by the payment event's type.
func (d *Dispatcher) compatibleProgress(configID string, hook payment.WebhookConfig, e payment.Event) []url.Values {
	if !hook.Progress {
		return nil
	}
	send := hook.SendsProgress(e.Type)
	var out []url.Values
	kind := e.Kind
	if kind == 0 && e.Field != "" {
		// A digital payment's events do not describe their field.
		kind = d.dir.fieldKind(configID, e.Field)
	}
	c := captureOf(kind, e.Field)
	known := kind != 0
	switch e.Type {
	case payment.EventFieldArmed:
		if send && known {
			v := compatibleBase(e)
			v.Set("Capture", c.name)
			out = append(out, v)
		}
	case payment.EventFieldLength, payment.EventFieldComplete:
		if !send || !known {
			break
		}
		v := compatibleBase(e)
		v.Set("For", c.name)
		switch {
		case e.Type == payment.EventFieldComplete && !e.Valid:
			v.Set("ErrorType", c.invalid)
			if kind == payment.FieldCardNumber && e.BrandRefused {
				v.Set("ErrorType", ErrorCardType)
			}
		case kind == payment.FieldCardNumber:
			v.Set("PartialResult", "true")
			v.Set(c.param, maskedCard(e.Length, e.MaskedPAN))
			if t := cardType(e.Brand.String()); e.Brand != payment.BrandUnknown && t != "" {
				v.Set("PaymentCardType", t)
			}
		default:
			v.Set("PartialResult", "true")
			v.Set(c.param, masked(e.Length))
		}
		out = append(out, v)
	case payment.EventState:
		if send && e.State == payment.StateTimedOut {
			v := compatibleBase(e)
			v.Set("ErrorType", ErrorInputTimeout)
			out = append(out, v)
		}
	}
	if send && e.Missing != nil {
		names := make([]string, len(e.Missing))
		for i, id := range e.Missing {
			names[i] = captureOf(d.dir.fieldKind(configID, id), id).name
		}
		if value := strings.Join(names, ","); d.required.change(e.PaymentID, value) {
			v := compatibleBase(e)
			v.Set("Required", value)
			out = append(out, v)
		}
	}
	return out
}

// savedCardToken is the token of the card a payment saved instead of
// charging it (intent tokenize, approved): the compatible result's
// PaymentToken; "" for a charge.
func savedCardToken(p store.Payment) string {
	if p.Intent != store.IntentTokenize {
		return ""
	}
	return p.Token
}

// compatibleResult returns the compatible final result of the payment p
// as recorded, reason being why it ended where no processor said, and
// token the token of the card it saved instead of charging ("" for a
// charge).
func compatibleResult(p store.Payment, reason, token string) url.Values {
	v := url.Values{}
	v.Set("Sid", p.ID)
	if p.CallID != "" {
		v.Set("CallSid", p.CallID)
	}
	v.Set("DateUpdated", p.UpdatedAt.UTC().Format(dateLayout))
	v.Set("PaymentMethod", "credit-card")
	result := resultValue(p, reason)
	v.Set("Result", result)
	if p.Last4 != "" {
		// The record keeps no length: twelve masks, as for a 16-digit card.
		v.Set("PaymentCardNumber", masked(12)+p.Last4)
	}
	if t := cardType(p.Brand); t != "" {
		v.Set("PaymentCardType", t)
	}
	switch p.State {
	case store.StateApproved, store.StateDeclined, store.StateFailed:
		// Handed to the processor: every card field was complete.
		v.Set("ExpirationDate", masked(4))
		if p.Brand == "amex" {
			v.Set("SecurityCode", masked(4))
		} else {
			v.Set("SecurityCode", masked(3))
		}
	}
	switch {
	case result == ResultSuccess && token != "":
		v.Set("PaymentToken", token)
	case result == ResultSuccess:
		if p.ProcessorReference != "" {
			v.Set("PaymentConfirmationCode", p.ProcessorReference)
		}
	case p.DeclineCode != "":
		v.Set("PaymentError", p.DeclineCode)
	case reason != "":
		v.Set("PaymentError", reason)
	}
	if p.Currency != "" {
		amount := p.Amount
		if token != "" {
			amount = 0 // a card saved is not charged
		}
		v.Set("ChargeAmount", chargeAmount(amount, p.Currency))
		v.Set("Currency", strings.ToLower(p.Currency))
	}
	return v
}

// resultValue maps a final payment onto the compatible Result.
func resultValue(p store.Payment, reason string) string {
	switch p.State {
	case store.StateApproved:
		return ResultSuccess
	case store.StateDeclined, store.StateFailed:
		if p.Type == store.TypeDigital {
			// A digital payment ends declined or failed only when its
			// link is locked; before, another card may follow.
			return ResultTooManyFailedAttempts
		}
		return ResultConnectorError
	case store.StateTimedOut:
		return ResultInputTimeout
	case store.StateCancelled:
		switch reason {
		case payment.ReasonCallEnded, payment.ReasonCallLost:
			return ResultCallerHungUp
		case payment.ReasonLinkExpired:
			return ResultInputTimeout
		}
		return ResultAgentCancelled
	}
	return ResultConnectorError
}

// chargeAmount writes minor units as a decimal in the currency's own
// decimals ("19.99", "1250" for yen), as the platform's ChargeAmount.
func chargeAmount(minor int64, code string) string {
	scale := 2
	if u, err := currency.ParseISO(code); err == nil {
		scale, _ = currency.Standard.Rounding(u)
	}
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	if scale == 0 {
		return sign + strconv.FormatInt(minor, 10)
	}
	unit := int64(1)
	for range scale {
		unit *= 10
	}
	frac := strconv.FormatInt(minor%unit, 10)
	return sign + strconv.FormatInt(minor/unit, 10) + "." + strings.Repeat("0", scale-len(frac)) + frac
}

package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"dtmfgw/payment"
)

// apiError is an error as the API answers it: a status and a stable
// snake_case code for programs, a sentence for people. The message never
// holds a value the client sent (it could be card data typed in the wrong
// place) nor anything of the card.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, message string) *apiError {
	return &apiError{Status: status, Code: code, Message: message}
}

// Errors answered in more than one place.
var (
	errUnauthorized     = errorf(http.StatusUnauthorized, "unauthorized", "a valid API key or form token is required (Authorization: Bearer ...)")
	errNoAPIKey         = errorf(http.StatusUnauthorized, "no_api_key_configured", "no API key is configured on this gateway")
	errTokenExpired     = errorf(http.StatusUnauthorized, "token_expired", "the form token has expired")
	errPaymentNotFound  = errorf(http.StatusNotFound, "payment_not_found", "no payment with this id")
	errCallNotFound     = errorf(http.StatusNotFound, "call_not_found", "no live call matches")
	errConfigNotFound   = errorf(http.StatusNotFound, "configuration_not_found", "no payment configuration with this id")
	errFieldNotFound    = errorf(http.StatusNotFound, "not_found", "the payment's configuration has no such field")
	errNotFound         = errorf(http.StatusNotFound, "not_found", "no such resource")
	errMethodNotAllowed = errorf(http.StatusMethodNotAllowed, "method_not_allowed", "the method is not allowed on this resource")
	errPaymentActive    = errorf(http.StatusConflict, "payment_active", "the call already has a payment in progress")
	errInvalidState     = errorf(http.StatusConflict, "invalid_state", "the payment cannot do this in its current state")
	errNotArmable       = errorf(http.StatusConflict, "field_not_armable", "no configuration is chosen yet: choose one first (PUT /v1/payments/{id}/configuration)")
	errNotReady         = errorf(http.StatusUnprocessableEntity, "not_ready", "every required field must be complete and valid, with an amount and a currency, before processing")
	errDraining         = errorf(http.StatusServiceUnavailable, "draining", "the gateway is shutting down and takes no changes")
	errStorage          = errorf(http.StatusServiceUnavailable, "storage_unavailable", "the payment could not be recorded; nothing was charged")
)

// writeJSON answers v with status. Encoding our own types cannot fail but
// for a broken connection, which there is no one to tell.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers err: an *apiError as it is, a payment error by its
// meaning, anything else as a 500 that says nothing of the cause (the
// cause is logged by the caller).
func writeError(w http.ResponseWriter, err error) {
	e := asAPIError(err)
	if e.Status == http.StatusMethodNotAllowed && w.Header().Get("Allow") == "" {
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH")
	}
	writeJSON(w, e.Status, struct {
		Error *apiError `json:"error"`
	}{e})
}

// asAPIError maps err to what the client is told.
func asAPIError(err error) *apiError {
	var e *apiError
	var ne *payment.NotEditableError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &ne):
		return errorf(http.StatusForbidden, "field_not_editable",
			string(ne.Attribute)+" was set by the back end, and the payment's configuration does not let the agent's form change it")
	case errors.Is(err, payment.ErrCardNumberInText):
		return errorf(http.StatusBadRequest, "card_number_in_text",
			"a reference or name holds what looks like a card number: card numbers are keyed by the caller, never typed into text")
	}
	for _, m := range domainErrors {
		if errors.Is(err, m.err) {
			return m.api
		}
	}
	return errorf(http.StatusInternalServerError, "internal", "an internal error occurred")
}

// domainErrors are what the payment domain's errors tell the client.
var domainErrors = []struct {
	err error
	api *apiError
}{
	{payment.ErrInProgress, errPaymentActive},
	{payment.ErrNoConfig, errConfigNotFound},
	{payment.ErrNoField, errFieldNotFound},
	{payment.ErrNotReady, errNotReady},
	{payment.ErrProcessing, errInvalidState},
	{payment.ErrEnded, errInvalidState},
	{payment.ErrInvalidState, errInvalidState},
	{payment.ErrBadAttributes, errorf(http.StatusBadRequest, "invalid_attributes", "the amount, currency, reference or cardholder name is not usable")},
	{payment.ErrSetClosed, errCallNotFound},
	{payment.ErrNoCall, errCallNotFound},
	{payment.ErrNotFound, errPaymentNotFound},
	{payment.ErrStoreUnavailable, errStorage},
	{payment.ErrNotRecorded, errStorage},
	{payment.ErrNoConfigYet, errNotArmable},
	{payment.ErrConfigChosen, errorf(http.StatusConflict, "invalid_state", "the payment's configuration is chosen already")},
	{payment.ErrDigitalOff, errorf(http.StatusServiceUnavailable, "digital_unavailable", "digital payments need the store and http.public_url")},
	{payment.ErrTypeNotAllowed, errorf(http.StatusUnprocessableEntity, "type_not_allowed", "the payment configuration does not allow this payment type")},
	{payment.ErrBadPhone, errorf(http.StatusBadRequest, "invalid_phone", "phone is an E.164 number: + and the country code, 8 to 15 digits")},
	{payment.ErrNoPhone, errorf(http.StatusBadRequest, "no_phone", "give the phone number to send the link to")},
	{payment.ErrSMSUnavailable, errorf(http.StatusServiceUnavailable, "sms_unavailable", "the SMS could not be queued: try again")},
	{payment.ErrLinkClosed, errorf(http.StatusConflict, "link_closed", "the payment link is paid, expired, cancelled or locked")},
	{payment.ErrLinkBusy, errorf(http.StatusConflict, "payment_processing", "a card of this payment is with the processor")},
	{payment.ErrNotDigital, errorf(http.StatusConflict, "not_digital", "this is not a digital payment")},
}

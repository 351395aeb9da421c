// Package api is dtmfgw's public HTTP listener: the JSON API under /v1/
// that back-end clients (a CRM) and the agent form use to take a card
// payment during a call, and the agent form itself under /form/.
//
//   - Server (server.go) routes with Go's ServeMux patterns; every route
//     is in the route table that the OpenAPI document (openapi.yaml,
//     embedded, served at /v1/openapi.json) is tested against.
//   - Auth (auth.go): bearer API keys compared as SHA-256 digests in
//     constant time; form tokens, stateless and scoped to one payment
//     (base64url of id | expiry | HMAC-SHA256), valid for that payment's
//     paths only: any other payment answers 404, so a token never learns
//     that another payment exists. A form token is the agent's: it cannot
//     change an attribute the back end set (payment.Editor). Only the
//     form token may travel in a URL (the event stream's ?access_token=);
//     an API key there is refused.
//   - Bodies (decode.go): application/json, at most MaxBodyBytes, one
//     value, unknown fields refused; errors (errors.go) are JSON with a
//     stable code, and bad input is a 4xx, never a 500.
//   - Payments (payments.go, views.go) are package payment's: the API finds a
//     live call, makes the payment on its payment.Set and drives it; once
//     the call has ended a payment is read from the store.
//   - Events (events.go) are the call's payment.EventBus as Server-Sent
//     Events, resumable with Last-Event-ID; streams.go bounds them per
//     credential, per call and in all, a client's newest stream replacing
//     its oldest so that the agent's form can always connect.
//
// Nothing here reads a digit: the payment domain's views and events hold none,
// and no value a client sends is repeated in an error or a log line.
package api

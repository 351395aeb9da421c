// Package processor hands a captured card to a payment processor (PSP)
// and says what became of the charge.
//
// Processor is the interface the payment domain (package payment) calls: Charge
// once per idempotency key, and Reconcile when a charge's outcome is
// Unknown (a timeout, a lost answer) — never a second charge under a new
// key. Three adapters implement it, built by New from the "processors:"
// section of the configuration file (Config, Configs):
//
//   - Sandbox (sandbox.go), the default: no money moves; documented test
//     cards choose the outcome, after a realistic delay (300-800 ms by
//     default); an in-memory ledger makes each key charge once.
//   - Stripe (stripe.go): the Stripe API through its official Go client,
//     tested against stripe-mock.
//   - HTTPConnector (httpconn.go, httpconn_wire.go, httpconn_config.go):
//     the card as signed JSON to an HTTPS endpoint the merchant or a
//     card vault runs, in the field names of Twilio <Pay>'s Generic Pay
//     Connector; Reconcile is a status call to the same endpoint.
//
// # Card data
//
// Request carries the card number, security code and postcode as byte
// slices that the caller owns and zeroes once Charge returns. Adapters
// read them during the call and keep nothing: the sandbox decides its
// outcome and forgets the card; the Stripe adapter and the HTTP
// connector copy the card into one request body of their own, which they
// zero once net/http has closed it. No card field ever becomes a string, a log value or part of an
// error, and text coming back from a processor is filtered (no digits in
// a message, no long digit runs in an id) before it reaches a Result, an
// error or a log line.
//
// # Sandbox test cards
//
// Any expiry date not in the past and a security code of the card's
// length (4 digits for American Express, 3 otherwise) are accepted.
//
//	card number          outcome
//	4242 4242 4242 4242  approved (Visa)
//	5555 5555 5555 4444  approved (Mastercard)
//	3782 822463 10005    approved (American Express, 4-digit code)
//	4000 0000 0000 0002  declined, do_not_honor
//	4000 0000 0000 9995  declined, insufficient_funds
//	4000 0000 0000 4087  timeout: the charge is taken but the answer never
//	                     comes; Charge is Unknown (ErrTimeout) at the
//	                     deadline, Reconcile then says approved
//	4000 0000 0000 5043  timeout: the request is lost before the
//	                     processor; Charge is Unknown at the deadline,
//	                     Reconcile then says ErrNotFound
//	4000 0000 0000 5001  failed, processing_error (nothing charged)
//	any other number     approved if it passes the Luhn check, else
//	                     declined, incorrect_number
//
// An expiry in the past is declined as expired_card, a security code of
// the wrong length as incorrect_cvc. The first five numbers mean the same
// in Stripe's test mode; the timeout and failure cards are the sandbox's
// own. docs/processor.md has the same table for people outside Go.
package processor

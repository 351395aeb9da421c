// Package sms sends the text messages of digital payments: the caller of
// a phone payment gets an SMS with a single-use link to the hosted
// payment page, and pays there.
//
// The payment domain (package payment) makes each Message, whose Body
// holds the link and whose Redacted is the same text with the link's
// token replaced, and hands it to a Sender. The Sender queues it, sends
// it through the configured Provider from its Run goroutine, retries
// what fails transiently with a backoff, and reports each message's
// progress (queued, sent, failed) to the function it was given. The
// gateway builds the provider from the "sms:" section of the
// configuration (Config, New) and runs the Sender. Like processor and
// store, the package is a hand-off of the payment domain: it imports
// nothing of ours but internal helpers.
//
// Two providers implement Provider:
//
//   - Outbox (outbox.go), the default: sends nothing, keeps the last
//     messages in memory, text included, for a developer to read through
//     the API, so that digital payments work offline.
//   - Twilio (twilio.go): Twilio's Programmable Messaging REST API, tested
//     against a local fake that checks every request.
//
// # The secret in the text
//
// A Message's Body is read only by a provider's Send (and kept by the
// Outbox, which is its purpose). Logs, errors and statuses carry the
// message id, the payment id, the number masked (MaskedTo) and at most
// Redacted. Text that comes back from a provider is cleaned before it
// goes into an *Error: numbers of 6 digits or more are masked (providers
// echo the recipient's number), control characters are removed, the
// length is bounded, and a message that quotes a piece of the token is
// withheld whole.
//
// docs/sms.md describes the configuration and the statuses for people
// outside Go.
package sms

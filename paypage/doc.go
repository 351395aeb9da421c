// Package paypage is the hosted payment page of a digital payment: the
// page a caller opens from the single-use link the agent sent by SMS, and
// the small JSON API its script calls. It serves paths under /pay/ over a
// payment.Desk; another package mounts Handler on the public listener.
//
//   - The link is https://host/pay/#<token>. The token is in the URL
//     fragment, which browsers never send: it reaches no request line,
//     access log, proxy or Referer, and a link-preview bot that fetches
//     the URL gets the empty page shell, not the payment. The script
//     reads the fragment, drops it from the address bar
//     (history.replaceState) and sends the token as a bearer token.
//   - Files (assets.go) are embedded; index.html carries the SHA-384 of
//     its script and style sheet as integrity attributes, put in at
//     start, and /pay/integrity.json lists every script and style with
//     its hash and the page's and headers' SHA-256, for a monitor that
//     watches the page for change (PCI DSS v4.0 6.4.3 and 11.6.1;
//     docs/paypage.md).
//   - Every response has a strict Content-Security-Policy (our script
//     and style only, Trusted Types required, no framing) and the other
//     security headers (headers.go).
//   - Every POST carries the CSRF token the session answered (an HMAC of
//     the link token's hash: stateless), a same-origin Origin and
//     application/json (csrf.go); routes are rate limited per link and
//     per client address on an injected clock (limit.go).
//   - The card (card.go) is read into a bounded buffer, scanned without
//     ever making a string of a digit, copied into fresh []byte slices
//     that the desk and then the handler zero, and the buffer zeroed.
//
// Nothing here logs a token, a body or a value: a request is logged by
// its route and status only.
package paypage

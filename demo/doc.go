// Package demo is `dtmfgw demo`: a gateway (package gateway) in-process on
// loopback, a simulated agent that answers and a simulated caller that
// calls through it (internal/simcall), and one scripted card payment,
// created over the HTTP API as a CRM would, keyed by the caller as RFC
// 4733 events and followed step by step in the terminal and in the agent
// form, whose URL it prints.
//
// What it prints is what the form shows: one dot per key, the brand, the
// last four digits; never the card number, which the caller keys from the
// sandbox's approved Visa test card and clears after use.
package demo

// Package e2e holds dtmfgw's end-to-end tests: whole gateways, started
// from a configuration file as `dtmfgw serve --config FILE` starts them
// (gateway_test.go), driven from outside: SIPp and sipgo callers and
// agents, the JSON API, the agent form in headless Chromium, a processor
// that holds its answers, SIGHUP, SIGKILL and a restart. It has no code of
// its own besides its tests.
package e2e

// Package gateway is one running dtmfgw, as `dtmfgw serve` runs it: the
// configuration and the wiring of every part into a gateway.
//
//   - Config is the whole configuration file, every section from the
//     package it configures, each with an embedded default: DefaultConfig,
//     LoadConfig (a YAML file over the defaults, unknown keys refused) and
//     Validate, whose errors name the key.
//   - Sources build the effective configuration from the defaults, the
//     file, the DTMFGW_<SECTION>_<KEY> environment and the serve flags, in
//     that order of precedence (AddFlags, Build); every refusal names the
//     key and where its value came from, and withholds a card number.
//     PrintConfig prints a configuration with its secrets redacted.
//   - Start opens the store, the webhook dispatcher, the processors, the
//     port pool, the B2BUA and the public and admin listeners; Run serves
//     until its context ends, then drains. A SIGHUP given to Run reloads
//     what can change while serving (routing, the ACL, the correlation
//     headers, the timeouts, the payment configurations, the log level,
//     the TLS certificates) and logs the other changes as needing a
//     restart.
//   - NewLogger is the process logger, behind the redaction layer.
//
// The command line (cmd/dtmfgw), the demo and the end-to-end tests start
// a gateway this one way.
package gateway

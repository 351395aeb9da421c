// Package deploy holds no code of the gateway: it is the home of the
// deployment material under deploy/ (a Grafana dashboard, a systemd unit, a
// Dockerfile, a Kamailio dispatcher configuration) and of the tests that keep
// that material honest — the dashboard names only metrics dtmfgw exports,
// Kamailio accepts its configuration and probes and fails over between nodes,
// the unit passes systemd-analyze, the Dockerfile keeps its essentials.
// See deploy/README.md.
package deploy

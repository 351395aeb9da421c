# dtmfgw — every target installs what it needs and says what it is doing.
# On a fresh Debian 12 machine, as root, with only Go installed:
#   make run    build and start dtmfgw on its embedded defaults
#   make test   install test dependencies, lint, and run every test
# While working on the code (no root, once make test or make deps has run):
#   make check  lint and the short tests, in under two minutes

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO            ?= go
BIN           := $(CURDIR)/bin
STATICCHECK   := $(BIN)/staticcheck
STATICCHECK_VERSION := v0.8.2
# golangci-lint runs the linters .golangci.yml configures (make lint, make check).
GOLANGCI_LINT := $(BIN)/golangci-lint
GOLANGCI_LINT_VERSION := v2.15.0
# stripe-mock is Stripe's mock of its API; the processor package's Stripe
# tests start it on a free loopback port.
STRIPE_MOCK   := $(BIN)/stripe-mock
STRIPE_MOCK_VERSION ?= v0.203.0
# Debian packages the tests drive as real peers or use to make test material:
# sip-tester is SIPp (callers and agents), baresip a softphone driven over ctrl_tcp.
# postgresql gives the store tests a real server: they run initdb and postgres from
# /usr/lib/postgresql/*/bin on a temporary directory and a free loopback port (as the
# postgres user when run as root), unless DTMFGW_TEST_POSTGRES_DSN names a database.
# The cluster the package itself may create and start is not used.
# chromium is the headless browser the agent form's tests drive (chromedp,
# /usr/bin/chromium).
# kamailio checks deploy/kamailio/kamailio.cfg and runs it on loopback in front of
# fake dtmfgw nodes (package deploy) and real ones (e2e, and the cluster load run of
# make bench, bench/clusterload, whose short run is one of make test's); its own
# service is not started.
# systemd (systemd-analyze, no running systemd needed) verifies deploy/systemd's unit
# and expands its system call filter, and strace traces a demo call against it.
# rtpengine-daemon is Sipwise's media proxy (/usr/bin/rtpengine), the relay the
# end-to-end load benchmark compares dtmfgw with (bench/loadrelay, make bench; its
# short run is one of make test's); the benchmark starts its own, in user space, and
# Debian's service is not used.
DEB_PACKAGES  := espeak-ng sox multimon-ng sip-tester baresip postgresql chromium kamailio systemd strace rtpengine-daemon
FUZZTIME      ?= 30s
BENCH_COUNT   ?= 5
LOAD_ROUNDS   ?= 5
# The end-to-end load run of make bench (bench/loadrelay): dtmfgw serve against
# rtpengine with and without DTMF blocking and the reference forwarder, at each of
# SERVE_CALLS calls, and dtmfgw also pinned to one core (serve@0: taskset -c 0).
# Beyond 600 calls the generator, which shares the two cores, falls behind.
SERVE_CALLS   ?= 100,200,300,400,500,600
SERVE_MODES   ?= reference,serve,rtpengine,rtpengine-dtmf,serve@0
SERVE_ROUNDS  ?= 2
# The SIP load run of make bench: SIPp calls through dtmfgw (bench/sipload).
SIP_RATE      ?= 50
SIP_DURATION  ?= 20s
# The cluster load run of make bench: SIPp calls through Kamailio to one and to three
# dtmfgw nodes on one PostgreSQL, rows interleaved at each rate (bench/clusterload).
CLUSTER_RATES    ?= 20,40,60,80
CLUSTER_DURATION ?= 10s
CLUSTER_ROUNDS   ?= 2
# RUN_ARGS are passed to `dtmfgw serve` by `make run`, e.g.
# RUN_ARGS='--default-target sip:agent@127.0.0.1:5070'.
RUN_ARGS      ?=
# DEMO_ARGS are passed to `dtmfgw demo` by `make demo`, e.g. DEMO_ARGS='--wait 30s'.
DEMO_ARGS     ?=
TEST_TIMEOUT  ?= 30m
# Where the browser tests save their screenshots (the form at each step):
# test-artifacts/form (api's form tests) and test-artifacts/e2e (the
# end-to-end tests in e2e), or $DTMFGW_ARTIFACTS when it is set.
ARTIFACTS_WHERE = $(if $(DTMFGW_ARTIFACTS),$(DTMFGW_ARTIFACTS),$(CURDIR)/test-artifacts/form and $(CURDIR)/test-artifacts/e2e)

export GOFLAGS := -buildvcs=false

.PHONY: help build run demo test test-go check lint gofmt deps modules tools fuzz bench detector-report clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

modules: ## download the Go modules (through the Go module proxy)
	@echo "==> downloading Go modules"
	@$(GO) mod download

build: modules ## build bin/dtmfgw
	@echo "==> building bin/dtmfgw"
	@$(GO) build -o $(BIN)/dtmfgw ./cmd/dtmfgw

run: build ## build and run the gateway on its embedded defaults (SIP 127.0.0.1:5060; Ctrl-C drains and stops)
	@echo "==> dtmfgw serve $(RUN_ARGS)   (SIP on 127.0.0.1:5060 UDP+TCP, RTP 20000-29999; Ctrl-C to stop)"
	@$(BIN)/dtmfgw serve $(RUN_ARGS)

demo: build ## build and run the demo: the gateway with a simulated caller and agent, one card payment to watch at the printed URL
	@echo "==> dtmfgw demo $(DEMO_ARGS)   (the form on http://127.0.0.1:8080; Ctrl-C to stop)"
	@$(BIN)/dtmfgw demo $(DEMO_ARGS)

deps: ## install the Debian packages the tests need (apt-get, as root)
	@missing=""; for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "==> Debian packages present: $(DEB_PACKAGES)"; \
	else \
	  echo "==> installing Debian packages:$$missing"; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  $$sudo apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  echo "==> installed:$$missing"; \
	fi
	@# Debian starts kamailio's own service on install, on port 5060, where
	@# `make run` listens: the tests run their own Kamailio, so stop that one.
	@if [ -d /run/systemd/system ] && systemctl is-active --quiet kamailio 2>/dev/null; then \
	  echo "==> stopping and disabling the kamailio service Debian started (the tests run their own)"; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  $$sudo systemctl disable --now kamailio >/dev/null 2>&1; \
	fi
	@# Likewise rtpengine-daemon's service: the load benchmark runs its own rtpengine,
	@# and Debian's would relay nothing but take CPU from the measured one.
	@if [ -d /run/systemd/system ] && systemctl is-active --quiet rtpengine-daemon 2>/dev/null; then \
	  echo "==> stopping and disabling the rtpengine-daemon service Debian started (the load benchmark runs its own)"; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  $$sudo systemctl disable --now rtpengine-daemon >/dev/null 2>&1; \
	fi

tools: $(STATICCHECK) $(STRIPE_MOCK) ## install staticcheck and stripe-mock into bin/ (make check installs golangci-lint)

$(STATICCHECK):
	@echo "==> installing staticcheck $(STATICCHECK_VERSION) into bin/"
	@GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(GOLANGCI_LINT):
	@echo "==> installing golangci-lint $(GOLANGCI_LINT_VERSION) into bin/ (a few minutes, once)"
	@GOBIN=$(BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

$(STRIPE_MOCK):
	@echo "==> installing stripe-mock $(STRIPE_MOCK_VERSION) into bin/"
	@GOBIN=$(BIN) $(GO) install github.com/stripe/stripe-mock@$(STRIPE_MOCK_VERSION)

# make test (and so CI) lints with gofmt, go vet and staticcheck; the
# wider golangci-lint set (.golangci.yml) is make check's, because building
# golangci-lint on a fresh machine costs CI about two and a half minutes.
lint: modules tools gofmt ## gofmt, go vet, staticcheck
	@echo "==> go vet"
	@$(GO) vet ./...
	@echo "==> staticcheck"
	@$(STATICCHECK) ./...

gofmt:
	@echo "==> gofmt"
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

check: modules gofmt $(GOLANGCI_LINT) $(STRIPE_MOCK) ## the inner loop: gofmt, golangci-lint and go test -short ./... (no root, no apt-get; the Debian packages of make deps must be there)
	@echo "==> golangci-lint (.golangci.yml: go vet, staticcheck and more)"
	@$(GOLANGCI_LINT) run ./...
	@echo "==> go test -short ./... (the long tests are left to make test)"
	@$(GO) test -short -timeout 5m ./...

test: deps lint test-go ## install what the tests need, lint, run every test (race detector on)

test-go: $(STRIPE_MOCK)
	@echo "==> go test -race ./... (fuzz seed corpora included)"
	@$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	@echo "==> the detector's whole Q.24 and talk-off corpus (the race build above scores a sample of it)"
	@$(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run 'TestDetectorCorpus' ./internal/testkit/dtmfcorpus
	@echo "==> key press → dot, SIPp through dtmfgw to the form in headless Chromium, without -race (figures logged; make bench judges the p99 < 100 ms bar)"
	@$(GO) test -count=1 -timeout 5m -run '^TestE2EKeyToDotLatency$$' -v ./e2e | grep -vE '^=== (RUN|PAUSE|CONT)'
	@echo "==> the agent form's screenshots are in $(ARTIFACTS_WHERE)"

fuzz: modules ## run every fuzz target for FUZZTIME (default 30s) each
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "==> fuzzing $$pkg $$t for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

bench: deps modules ## run the benchmarks, the relay load tests, the end-to-end load run against rtpengine, the SIP load run, the cluster load run (one node against three behind Kamailio) and the key→dot latency; write docs/reports/benchmarks.md (latency section included), docs/reports/benchmarks-relay.md, docs/reports/benchmarks-relay-1000.md, docs/reports/benchmarks-serve.md, docs/reports/benchmarks-serve-stopped.md, docs/reports/benchmarks-sip.md and docs/reports/benchmarks-cluster.md
	@echo "==> go test -run '^\$$' -bench . -benchmem -count $(BENCH_COUNT) ./..."
	@mkdir -p $(BIN)
	@$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) ./... | tee $(CURDIR)/bin/bench.txt
	@echo "==> writing docs/reports/benchmarks.md"
	@$(GO) run ./bench/report -in $(CURDIR)/bin/bench.txt -out $(CURDIR)/docs/reports/benchmarks.md \
	  -command "make bench  (go test -run '^\$$' -bench . -benchmem -count $(BENCH_COUNT) ./...)"
	@echo "==> relay load on loopback: 100, 500, 1000 calls, every mode at once against a reference forwarder, the load handed round them each second, $(LOAD_ROUNDS) rounds (about 12 minutes)"
	@$(GO) run ./bench/loadrelay -rounds $(LOAD_ROUNDS) -out docs/reports/benchmarks-relay.md
	@echo "==> the relay's bar at 1000 calls, where p99 varies most: the masking reactor relay against the reference, 5 rounds of ten 1 s windows each (about 3 minutes)"
	@$(GO) run ./bench/loadrelay -calls 1000 -modes reference,relay+mask-reactor -measure 10s -rounds 5 -out docs/reports/benchmarks-relay-1000.md
	@echo "==> end-to-end load on loopback: dtmfgw serve (built from this tree, calls set up over SIP) against rtpengine (ng, user space) with and without DTMF blocking and the reference forwarder, on both cores and pinned to core 0, at $(SERVE_CALLS) calls, interleaved, $(SERVE_ROUNDS) round(s) (about 7 minutes a round)"
	@$(GO) run ./bench/loadrelay -calls $(SERVE_CALLS) -modes $(SERVE_MODES) -rounds $(SERVE_ROUNDS) -measure 5s -ports 2000-29999 -out docs/reports/benchmarks-serve.md
	@echo "==> the same at 200 calls with each relay stopped (SIGSTOP) for 100 ms in every measured window: audio that arrived meanwhile must be relayed late, not lost (about a minute)"
	@$(GO) run ./bench/loadrelay -calls 200 -modes reference,serve -rounds 2 -measure 5s -stop-relay 100ms -ports 2000-29999 -out docs/reports/benchmarks-serve-stopped.md
	@echo "==> SIP load through dtmfgw: SIPp calls with RTP at $(SIP_RATE) calls/s for $(SIP_DURATION), then 35 s for SIP timers (about a minute; needs root)"
	@$(GO) run ./bench/sipload -rate $(SIP_RATE) -duration $(SIP_DURATION) -out $(CURDIR)/docs/reports/benchmarks-sip.md \
	  -command "make bench  (go run ./bench/sipload -rate $(SIP_RATE) -duration $(SIP_DURATION))"
	@echo "==> cluster load: SIPp calls through Kamailio to 1 and to 3 dtmfgw nodes (built from this tree) on one PostgreSQL, at $(CLUSTER_RATES) calls/s for $(CLUSTER_DURATION) a row, interleaved, $(CLUSTER_ROUNDS) round(s) (about 4 minutes; needs root)"
	@$(GO) run ./bench/clusterload -rates $(CLUSTER_RATES) -duration $(CLUSTER_DURATION) -rounds $(CLUSTER_ROUNDS) -out $(CURDIR)/docs/reports/benchmarks-cluster.md \
	  -command "make bench  (go run ./bench/clusterload -rates $(CLUSTER_RATES) -duration $(CLUSTER_DURATION) -rounds $(CLUSTER_ROUNDS))"
	@echo "==> key press → dot latency: 161 presses by SIPp through dtmfgw to the form in headless Chromium (about 30 s); into docs/reports/benchmarks.md"
	@$(GO) test -count=1 -timeout 5m -run '^TestE2EKeyToDotLatency$$' -v ./e2e -args -latency-report $(CURDIR)/docs/reports/benchmarks.md | grep -vE '^=== (RUN|PAUSE|CONT)'

detector-report: deps modules ## run the detector corpus and write docs/reports/dtmf-detector.md
	@echo "==> running the in-band detector over the Q.24 and talk-off corpus"
	@$(GO) test ./internal/testkit/dtmfcorpus -run TestDetectorCorpus -count=1 -v -args -report $(CURDIR)/docs/reports/dtmf-detector.md

clean: ## remove build output
	rm -rf $(BIN)

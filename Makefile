# oais — see README.md. Every target works from a fresh clone.
SHELL := /bin/bash
GO    ?= go
BIN   := bin
PKGS  := ./...
# The PostgreSQL server tests make their databases on (CONTRACT §1).
export OAIS_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
STATICCHECK_VERSION := v0.8.2
# Tools the tests run, installed by the targets below when missing. stripe-mock
# goes into GOPATH/bin, which internal/stripetest also searches; raise its
# version together with stripetest.InstallCommand.
STRIPE_MOCK := github.com/stripe/stripe-mock@v0.203.0
# helm for the chart checks (deploy/helm_test.go), also into GOPATH/bin.
HELM        := helm.sh/helm/v3/cmd/helm@v3.21.4
GOPATH_BIN  := $(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/bin
export PATH := $(GOPATH_BIN):$(PATH)
# The browser the e2e suite drives (web/e2e/harness.mjs reads the same variable).
export CHROMIUM_PATH := $(or $(CHROMIUM_PATH),/usr/bin/chromium)

.PHONY: all build web generate test test-go test-short test-web test-e2e test-pgbouncer tools stripe-mock chromium pgbouncer run lint bench clean check-generated help image podman helm

all: build

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

web/node_modules: web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch web/node_modules

web: web/node_modules ## build the dashboard into web/dist (embedded by the controlplane)
	cd web && npm run build

build: web ## build bin/controlplane and bin/gateway (dashboard included)
	$(GO) build -o $(BIN)/ ./cmd/controlplane ./cmd/gateway

generate: ## regenerate ent, gqlgen, graph/schema.graphql, migrations (needs PostgreSQL)
	$(GO) generate $(PKGS)

check-generated: generate ## fail if generated code differs from what is committed
	@git diff --exit-code --stat -- ent graph migrations || (echo "generated code is stale: run 'make generate' and commit" && exit 1)
	@test -z "$$(git status --porcelain -- ent graph migrations)" || (git status --porcelain -- ent graph migrations; echo "make generate created files: commit them" && exit 1)

test: build test-go test-pgbouncer test-web test-e2e ## every test: Go (SQLite + PostgreSQL + Redis + stripe-mock), again through PgBouncer, dashboard, browser

# The gateway's handler tests serve on net/http (the binary's default), then
# again on fasthttp (OAIS_GATEWAY_HTTP_SERVER=fasthttp).
test-go: stripe-mock pgbouncer podman helm ## Go tests on SQLite and on the PostgreSQL of OAIS_TEST_DATABASE_URL
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 15m $(PKGS)
	OAIS_TEST_GATEWAY_HTTP_SERVER=fasthttp $(GO) test -count=1 -timeout 5m ./gateway/

# The packages whose PostgreSQL tests run a second time through PgBouncer in
# transaction pooling (storetest starts a private pgbouncer per package;
# about 1.5 minutes on 2 CPUs): everything that writes or reads the store
# on the binaries' hot paths, and LISTEN.
PGBOUNCER_PKGS := ./internal/store/ ./internal/ledger/ ./billing/entstore/ ./gateway/keysnapshot/ ./internal/controlplane/graphqltest/ ./internal/changes/

test-pgbouncer: pgbouncer ## PostgreSQL tests again through a private PgBouncer (pool_mode = transaction)
	OAIS_TEST_PGBOUNCER=1 $(GO) test -count=1 -timeout 10m $(PGBOUNCER_PKGS)

test-short: stripe-mock ## fast Go tests only
	$(GO) test -short -count=1 $(PKGS)

test-web: web/node_modules ## dashboard unit tests (Vitest)
	cd web && npm test

test-e2e: build chromium ## browser tests (Playwright + Debian chromium) against the real binaries
	cd web && OAIS_BIN_DIR=$(CURDIR)/$(BIN) npm run e2e

tools: stripe-mock chromium pgbouncer podman helm ## install what the tests need and this machine lacks

stripe-mock: ## install stripe-mock into GOPATH/bin unless it is on PATH (billing tests)
	@command -v stripe-mock >/dev/null || { echo "installing $(STRIPE_MOCK) into $(GOPATH_BIN)"; GOBIN=$(GOPATH_BIN) $(GO) install $(STRIPE_MOCK); }

# podman and runc from Debian (as root; else one line naming the command, and
# the image test skips): the image is FROM scratch, so nothing is pulled.
podman: ## install podman + runc and set their containers.conf, unless docker runs containers (image test)
	@deploy/image/setup-podman.sh

helm: ## install helm into GOPATH/bin unless it is on PATH (chart checks; the test skips without it)
	@command -v helm >/dev/null || { echo "installing $(HELM) into $(GOPATH_BIN)"; GOBIN=$(GOPATH_BIN) $(GO) install $(HELM) || echo "'go install $(HELM)' failed: the chart checks skip" >&2; }

image: web podman ## build the container image localhost/oais:VERSION (deploy/image; IMAGE=name:tag to rename)
	deploy/image/build.sh $(IMAGE)

# Debian's chromium, installed only as root; apt mirrors fail now and then, so
# one retry.
chromium: ## install Debian's chromium unless CHROMIUM_PATH exists (browser tests)
	@test -x "$(CHROMIUM_PATH)" && exit 0; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	  echo "$(CHROMIUM_PATH) is missing: run 'sudo apt-get install -y chromium' (or set CHROMIUM_PATH)" >&2; exit 1; \
	fi; \
	echo "installing chromium with apt-get"; \
	apt_chromium() { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; \
	apt_chromium || { sleep 5; apt_chromium; } || { echo "'apt-get install -y chromium' failed twice: run it by hand, or set CHROMIUM_PATH" >&2; exit 1; }; \
	test -x "$(CHROMIUM_PATH)" || { echo "apt-get installed chromium, but $(CHROMIUM_PATH) is still missing: set CHROMIUM_PATH" >&2; exit 1; }

# Debian's pgbouncer, for the tests that run the store through a transaction
# pooler (make test-pgbouncer); installed only as root, like chromium. The
# service the package may start is not used: the tests start their own.
pgbouncer: ## install Debian's pgbouncer unless it is installed (PgBouncer tests)
	@{ command -v pgbouncer || test -x /usr/sbin/pgbouncer; } >/dev/null && exit 0; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	  echo "pgbouncer is missing: run 'sudo apt-get install -y pgbouncer'" >&2; exit 1; \
	fi; \
	echo "installing pgbouncer with apt-get"; \
	apt_pgbouncer() { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null; }; \
	apt_pgbouncer || { sleep 5; apt_pgbouncer; } || { echo "'apt-get install -y pgbouncer' failed twice: run it by hand" >&2; exit 1; }

run: build ## build everything, then start controlplane (:8080) and gateway (:8081) on SQLite
	./scripts/run.sh

lint: ## gofmt, go vet, staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "run gofmt -w"; exit 1)
	$(GO) vet $(PKGS)
	@# ent/ and graph/generated are generated code: linted at their source, not here.
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $$($(GO) list ./... | grep -v -e '/ent$$' -e '/ent/' -e '/graph/generated$$')

bench: build ## gateway vs bare reverse proxy vs direct, side by side (docs/benchmarks.md)
	$(GO) run ./cmd/oais-bench

clean:
	rm -rf $(BIN) web/dist/assets web/dist/index.html

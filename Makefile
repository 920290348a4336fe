# Kizuna's build. `make demo` and `make test` are the two commands a newcomer needs; both build
# what they need first. Tools and the local control plane are cached outside the repository.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

CACHE_DIR ?= $(or $(KIZUNA_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kizuna)
export KIZUNA_CACHE_DIR := $(CACHE_DIR)
TOOLS_DIR := $(CACHE_DIR)/tools

# Pinned tool versions.
CONTROLLER_GEN_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
CONTROLLER_GEN := $(TOOLS_DIR)/controller-gen-$(CONTROLLER_GEN_VERSION)/controller-gen
GOLANGCI_LINT := $(TOOLS_DIR)/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/kizuna-dev/kizuna/pkg/version.Version=$(VERSION)

# Packages of the test suite; hack/demo is a program, not tests.
GO_TEST_FLAGS ?= -count=1

.PHONY: all
all: build

##@ Development

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-12s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/kizuna.
	go build -trimpath -ldflags '$(LDFLAGS)' -o bin/kizuna ./cmd/kizuna

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC from the Go types and markers.
	$(CONTROLLER_GEN) crd:allowDangerousTypes=true paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=kizuna-manager paths=./controllers/... output:rbac:artifacts:config=config/rbac
	hack/sync-chart-crds.sh

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: fmt
fmt: ## Format the Go code.
	gofmt -w -l $$(git ls-files --cached --others --exclude-standard '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: $(CONTROLLER_GEN) ## Fail when generated files or formatting are stale.
	hack/verify-generated.sh

##@ Test

.PHONY: control-plane
control-plane: ## Build (once) kube-apiserver, etcd, kubectl and kube-controller-manager from Go modules.
	hack/build-control-plane.sh >/dev/null

.PHONY: postgresql
postgresql: ## Make sure PostgreSQL is installed (the store's tests start a real server).
	hack/ensure-postgresql.sh

.PHONY: smtp-sink
smtp-sink: ## Make sure Postfix's smtp-sink is installed (email tests and benchmarks send to it).
	hack/ensure-smtp-sink.sh

.PHONY: test
test: verify vet lint control-plane postgresql smtp-sink ## Run the full test suite: generated files, vet, lint, unit, envtest, admission, end to end.
	KUBEBUILDER_ASSETS="$$(hack/build-control-plane.sh --print)" go test $(GO_TEST_FLAGS) ./...

.PHONY: test-e2e
test-e2e: control-plane ## Run only the end-to-end tests on the local cluster that runs Jobs.
	KUBEBUILDER_ASSETS="$$(hack/build-control-plane.sh --print)" go test $(GO_TEST_FLAGS) -v ./test/e2e/...

.PHONY: bench
bench: postgresql smtp-sink ## Run the benchmarks and print a table.
	go test -run '^$$' -bench . -benchmem ./... | hack/bench-table.sh

##@ Demo

.PHONY: demo
demo: build control-plane ## Start a local control plane and the manager, apply the samples, show them reconcile.
	go run ./hack/demo -kizuna bin/kizuna $(DEMO_FLAGS)

##@ Tools

$(CONTROLLER_GEN):
	GOBIN=$(dir $@) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

$(GOLANGCI_LINT):
	GOBIN=$(dir $@) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

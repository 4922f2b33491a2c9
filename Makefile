# s3-image-compressor: every command a user or CI runs. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# The three Go modules of go.work; `go test ./...` at a workspace root walks none of them.
MODULES := function infra test
ENV ?= dev

# Heavy builds (ImageMagick, MinIO, the runtime emulator, linters) live outside the repo,
# keyed by version, so a fresh clone reuses them.
export S3IC_CACHE ?= $(HOME)/.cache/s3-image-compressor
TOOLS := $(S3IC_CACHE)/tools
GOLANGCI_LINT_VERSION := v2.15.0
ACTIONLINT_VERSION := v1.7.12
GOLANGCI_LINT := $(TOOLS)/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint
ACTIONLINT := $(TOOLS)/actionlint-$(ACTIONLINT_VERSION)/actionlint

# The function links ImageMagick 7 through cgo. CGO_LDFLAGS carries the prefix into Go's
# build cache key (PKG_CONFIG_PATH does not), so a new ImageMagick build relinks everything.
export MAGICK_PREFIX := $(shell bash layers/imagemagick/local.sh prefix)
export PKG_CONFIG_PATH := $(MAGICK_PREFIX)/lib/pkgconfig
export CGO_LDFLAGS := -Wl,-rpath,$(MAGICK_PREFIX)/lib
export GOTOOLCHAIN := local
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
CDK := npx --no-install cdk

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Using it
.PHONY: local demo
# Built, not `go run`: go run reports a clean Ctrl-C stop as exit status 1.
local: deps magick bin/local ## Run the pipeline locally: MinIO + the real bootstrap under the Lambda emulator
	bin/local

demo: deps magick bin/local ## Upload sample images (IMAGES=dir) through the local pipeline and summarise
	bin/local -demo $(if $(IMAGES),-images "$(abspath $(IMAGES))")

.PHONY: bin/local
bin/local:
	cd test && go build -o ../bin/local ./cmd/local

.PHONY: synth diff deploy oidc
oidc: deps ## Deploy the GitHub OIDC roles, once per account (admin credentials, no Docker)
	$(CDK) deploy --exclusively 'ImageCompressorGitHub-*'

deploy: deps ## Deploy ENV to AWS: Docker builds the layer and the function (never skips bundling)
	$(CDK) deploy -c env=$(ENV)

synth: deps ## Print the template of ENV (default dev) without Docker bundling
	$(CDK) synth -c env=$(ENV) -c skipBundling=true

diff: deps ## Compare ENV with a saved template offline: make diff TEMPLATE=file.json
	$(CDK) diff -c env=$(ENV) -c skipBundling=true --template "$(TEMPLATE)"

##@ Developing it
.PHONY: test unit vet lint cdk-check fuzz e2e snapshot bench
test: packages deps magick tools vet lint unit cdk-check fuzz e2e ## Everything CI runs: vet, lint, unit, snapshot, fuzz, end-to-end tests

unit: ## Unit, snapshot and layer tests of every module
	for m in $(MODULES); do (cd $$m && go test -count=1 $$(go list ./... | grep -v /e2e)); done
	node --test .github/scripts/

vet: ## go vet and gofmt on every module
	test -z "$$(gofmt -l $(MODULES))" || { gofmt -l $(MODULES); echo "gofmt: run gofmt -w on the files above"; exit 1; }
	for m in $(MODULES); do (cd $$m && go vet ./...); done

lint: tools ## golangci-lint per module, actionlint on the workflows
	for m in $(MODULES); do (cd $$m && $(GOLANGCI_LINT) run ./...); done
	$(ACTIONLINT)
	shellcheck -x -P SCRIPTDIR .github/scripts/*.sh layers/imagemagick/*.sh scripts/*.sh

cdk-check: deps ## Synthesize every stack through the CDK CLI without Docker (cdk-nag must pass)
	$(CDK) synth -c skipBundling=true -q

fuzz: ## A bounded run of the pipeline fuzzer, seeded with the corpus
	cd function && go test -run='^$$' -fuzz=FuzzProcess -fuzztime=$${FUZZTIME:-30s} ./pipeline/

e2e: ## End-to-end tests through MinIO and the runtime emulator
	cd test && go test -count=1 -timeout 20m ./e2e/

snapshot: ## Rewrite the template snapshots after an intended change
	cd test && go test -count=1 ./infra/ -update

bench: packages build ## Speed, size, quality and memory against the references (IMAGES=dir, BENCH_RUNS=n); writes docs/benchmarks.md
	cd test && go run ./cmd/bench $(if $(IMAGES),-images "$(abspath $(IMAGES))")

##@ Building blocks
.PHONY: packages deps magick jxl-tools tools build
# Debian packages: compilers, shellcheck (without it actionlint silently skips the shell in
# the workflows), GNU time and the benchmark's references (djpeg/cjpeg, optipng, cwebp), which
# the benchmark harness's own tests run. ImageMagick's build libraries: layers/imagemagick/local.sh.
DEBIAN_PACKAGES := build-essential pkg-config xz-utils ca-certificates shellcheck time libjpeg-turbo-progs optipng webp

packages: ## Debian packages the build, the linters and the benchmarks need (apt-get, once)
	bash scripts/apt-install.sh $(DEBIAN_PACKAGES)

deps: node_modules ## npm and Go dependencies
	for m in $(MODULES); do (cd $$m && go mod download); done

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

magick: ## Build the native stack (ImageMagick 7, libheif, libaom, jpegli) into the cache once, prove its layer in an isolated root
	bash layers/imagemagick/local.sh build

jxl-tools: ## Build ssimulacra2 and butteraugli_main into the cache once and print their directory
	bash layers/imagemagick/local.sh jxl-tools

tools: $(GOLANGCI_LINT) $(ACTIONLINT) ## Linters, MinIO and the Lambda emulator, pinned, built once into the cache
	cd test && go run ./cmd/local -tools

$(GOLANGCI_LINT):
	GOBIN=$(@D) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

$(ACTIONLINT):
	GOBIN=$(@D) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

build: magick ## The Lambda bootstrap and the compress CLI, into bin/
	cd function && go build -tags lambda.norpc -o ../bin/bootstrap ./cmd/bootstrap
	cd function && go build -o ../bin/compress ./cmd/compress

# s3-image-compressor: every command a user or CI runs. `make help` lists them.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# The Go modules go.work uses, as directories; `go test ./...` at a workspace root walks none
# of them.
MODULES := $(patsubst $(CURDIR)/%,%,$(shell GOTOOLCHAIN=local go list -m -f '{{.Dir}}'))
ENV ?= dev
FUZZTIME ?= 30s

# Heavy builds (ImageMagick, MinIO, the runtime emulator, linters) live outside the repo,
# keyed by version, so a fresh clone reuses them. Their versions: test/local/tools.env.
export S3IC_CACHE ?= $(HOME)/.cache/s3-image-compressor
TOOLS := $(S3IC_CACHE)/tools
include test/local/tools.env
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
	@awk 'BEGIN {FS = ":.*## "} /^##@ / {printf "\n\033[1m%s\033[0m\n", substr($$0, 5)} /^[a-z0-9-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(firstword $(MAKEFILE_LIST))

##@ Using it
.PHONY: local demo backfill-demo
# Built, not `go run`: go run reports a clean Ctrl-C stop as exit status 1.
local: deps magick bin/local ## Run the pipeline locally: MinIO + the real bootstrap under the Lambda emulator
	bin/local

demo: deps magick bin/local ## Upload sample images (IMAGES=dir) through the local pipeline and summarise
	bin/local -demo $(if $(IMAGES),-images "$(abspath $(IMAGES))")

backfill-demo: deps magick bin/local ## Backfill images already in a bucket (IMAGES=dir) through the local stand-in for S3 Batch Operations, twice
	bin/local -backfill-demo $(if $(IMAGES),-images "$(abspath $(IMAGES))")

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
.PHONY: test unit race vet lint cdk-check fuzz e2e faults lambda faults-and-lambda chaos snapshot bench
test: packages deps magick tools vet lint unit race cdk-check fuzz e2e faults-and-lambda browser ## Everything CI runs: vet, lint, unit, race, snapshot, fuzz, end-to-end, fault, 256 MB and browser tests

# The stack's own tests (end to end, faults, 256 MB) have their targets.
unit: packages magick ## Unit, snapshot and layer tests of every module
	for m in $(MODULES); do (cd $$m && go test -count=1 $$(go list ./... | grep -v -e /e2e -e /chaos -e /lambda$$)); done
	node --test .github/scripts/

race: magick ## The race detector over the handler, storage, failures and the local relay
	cd function && go test -race -count=1 ./handler/ ./storage/ ./failures/
	cd test && go test -race -count=1 ./local/

vet: magick ## go vet and gofmt on every module
	test -z "$$(gofmt -l $(MODULES))" || { gofmt -l $(MODULES); echo "gofmt: run gofmt -w on the files above"; exit 1; }
	for m in $(MODULES); do (cd $$m && go vet ./...); done

# --allow-parallel-runners: several clones on one machine (worktrees) lint at once.
lint: packages magick linters ## golangci-lint per module, actionlint on the workflows, shellcheck on the scripts
	for m in $(MODULES); do (cd $$m && $(GOLANGCI_LINT) run --allow-parallel-runners ./...); done
	$(ACTIONLINT)
	shellcheck -x -P SCRIPTDIR .github/scripts/*.sh layers/imagemagick/*.sh scripts/*.sh

cdk-check: deps ## Synthesize every stack through the CDK CLI without Docker (cdk-nag must pass)
	$(CDK) synth -c skipBundling=true -q

fuzz: magick ## A bounded run of the pipeline fuzzer, seeded with the corpus (FUZZTIME=30s)
	cd function && go test -run='^$$' -fuzz=FuzzProcess -fuzztime=$(FUZZTIME) ./pipeline/

e2e: magick emulators ## End-to-end tests through MinIO and the runtime emulator
	cd test && go test -count=1 -timeout 20m ./e2e/

faults: magick emulators ## Each fault between the functions and S3, then a burst of 1000 uploads under all of them
	cd test && go test -count=1 -v -timeout 30m ./chaos/

lambda: magick emulators ## The largest image of each limit and format through the bootstrap at 256 MB and its CPU share (root)
	cd test && go test -count=1 -v -timeout 60m ./lambda/

# lambda's environments are held to Lambda's CPU share (six of them: 0.87 of a core) by their
# cgroups, so the fault tests use the rest of the machine meanwhile.
faults-and-lambda:
	$(MAKE) -j2 --output-sync=target faults lambda

UPLOADS ?= 5000
DURATION ?= 10m
chaos: magick emulators ## The burst at any size: make chaos UPLOADS=5000 DURATION=10m
	cd test && CHAOS_UPLOADS=$(UPLOADS) CHAOS_DURATION=$(DURATION) go test -count=1 -v -timeout 3h -run TestBurst ./chaos/

.PHONY: browser viewer-screenshot
browser: packages deps magick emulators bin/local ## The viewer page in headless Chromium: upload, compare, keyboard, 360 px (screenshots in test-results/viewer)
	node --test test/viewer/browser/

viewer-screenshot: ## Refresh docs/img/viewer.png, the README's screenshot of the viewer, from generated images
	VIEWER_IMAGES=generated VIEWER_SCREENSHOT=docs/img/viewer.png $(MAKE) browser

snapshot: ## Rewrite the template snapshots after an intended change
	cd test && go test -count=1 ./infra/ -update

bench: packages build ## Speed, size, SSIMULACRA2 and memory against the references (IMAGES=dir, BENCH_RUNS=n, JXL_TOOLS=dir); writes docs/benchmarks.md
	cd test && go run ./cmd/bench $(if $(IMAGES),-images "$(abspath $(IMAGES))")

##@ Building blocks
.PHONY: packages deps magick jxl-tools tools linters emulators build
# Debian packages: compilers, shellcheck (without it actionlint silently skips the shell in
# the workflows), GNU time and the benchmark's references (djpeg/cjpeg, optipng, cwebp,
# avifenc, and Debian's ImageMagick 6 as the naive approach), which the benchmark harness's own
# tests run; Chromium and a font for the viewer's browser test. ImageMagick's build libraries
# and the SSIMULACRA2 tool the benchmark judges with: layers/imagemagick/local.sh.
DEBIAN_PACKAGES := build-essential pkg-config xz-utils ca-certificates shellcheck time libjpeg-turbo-progs optipng webp \
	libavif-bin imagemagick-6.q16 chromium fonts-dejavu-core

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

tools: linters emulators ## Every pinned tool (test/local/tools.env), built once into the cache

linters: $(GOLANGCI_LINT) $(ACTIONLINT) ## golangci-lint and actionlint

emulators: ## MinIO and the Lambda runtime interface emulator (a first MinIO build takes ~8 min)
	cd test && go run ./cmd/local -tools

$(GOLANGCI_LINT):
	GOBIN=$(@D) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

$(ACTIONLINT):
	GOBIN=$(@D) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

build: magick ## The Lambda bootstrap, the compress CLI and the backfill command, into bin/
	cd function && go build -tags lambda.norpc -o ../bin/bootstrap ./cmd/bootstrap
	cd function && go build -o ../bin/compress ./cmd/compress
	cd infra && go build -o ../bin/backfill ./cmd/backfill

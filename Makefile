# lambda-blackbox. `make run` starts the layer locally; `make test` proves it.
SHELL := /bin/bash
CARGO ?= cargo
RELEASE_DIR := target/release
LAYER_DIR := target/layer
BINARIES := $(RELEASE_DIR)/blackbox-extension $(RELEASE_DIR)/bootstrap $(RELEASE_DIR)/lambda-sandbox

.PHONY: all build layer-dir run test unit-test lint fmt clean

all: build

build:
	$(CARGO) build --release --locked -p blackbox-extension -p lambda-blackbox-handler -p lambda-sandbox

# The layer as the zip unpacks at /opt, built from the release binaries.
layer-dir: build
	layer/scripts/assemble-layer.sh $(LAYER_DIR) $(RELEASE_DIR)/blackbox-extension \
	  $(RELEASE_DIR)/bootstrap "$$(layer/scripts/blackbox-exporter-bin.sh)"

run: layer-dir
	scripts/run-local.sh $(RELEASE_DIR)/lambda-sandbox $(LAYER_DIR)

# The layer zip for ARCH (x86_64 or arm64): dist/lambda-blackbox-<version>-<arch>.zip and a
# manifest beside it. Our binaries static (musl, cross-built with cargo-zigbuild, installed
# when missing); blackbox_exporter the pinned upstream release, its SHA-256 checked, else
# Debian's package (BLACKBOX_PREFER, BLACKBOX_EXPORTER_BIN_X86_64/_ARM64: see
# layer/scripts/blackbox-exporter-bin.sh). `make layers`: every arch in ARCHS, one build.
ARCH ?= x86_64
ARCHS ?= x86_64 arm64
FUZZ_CRATES ?= probe handler
DIST ?= dist
VERSION := $(shell sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
.PHONY: layer layers publish publish-zips test-layers
layer:
	DIST_DIR=$(DIST) layer/scripts/build-layer.sh $(ARCH)

layers:
	DIST_DIR=$(DIST) layer/scripts/build-layer.sh $(ARCHS)

# One layer version per region and arch (a zip already published as the latest version is
# not published again), public with PUBLIC=1; writes $(DIST)/layers.json (region -> arch ->
# ARN). AWS credentials and endpoint as for the AWS CLI. `publish-zips`: without building.
#   make publish REGIONS="us-east-1 eu-west-1 ap-southeast-2" ARCHS="x86_64 arm64" PUBLIC=1
publish: layers
	$(MAKE) --no-print-directory publish-zips

publish-zips:
	@test -n "$(REGIONS)" || { echo 'usage: make publish REGIONS="us-east-1 eu-west-1" [ARCHS="x86_64 arm64"] [PUBLIC=1]' >&2; exit 2; }
	@python3 -c 'import boto3' 2>/dev/null || python3 -m pip install -q boto3
	python3 layer/scripts/publish.py --dist $(DIST) --regions "$(REGIONS)" --archs "$(ARCHS)" $(if $(filter 1 true yes,$(PUBLIC)),--public)

# What `make test` needs: both zips (with Debian's blackbox_exporter, no download) in
# $(TEST_DIST), unzipped under $(ZIP_TEST_DIR), and Debian's arm64 libc for qemu's -L root.
TEST_DIST := target/test-dist
ZIP_TEST_DIR := target/layer-zip
ARM64_ROOT := target/qemu-arm64-root
TEST_BLACKBOX_PREFER ?= debian
# Debian sid's blackbox_exporter (today's release; the grpc prober bookworm's lacks) for
# the target-spelling tests, unpacked without touching the system's apt sources.
SID_ROOT := target/debian-sid/$(shell dpkg --print-architecture 2>/dev/null || echo amd64)
SID_BLACKBOX := $(SID_ROOT)/usr/bin/prometheus-blackbox-exporter
# And its Prometheus 3.5 (the LTS), for the Prometheus end-to-end test beside bookworm's 2.x.
SID_PROMETHEUS := $(SID_ROOT)/usr/bin/prometheus
# AWS's Runtime Interface Emulator, from the SAM virtualenv test-setup installs (expanded
# when the recipe runs, after it).
RIE_BIN = $(firstword $(wildcard $(abspath target/aws-sam-cli)/lib/python*/site-packages/samcli/local/rapid/aws-lambda-rie-x86_64))
test-layers: test-setup
	BLACKBOX_PREFER=$(TEST_BLACKBOX_PREFER) DIST_DIR=$(TEST_DIST) layer/scripts/build-layer.sh x86_64 arm64
	layer/scripts/debian-package-root.sh arm64 $(ARM64_ROOT) libc6
	layer/scripts/debian-package-root.sh --suite sid $(notdir $(SID_ROOT)) $(SID_ROOT) prometheus-blackbox-exporter prometheus
	scripts/sam-docker.sh rootfs
	for a in x86_64 arm64; do \
	  rm -rf $(ZIP_TEST_DIR)/$$a && mkdir -p $(ZIP_TEST_DIR)/$$a \
	  && unzip -q $(TEST_DIST)/lambda-blackbox-$(VERSION)-$$a.zip -d $(ZIP_TEST_DIR)/$$a || exit 1; \
	done

# The tests that need what `make test` sets up (the layer, promtool, awslambdaric): off in a
# plain `cargo test --workspace`, which lists them as ignored and says why.
SETUP_FEATURES := lambda-blackbox-e2e/layer,lambda-sandbox/awslambdaric,lambda-blackbox-prometheus-config/promtool

# Unit tests, then the lifecycle tests against the x86_64 layer zip, unzipped (the zip is
# what gets tested, not the build tree), the arm64 zip under qemu-user, the zips' contents
# and reproducibility, and `make publish` against moto on loopback.
#
# The suites run in a network namespace with only loopback (scripts/loopback-only.sh):
# nothing a test dials elsewhere leaves the machine. The builds that may need a registry
# run before, outside it. No AWS tool looks for the metadata address, credentials or a
# telemetry endpoint.
LOOPBACK_ONLY := scripts/loopback-only.sh
test test-deploy: export AWS_EC2_METADATA_DISABLED := true
test test-deploy: export SAM_CLI_TELEMETRY := 0
test test-deploy: export CDK_DISABLE_CLI_TELEMETRY := true
test: test-layers
	$(CARGO) test --locked --workspace --features $(SETUP_FEATURES) --no-run --quiet
	LAMBDA_BLACKBOX_LAYER=$(abspath $(ZIP_TEST_DIR)/x86_64) \
	  LAMBDA_BLACKBOX_ARM64_LAYER=$(abspath $(ZIP_TEST_DIR)/arm64) \
	  LAMBDA_BLACKBOX_ARM64_ROOT=$(abspath $(ARM64_ROOT)) \
	  LAMBDA_BLACKBOX_SID_BLACKBOX=$(abspath $(SID_BLACKBOX)) \
	  LAMBDA_BLACKBOX_SID_PROMETHEUS=$(abspath $(SID_PROMETHEUS)) \
	  LAMBDA_BLACKBOX_SAM=$(abspath target/aws-sam-cli/bin/sam) \
	  LAMBDA_BLACKBOX_RIE=$(RIE_BIN) $(LOOPBACK_ONLY) $(CARGO) test --locked --offline --workspace --features $(SETUP_FEATURES)
	LAYER_ZIP_DIST=$(abspath $(TEST_DIST)) LAMBDA_BLACKBOX_LAYER=$(abspath $(ZIP_TEST_DIR)/x86_64) \
	  LAMBDA_BLACKBOX_SAM=$(abspath target/aws-sam-cli/bin/sam) \
	  $(LOOPBACK_ONLY) python3 -m pytest -q -p no:cacheprovider layer/tests deploy/sam/tests docs/check
	$(LOOPBACK_ONLY) $(MAKE) --no-print-directory test-deploy DEPLOY_LAYER=$(abspath $(TEST_DIST))/lambda-blackbox-$(VERSION)-arm64.zip

# What `make lint` and `make test` need, installed when missing (quiet when all is there).
.PHONY: test-setup lint-setup
test-setup:
	@scripts/test-setup.sh test
lint-setup:
	@scripts/test-setup.sh lint

# The fast loop: every language's own tests that need no root, Docker, layer or network
# namespace (cargo's without SETUP_FEATURES, the Python and Node.js handlers', the CDK
# app's, the doc check). `make test` runs all of these and the rest.
unit-test: lint-setup
	$(CARGO) test --locked --workspace --quiet
	cd handler/python && python3 -m unittest -q
	node --test handler/node/test/
	python3 docs/check/doc_blocks.py check
	cd deploy/cdk && { test -d node_modules || npm ci --no-audit --no-fund --loglevel=error; } \
	  && npm run --silent typecheck && TS_NODE_TRANSPILE_ONLY=1 npm test --silent

lint: lint-setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets --features $(SETUP_FEATURES) -- -D warnings
	python3 docs/check/doc_blocks.py check

fmt:
	$(CARGO) fmt --all

# Not part of `make test` or CI: minutes of measurements, best on a quiet machine.
# Writes bench/results.md, bench/results.json and bench/warm-latency.png.
ADAPTER_ROOT := target/bench-tools
ADAPTER_BIN := $(ADAPTER_ROOT)/bin/lambda-adapter
# The SAM stack in many regions (deploy/sam/fleet.py): sam build once, then sam deploy in each
# region (one stack name, --resolve-s3); a failing region is reported, the others go on.
#   make deploy REGIONS="us-east-1 eu-west-1" SAM_DEPLOY_ARGS='--parameter-overrides ProbeToken=…'
#   make fleet-urls REGIONS="us-east-1 eu-west-1" [OUT=urls.json]   (each stack's FunctionUrl)
STACK_NAME ?= lambda-blackbox
.PHONY: deploy fleet-urls
deploy:
	@test -n "$(REGIONS)" || { echo 'usage: make deploy REGIONS="us-east-1 eu-west-1" [SAM_DEPLOY_ARGS=...]' >&2; exit 2; }
	cd deploy/sam && $${SAM:-sam} build
	@deploy/sam/fleet.py deploy --regions "$(REGIONS)" --stack-name $(STACK_NAME) -- $(SAM_DEPLOY_ARGS)
fleet-urls:
	@test -n "$(REGIONS)" || { echo 'usage: make fleet-urls REGIONS="us-east-1 eu-west-1" [OUT=urls.json]' >&2; exit 2; }
	deploy/sam/fleet.py urls --regions "$(REGIONS)" --stack-name $(STACK_NAME) $(if $(OUT),--out $(OUT))

.PHONY: bench prometheus-config
# It measures the x86_64 layer zip, unzipped: the static musl binaries that ship.
# BENCH_BASELINE_REV=<rev> also runs that revision's extension and bootstrap beside ours.
bench: test-layers
	$(CARGO) build --release --locked -p lambda-blackbox-bench
	test -x $(ADAPTER_BIN) || $(CARGO) install lambda_web_adapter --locked --root $(ADAPTER_ROOT)
	command -v zip >/dev/null || apt-get install -y -qq zip
	python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install -q matplotlib
	$(if $(BENCH_BASELINE_REV),scripts/baseline-layer.sh $(BENCH_BASELINE_REV) target/bench-baseline)
	$(RELEASE_DIR)/lambda-blackbox-bench --layer $(ZIP_TEST_DIR)/x86_64 --adapter $(ADAPTER_BIN) \
	  $(if $(BENCH_BASELINE_REV),--baseline target/bench-baseline/$(BENCH_BASELINE_REV)) $(BENCH_ARGS)
	python3 bench/plot.py target/bench/samples.json bench/warm-latency.png

# The Prometheus scrape config for Function URLs in many regions, e.g.
#   make prometheus-config URLS=urls.json TARGETS=targets.txt TOKEN_FILE=/etc/prometheus/lambda-blackbox.token OUT=lambda-blackbox.yml
prometheus-config:
	@test -n "$(URLS)" -a -n "$(TARGETS)" || { echo "usage: make prometheus-config URLS=urls.json|fleet.json TARGETS=targets.txt [TOKEN_FILE=path] [FILE_SD=targets.json (beside OUT)] [RULES=path] [OUT=file]" >&2; exit 2; }
	$(CARGO) run --locked -q -p lambda-blackbox-prometheus-config -- --urls $(URLS) --targets $(TARGETS) $(if $(TOKEN_FILE),--token-file $(TOKEN_FILE)) $(if $(FILE_SD),--file-sd $(FILE_SD)) $(if $(RULES),--rules $(RULES)) $(if $(OUT),--out $(OUT)) $(PROMETHEUS_CONFIG_ARGS)

# dist/layers.json stays: it is the record of the layer versions published to AWS.
clean:
	$(CARGO) clean
	rm -f $(DIST)/lambda-blackbox-*.zip $(DIST)/lambda-blackbox-*.json

# Not part of `make test` or CI. The cargo-fuzz targets of the probe crate (target policy
# against a model of Go) and of the bootstrap (event → blackbox request), FUZZ_SECONDS
# each (default 300); figures and crashes are printed, inputs kept under
# <crate>/fuzz/{corpus,artifacts}. Installs cargo-fuzz. FUZZ_CRATES and FUZZ_TARGETS pick.
.PHONY: fuzz soak
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	failed=0; for crate in $(FUZZ_CRATES); do scripts/fuzz.sh $$crate $(FUZZ_TARGETS) || failed=1; done; exit $$failed

# Not part of `make test` or CI (a few minutes): 10,000 probes through the sandbox's
# Function URL; fails on any failed probe, on extension or handler RSS growing by
# 1 MiB or more after the warm-up, or on their open fd counts changing. SOAK_PROBES=N.
# It soaks the x86_64 layer zip, unzipped (static musl binaries, as shipped).
soak: test-layers
	LAMBDA_BLACKBOX_LAYER=$(abspath $(ZIP_TEST_DIR)/x86_64) $(CARGO) test --locked -p lambda-blackbox-e2e --features layer --test soak -- --ignored --nocapture

# The deployment references and the handlers for other runtimes, each checked with its
# ecosystem's own tools (part of `make test`; needs sam, node with deploy/cdk's npm ci,
# promtool and blackbox_exporter, as `make test-setup` installs them). The events/ replay and the
# Python and Node.js handlers under awslambdaric and aws-lambda-ric run in `cargo test`
# (events_replay, python_handler, node_handler, connect_guard).
# DEPLOY_LAYER: the layer zip or directory that sam build and cdk synth package (`make
# test` passes its arm64 zip); without it, the layer directory.
DEPLOY_LAYER ?=
.PHONY: test-deploy
test-deploy: $(if $(DEPLOY_LAYER),,layer-dir)
	cd handler/python && python3 -m unittest -q
	node --test handler/node/test/
	deploy/sam/check.sh $(or $(DEPLOY_LAYER),$(LAYER_DIR))
	cd deploy/cdk && npm run --silent typecheck && TS_NODE_TRANSPILE_ONLY=1 npm test --silent
	cd deploy/cdk && TS_NODE_TRANSPILE_ONLY=1 npx cdk synth --quiet -o $(abspath target/cdk.out) -c architecture=$$($(CURDIR)/layer/scripts/layer-arch.sh $(abspath $(or $(DEPLOY_LAYER),$(LAYER_DIR)))) -c layerZip=$(abspath $(or $(DEPLOY_LAYER),$(LAYER_DIR)))
	cd deploy/cdk && TS_NODE_TRANSPILE_ONLY=1 npx cdk synth --quiet -o $(abspath target/cdk-fleet.out) -c regions=us-east-1,eu-west-1,ap-southeast-2 -c architecture=$$($(CURDIR)/layer/scripts/layer-arch.sh $(abspath $(or $(DEPLOY_LAYER),$(LAYER_DIR)))) -c layerZip=$(abspath $(or $(DEPLOY_LAYER),$(LAYER_DIR)))
	@for r in us-east-1 eu-west-1 ap-southeast-2; do grep -q '"FunctionUrl"' target/cdk-fleet.out/LambdaBlackbox-$$r.template.json || { echo "cdk synth: no LambdaBlackbox-$$r stack with a FunctionUrl output" >&2; exit 1; }; done
	cd deploy/cdk && TS_NODE_TRANSPILE_ONLY=1 npx cdk synth --quiet -o $(abspath target/cdk-push.out) -c regions=us-east-1,eu-west-1,ap-southeast-2 -c mode=push -c targets=../targets.example.txt -c remoteWriteUrl=https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-example/api/v1/remote_write -c architecture=$$($(CURDIR)/layer/scripts/layer-arch.sh $(abspath $(or $(DEPLOY_LAYER),$(LAYER_DIR)))) -c layerZip=$(abspath $(or $(DEPLOY_LAYER),$(LAYER_DIR)))
	@for r in us-east-1 eu-west-1 ap-southeast-2; do grep -q '"AWS::Scheduler::Schedule"' target/cdk-push.out/LambdaBlackbox-$$r.template.json && ! grep -q '"AWS::Lambda::Url"' target/cdk-push.out/LambdaBlackbox-$$r.template.json || { echo "cdk synth: LambdaBlackbox-$$r in push mode lacks its schedule or has a Function URL" >&2; exit 1; }; done
	deploy/prometheus/check.sh

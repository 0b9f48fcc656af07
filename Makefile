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
	layer/scripts/run-local.sh $(RELEASE_DIR)/lambda-sandbox $(LAYER_DIR)

# Unit tests, then the lifecycle tests against the layer directory.
test: layer-dir
	LAMBDA_BLACKBOX_LAYER=$(abspath $(LAYER_DIR)) $(CARGO) test --locked --workspace

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
	rm -rf dist

//! The one line `cargo test --workspace` prints for this crate on a machine without
//! `make test`'s set-up: its tests need the layer, the real blackbox_exporter and
//! Prometheus, RIE and the runtime interface clients `make test` builds and installs, and
//! root for their namespaces. `make test` (or `cargo test --features
//! lambda-blackbox-e2e/layer` after it) runs them.
#![cfg(not(feature = "layer"))]

#[test]
#[ignore = "the end-to-end tests need the layer: run them with `make test`"]
fn end_to_end_tests() {}

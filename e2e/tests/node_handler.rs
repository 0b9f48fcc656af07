//! "Attach the layer to an existing Node.js function": handler/node/index.mjs under AWS's
//! Node.js runtime interface client (`aws-lambda-ric`, as `make test-setup` builds it)
//! as the function's own bootstrap, with the real layer's extension and
//! blackbox_exporter. The same event files as the Rust bootstrap must get the same
//! answers, under the sandbox and RIE.
#![cfg(feature = "layer")]

use lambda_blackbox_e2e::both_harnesses;
use lambda_blackbox_e2e::handler_port::{self, HandlerPort};
use lambda_blackbox_e2e::harness::Harness;

both_harnesses!(
    the_node_handler_answers_every_event_file_like_the_rust_one,
    the_node_handler_leaves_the_target_policy_to_the_connect_guard,
);

async fn the_node_handler_answers_every_event_file_like_the_rust_one(harness: Harness) {
    handler_port::answers_every_event_file_like_the_rust_one(HandlerPort::Node, harness).await;
}

async fn the_node_handler_leaves_the_target_policy_to_the_connect_guard(harness: Harness) {
    handler_port::leaves_the_target_policy_to_the_connect_guard(HandlerPort::Node, harness).await;
}

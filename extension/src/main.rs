//! The extension's binary: logging, then the lifecycle in `lifecycle::run`.

use std::process::ExitCode;

// A current-thread runtime: blackbox's parent-death signal follows the thread that
// forked it (see blackbox.rs), and one thread is all this needs.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    lambda_blackbox_contract::logging::init_logging("BLACKBOX_EXTENSION_LOG", &[]);
    blackbox_extension::lifecycle::run().await
}

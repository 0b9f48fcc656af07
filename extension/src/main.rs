//! The extension's binary: logging, then the lifecycle in `lifecycle::run`.

use std::process::ExitCode;

// A current-thread runtime: blackbox's parent-death signal follows the thread that
// forked it (see blackbox.rs), and one thread is all this needs.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BLACKBOX_EXTENSION_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    blackbox_extension::lifecycle::run().await
}

use lambda_blackbox_handler::{init, report_init_error, serve};
use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // The runtime crates stay at warn whatever BLACKBOX_HANDLER_LOG says: at debug they
    // print whole events, Authorization headers included.
    lambda_blackbox_contract::logging::init_logging(
        "BLACKBOX_HANDLER_LOG",
        &[
            "lambda_runtime",
            "lambda_http",
            "lambda_runtime_api_client",
            "hyper",
            "hyper_util",
        ],
    );
    // The bootstrap sits at the layer's root (/opt/bootstrap).
    let exe = std::env::current_exe().unwrap_or_default();
    let layer_root = exe.parent().unwrap_or(std::path::Path::new("/opt"));
    match init::start(layer_root) {
        Ok((proxy, push)) => serve(proxy, push).await,
        Err(error) => {
            report_init_error(&error).await;
            std::process::exit(1);
        }
    }
}

use lambda_blackbox_handler::error::HandlerError;
use lambda_blackbox_handler::settings::HandlerSettings;
use lambda_blackbox_handler::Proxy;
use lambda_blackbox_push::{PushMode, PushSettings};
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
    let settings = HandlerSettings::from_env(layer_root)
        .and_then(|scrape| Ok((scrape, PushSettings::from_env()?)));
    let (settings, push) = match settings {
        Ok(settings) => settings,
        Err(e) => {
            lambda_blackbox_handler::report_init_error(&e.into()).await;
            std::process::exit(1);
        }
    };
    if settings.auth_token.is_none() {
        tracing::warn!(
            "BLACKBOX_AUTH_TOKEN is not set: anyone who can reach this function's URL can run probes through it"
        );
    }
    // A Lambda function outside a VPC has no IPv6 route: a module that resolves IPv6
    // first fails on every dual-stack target, which looks like the target being down.
    let routes = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    if !lambda_blackbox_probe::modules::has_ipv6_route(&routes) {
        for module in settings.probe.modules.preferring_ipv6() {
            tracing::warn!("{module}");
        }
    }
    if let Some(push) = &push {
        if push.url.scheme() == "http" && push.sends_a_secret() {
            tracing::warn!(
                "BLACKBOX_REMOTE_WRITE_URL is http://: the remote-write credentials travel unencrypted"
            );
        }
    }
    let push = match push.map(PushMode::new).transpose() {
        Ok(push) => push,
        Err(e) => {
            lambda_blackbox_handler::report_init_error(&HandlerError::PushModeUnavailable(e)).await;
            std::process::exit(1);
        }
    };
    lambda_blackbox_handler::serve(Proxy::new(settings), push).await
}

use lambda_blackbox_handler::push::{PushMode, PushSettings};
use lambda_blackbox_handler::settings::HandlerSettings;
use lambda_blackbox_handler::Proxy;
use lambda_http::Error;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_env_filter(log_filter())
        .init();

    // The bootstrap sits at the layer's root (/opt/bootstrap).
    let exe = std::env::current_exe().unwrap_or_default();
    let layer_root = exe.parent().unwrap_or(std::path::Path::new("/opt"));
    let settings = HandlerSettings::from_env(layer_root)
        .and_then(|scrape| Ok((scrape, PushSettings::from_env()?)));
    let (settings, push) = match settings {
        Ok(settings) => settings,
        Err(e) => {
            lambda_blackbox_handler::report_init_error("Runtime.InvalidSetting", &e.to_string())
                .await;
            std::process::exit(1);
        }
    };
    if settings.auth_token.is_none() {
        tracing::warn!(
            "BLACKBOX_AUTH_TOKEN is not set: anyone who can reach this function's URL can run probes through it"
        );
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
            let message = format!("push mode cannot start its remote-write client: {e}");
            lambda_blackbox_handler::report_init_error("Runtime.PushModeUnavailable", &message)
                .await;
            std::process::exit(1);
        }
    };
    lambda_blackbox_handler::serve(Proxy::new(settings)?, push).await
}

/// `BLACKBOX_HANDLER_LOG` sets our level; the runtime crates stay at `warn` whatever it
/// says, because at debug they print whole events, Authorization headers included.
fn log_filter() -> tracing_subscriber::EnvFilter {
    let ours = std::env::var("BLACKBOX_HANDLER_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::EnvFilter::try_new(format!(
        "{ours},lambda_runtime=warn,lambda_http=warn,lambda_runtime_api_client=warn,hyper=warn,reqwest=warn"
    ))
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,lambda_runtime=warn,lambda_http=warn"))
}

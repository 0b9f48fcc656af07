use std::sync::Arc;

use lambda_blackbox_handler::Proxy;
use lambda_http::{service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BLACKBOX_HANDLER_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();

    let proxy = Arc::new(Proxy::from_env()?);
    lambda_http::run(service_fn(move |request: Request| {
        let proxy = proxy.clone();
        async move { Ok::<_, Error>(proxy.handle(request).await) }
    }))
    .await
}

//! What the bootstrap itself says to the Runtime API; the rest of the Runtime API is
//! lambda_runtime's.

use std::time::Duration;

use lambda_blackbox_probe::loopback::{loopback_client, send, SendError};
use lambda_http::http::header;

use crate::error::HandlerError;

/// `POST /2018-06-01/runtime/init/error`: Init fails with `error_type` and the message,
/// instead of the function starting with settings it cannot honour.
pub async fn report_init_error(error: &HandlerError) {
    let (error_type, message) = (error.error_type(), error.to_string());
    tracing::error!(error_type, "{message}");
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let body =
        serde_json::json!({ "errorMessage": message, "errorType": error_type, "stackTrace": [] });
    let request =
        lambda_http::http::Request::post(format!("http://{api}/2018-06-01/runtime/init/error"))
            .header("Lambda-Runtime-Function-Error-Type", error_type)
            .header(header::CONTENT_TYPE, "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.to_string(),
            )));
    let sent = match request {
        Ok(request) => send(&loopback_client(0), request, Duration::from_secs(2))
            .await
            .map(|(head, _)| head.status),
        Err(e) => Err(SendError::Request(e.to_string())),
    };
    match sent {
        Ok(status) if status.is_success() => {}
        Ok(status) => tracing::error!("the Runtime API refused the init error with {status}"),
        Err(e) => tracing::error!("could not report the init error: {e}"),
    }
}

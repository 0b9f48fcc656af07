//! Error reports to the Lambda Extensions API (`init/error`, `exit/error`).
//!
//! Requests are built by `lambda_extension::requests`; this module only sends them and
//! turns a failure to do so into a log line, since there is nobody else left to tell.

use lambda_extension::requests::{exit_error, init_error, ErrorRequest};
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::Client;

use crate::error::ExtensionError;

/// `lambda_extension::requests::{init_error, exit_error}`.
type ErrorRequestBuilder = fn(
    &str,
    &str,
    Option<ErrorRequest<'_>>,
) -> Result<http::Request<Body>, lambda_extension::Error>;

pub struct ExtensionsApi {
    client: Client,
    extension_id: String,
}

impl ExtensionsApi {
    pub fn new(extension_id: &str) -> Result<Self, lambda_extension::Error> {
        Ok(Self {
            client: Client::builder().build()?,
            extension_id: extension_id.to_string(),
        })
    }

    /// `POST /2020-01-01/extension/init/error`: Lambda fails Init and reports the error's type.
    pub async fn report_init_error(&self, error: &ExtensionError) {
        self.send("init", error.error_type(), &error.to_string(), init_error)
            .await;
    }

    /// `POST /2020-01-01/extension/exit/error`: the extension is about to exit after Init.
    pub async fn report_exit_error(&self, error: &ExtensionError) {
        self.send("exit", error.error_type(), &error.to_string(), exit_error)
            .await;
    }

    async fn send(&self, phase: &str, error_type: &str, message: &str, build: ErrorRequestBuilder) {
        tracing::error!(error_type, "{message}");
        let body = ErrorRequest {
            error_message: message,
            error_type,
            stack_trace: Vec::new(),
        };
        let request = match build(&self.extension_id, error_type, Some(body)) {
            Ok(request) => request,
            Err(e) => {
                tracing::error!("could not build the {phase}/error request: {e}");
                return;
            }
        };
        match self.client.call(request).await {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => tracing::error!(
                status = response.status().as_u16(),
                "the Extensions API refused the {phase}/error report"
            ),
            Err(e) => tracing::error!("could not send the {phase}/error report: {e}"),
        }
    }
}

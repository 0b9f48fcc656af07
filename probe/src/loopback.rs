//! Plain HTTP to loopback, the only place the bootstrap talks to (blackbox, the Runtime
//! API): no redirect followed, no proxy variable read, the path and query sent byte for
//! byte as they came, so that blackbox reads the query the gate read.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// hyper's pooled client, plain HTTP.
pub type LoopbackClient = Client<HttpConnector, Full<Bytes>>;

pub fn loopback_client(pooled: usize) -> LoopbackClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(pooled)
        .build(connector)
}

/// How one request to loopback failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No answer, or no whole body, within the time.
    #[error("no answer within the time")]
    Timeout,
    /// No connection could be made.
    #[error("no connection: {0}")]
    Connect(String),
    /// The connection broke before the answer's head (a reset pooled connection, say).
    #[error("the request broke off: {0}")]
    Request(String),
    /// The answer's body broke off.
    #[error("the answer broke off: {0}")]
    Body(String),
}

/// Sends `request` and reads the whole answer within `timeout`.
pub async fn send(
    client: &LoopbackClient,
    request: Request<Full<Bytes>>,
    timeout: Duration,
) -> Result<(http::response::Parts, Bytes), SendError> {
    let started = Instant::now();
    let response = match tokio::time::timeout(timeout, client.request(request)).await {
        Err(_) => return Err(SendError::Timeout),
        Ok(Err(e)) if e.is_connect() => return Err(SendError::Connect(root_cause(&e))),
        Ok(Err(e)) => return Err(SendError::Request(root_cause(&e))),
        Ok(Ok(response)) => response,
    };
    let (head, body) = response.into_parts();
    match tokio::time::timeout(timeout.saturating_sub(started.elapsed()), body.collect()).await {
        Err(_) => Err(SendError::Timeout),
        Ok(Err(e)) => Err(SendError::Body(root_cause(&e))),
        Ok(Ok(collected)) => Ok((head, collected.to_bytes())),
    }
}

pub fn bodiless(method: &Method, uri: &Uri, headers: HeaderMap) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::default());
    *request.method_mut() = method.clone();
    *request.uri_mut() = uri.clone();
    *request.headers_mut() = headers;
    request
}

/// The innermost error's text: hyper's own wrap it in "client error (Connect)" and the like.
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

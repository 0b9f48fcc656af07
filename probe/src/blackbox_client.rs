//! blackbox_exporter on loopback: one request sent within a time budget, its answer as
//! bytes, and a hung blackbox replaced through the extension.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use lambda_blackbox_contract::replacement::{ask_for_replacement, running_extension};
use lambda_blackbox_contract::ListenAddress;

use crate::loopback::{bodiless, loopback_client, send, LoopbackClient, SendError};

/// Prometheus sends its scrape timeout here; blackbox bounds the probe by it.
pub const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";

/// Request headers that reach blackbox; the rest (auth, cookies, AWS's own) stay here.
const FORWARDED_HEADERS: [header::HeaderName; 2] = [header::ACCEPT, header::USER_AGENT];
/// How long a refused connection is retried: the extension restarts a dead blackbox in
/// a few milliseconds, and the invoke that finds it dead should still be served.
pub const UPSTREAM_WAIT: Duration = Duration::from_secs(2);
const UPSTREAM_RETRY_INTERVAL: Duration = Duration::from_millis(5);
/// How long a 504 waits for the extension to have a hung blackbox replaced.
const REPLACEMENT_WAIT: Duration = Duration::from_secs(1);
/// A serving blackbox answers `/-/healthy` in well under a millisecond.
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_millis(100);

/// What blackbox answered: its status, its content type and its body, untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlackboxAnswer {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub body: Bytes,
}

/// No answer from blackbox: the status the caller answers with and a one-line reason.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BlackboxError {
    #[error("blackbox_exporter did not answer within {0:.3} s (the scrape timeout or the invocation deadline)")]
    Timeout(f64),
    #[error("blackbox_exporter is not reachable at {authority} after {waited_ms} ms: {cause}")]
    Unreachable {
        authority: String,
        waited_ms: u128,
        cause: String,
    },
    #[error("blackbox_exporter's answer broke off: {0}")]
    BrokenAnswer(String),
    #[error("the blackbox extension is not running, so blackbox_exporter is not either; Lambda replaces this environment after the extension's failure")]
    ExtensionGone,
}

impl BlackboxError {
    pub fn status(&self) -> StatusCode {
        match self {
            BlackboxError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            BlackboxError::Unreachable { .. } | BlackboxError::BrokenAnswer(_) => {
                StatusCode::BAD_GATEWAY
            }
            BlackboxError::ExtensionGone => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Idle connections kept to blackbox.
const POOLED_CONNECTIONS: usize = 4;
/// How soon a reused connection to a dead blackbox fails (the reset answers the request
/// at once; no probe has started by then).
const STALE_CONNECTION_RESET: Duration = Duration::from_millis(50);

/// The client for blackbox's listener.
pub struct BlackboxClient {
    client: LoopbackClient,
    listen_address: ListenAddress,
    /// Where the extension's pid is, to ask it for a replacement and to tell it is gone.
    pid_file: std::path::PathBuf,
}

impl BlackboxClient {
    pub fn new(listen_address: ListenAddress) -> Self {
        let pid_file = listen_address.pid_file();
        Self {
            client: loopback_client(POOLED_CONNECTIONS),
            listen_address,
            pid_file,
        }
    }

    /// blackbox took the whole timeout without answering. It ends probes itself half a
    /// second before the timeout it is sent, so it is hung, unless the timeout was under
    /// that offset (then blackbox falls back to the module's timeout and is merely busy):
    /// `/-/healthy` tells which. A hung blackbox is replaced by the extension, and this
    /// waits (within `left`) for the new one to answer: once the answer is sent Lambda may
    /// freeze the environment, and the extension must not be left with the work.
    pub async fn replace_if_hung(&self, left: Duration) {
        let healthy = format!("http://{}/-/healthy", self.listen_address).parse::<Uri>();
        let answers = |within: Duration| {
            let within = within
                .min(HEALTH_CHECK_TIMEOUT)
                .max(Duration::from_millis(1));
            let request = healthy
                .as_ref()
                .map(|uri| bodiless(&Method::GET, uri, HeaderMap::new()))
                .map_err(|e| SendError::Request(e.to_string()));
            async move { send(&self.client, request?, within).await.map(|_| ()) }
        };
        if answers(left).await.is_ok() {
            tracing::info!("blackbox_exporter answers /-/healthy: it was busy, not hung");
            return;
        }
        let Some(pid) = running_extension(&self.pid_file) else {
            tracing::warn!(
                "the blackbox extension is not running; blackbox_exporter cannot be replaced"
            );
            return;
        };
        if let Err(e) = ask_for_replacement(pid) {
            tracing::warn!("could not ask the extension to replace blackbox_exporter: {e}");
            return;
        }
        let started = Instant::now();
        let wait = REPLACEMENT_WAIT.min(left);
        while started.elapsed() < wait {
            if answers(wait.saturating_sub(started.elapsed()))
                .await
                .is_ok()
            {
                tracing::info!(
                    waited_ms = started.elapsed().as_millis() as u64,
                    "blackbox_exporter was replaced"
                );
                return;
            }
            tokio::time::sleep(UPSTREAM_RETRY_INTERVAL).await;
        }
        tracing::warn!("blackbox_exporter was not replaced within {wait:?}");
    }

    /// Sends one request to blackbox. The timeout goes to blackbox too, as the scrape
    /// timeout header, so that it ends the probe and answers before we give up on it.
    pub async fn forward(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        timeout: Duration,
    ) -> Result<BlackboxAnswer, BlackboxError> {
        let started = Instant::now();
        let uri: Uri = format!("http://{}{path_and_query}", self.listen_address)
            .parse()
            .map_err(|_| BlackboxError::BrokenAnswer(format!("{path_and_query:?} is not a URI")))?;
        let mut upstream_headers = HeaderMap::new();
        for name in FORWARDED_HEADERS {
            if let Some(value) = headers.get(&name) {
                upstream_headers.insert(name, value.clone());
            }
        }
        upstream_headers.insert(
            SCRAPE_TIMEOUT_HEADER,
            HeaderValue::from_str(&format!("{:.3}", timeout.as_secs_f64()))
                .unwrap_or(HeaderValue::from_static("10")),
        );
        let timed_out = || BlackboxError::Timeout(timeout.as_secs_f64());

        // A pooled connection to a blackbox that died while the environment was frozen is
        // reset as soon as it is used; the request never reached a blackbox, and GET and
        // HEAD may be sent again, on the next connection (at most as many as the pool
        // keeps). A reset later than that is a blackbox that died during the probe: 502.
        let mut resent = 0;
        let (head, body) = loop {
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(timed_out());
            }
            let sent = Instant::now();
            let request = bodiless(method, &uri, upstream_headers.clone());
            match send(&self.client, request, left).await {
                Ok(answer) => break answer,
                Err(SendError::Timeout) => return Err(timed_out()),
                Err(SendError::Connect(_)) if running_extension(&self.pid_file).is_none() => {
                    return Err(BlackboxError::ExtensionGone);
                }
                Err(SendError::Connect(_)) if started.elapsed() < UPSTREAM_WAIT.min(timeout) => {
                    tokio::time::sleep(UPSTREAM_RETRY_INTERVAL).await;
                }
                Err(SendError::Connect(cause)) => {
                    return Err(BlackboxError::Unreachable {
                        authority: self.listen_address.to_string(),
                        waited_ms: started.elapsed().as_millis(),
                        cause,
                    })
                }
                Err(SendError::Request(cause))
                    if resent < POOLED_CONNECTIONS && sent.elapsed() < STALE_CONNECTION_RESET =>
                {
                    tracing::info!("resending on another connection: {cause}");
                    resent += 1;
                }
                Err(SendError::Request(cause) | SendError::Body(cause)) => {
                    return Err(BlackboxError::BrokenAnswer(cause))
                }
            }
        };

        Ok(BlackboxAnswer {
            status: head.status,
            content_type: head.headers.get(header::CONTENT_TYPE).cloned(),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_extension_is_a_503_at_once() {
        let free_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let listen = ListenAddress::parse(&format!("127.0.0.1:{free_port}")).unwrap();
        let blackbox = BlackboxClient::new(listen);
        let started = Instant::now();
        let error = blackbox
            .forward(
                &Method::GET,
                "/probe",
                &HeaderMap::new(),
                Duration::from_secs(5),
            )
            .await
            .unwrap_err();
        assert_eq!(error, BlackboxError::ExtensionGone);
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            started.elapsed() < UPSTREAM_WAIT,
            "no wait for a blackbox nobody will restart"
        );
    }

    #[test]
    fn errors_map_to_gateway_statuses_with_one_line_reasons() {
        let timeout = BlackboxError::Timeout(1.5);
        assert_eq!(timeout.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(
            timeout.to_string(),
            "blackbox_exporter did not answer within 1.500 s (the scrape timeout or the invocation deadline)"
        );
        let unreachable = BlackboxError::Unreachable {
            authority: "127.0.0.1:9115".into(),
            waited_ms: 2000,
            cause: "Connection refused (os error 111)".into(),
        };
        assert_eq!(unreachable.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            unreachable.to_string(),
            "blackbox_exporter is not reachable at 127.0.0.1:9115 after 2000 ms: Connection refused (os error 111)"
        );
    }

    /// A blackbox that answered on a kept-alive connection and then died (as when it is
    /// killed while the environment is frozen): the reused connection is reset; the
    /// request goes again on a new one to the blackbox that replaced it.
    #[tokio::test]
    async fn a_reset_pooled_connection_is_not_a_502() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let answer =
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";
            let mut buffer = [0u8; 4096];
            // First connection: one answer, then a reset when the next request comes.
            let (mut first, _) = listener.accept().await.unwrap();
            let _ = first.read(&mut buffer).await;
            first.write_all(answer).await.unwrap();
            let _ = first.read(&mut buffer).await;
            first.set_zero_linger().unwrap();
            drop(first);
            // The replacement answers on a new connection.
            let (mut second, _) = listener.accept().await.unwrap();
            let _ = second.read(&mut buffer).await;
            second.write_all(answer).await.unwrap();
            let _ = second.read(&mut buffer).await;
        });
        let listen = ListenAddress::parse(&address).unwrap();
        let blackbox = BlackboxClient::new(listen);
        for round in ["first", "after the reset"] {
            let answer = blackbox
                .forward(
                    &Method::GET,
                    "/probe",
                    &HeaderMap::new(),
                    Duration::from_secs(5),
                )
                .await;
            assert!(answer.is_ok(), "{round}: {answer:?}");
        }
    }
}

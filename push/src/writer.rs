//! Sending remote-write requests: the 1.0 headers, the authorisation, and retries of what a
//! receiver may take later (5xx, 429, a connection that failed) with backoff, honouring
//! `Retry-After`, until the deadline. Other 4xx are the request's fault: never resent.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use url::Url;

use super::settings::{PushSettings, RemoteWriteAuth};
use super::sigv4;
use lambda_blackbox_probe::loopback::root_cause;

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longest piece of a receiver's answer quoted in a reason.
const QUOTED_BYTES: usize = 200;

/// Why a request was not written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("the receiver refused the request with {status} (not retried: the request is at fault): {answer}")]
    Refused { status: u16, answer: String },
    #[error("not written after {attempts} attempt(s) before the deadline; the last: {last}")]
    OutOfTime { attempts: u32, last: String },
    #[error("could not sign the request: {0}")]
    Signing(String),
}

impl WriteError {
    /// How many times the request was sent.
    pub fn attempts(&self) -> u32 {
        match self {
            WriteError::Refused { .. } => 1,
            WriteError::OutOfTime { attempts, .. } => *attempts,
            WriteError::Signing(_) => 0,
        }
    }
}

/// A written request: how many attempts it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub attempts: u32,
}

/// One attempt's outcome.
enum Attempt {
    Done,
    /// Worth another try; the receiver may have said when.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    Fatal(WriteError),
}

type HttpsClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// The client that writes: hyper with rustls, built only in push mode, so that a function
/// that only answers scrapes loads no TLS and no CA store (its loopback client has no TLS
/// at all). It follows no redirect (a POST body would be dropped by one).
pub struct RemoteWriter {
    client: HttpsClient,
    url: Url,
    /// `url` as hyper takes it, parsed once.
    uri: Uri,
    auth: RemoteWriteAuth,
}

impl RemoteWriter {
    /// Loads the system's CA certificates (on Lambda, Amazon Linux's bundle).
    pub fn new(settings: &PushSettings) -> Result<Self, std::io::Error> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .build();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build(connector);
        let uri = settings.url.as_str().parse().map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "BLACKBOX_REMOTE_WRITE_URL is not a URI hyper can send to",
            )
        })?;
        Ok(Self {
            client,
            url: settings.url.clone(),
            uri,
            auth: settings.auth.clone(),
        })
    }

    /// Sends one snappy-compressed `WriteRequest`, resending while the deadline allows.
    pub async fn write(&self, body: &[u8], deadline: Instant) -> Result<Written, WriteError> {
        let mut attempts = 0;
        let mut backoff = FIRST_BACKOFF;
        loop {
            attempts += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            let (reason, after) = match self.attempt(body, left).await {
                Attempt::Done => return Ok(Written { attempts }),
                Attempt::Fatal(error) => return Err(error),
                Attempt::Retry { reason, after } => (reason, after),
            };
            // Never sooner than the backoff: `Retry-After: 0` is no licence to hammer.
            let wait = after.map_or(backoff, |after| after.max(backoff));
            let left = deadline.saturating_duration_since(Instant::now());
            // An attempt needs time to be answered in, beside the wait.
            if wait.saturating_add(FIRST_BACKOFF) > left {
                let last = match after {
                    Some(after) => format!(
                        "{reason} (Retry-After {:.1} s is past the deadline)",
                        after.as_secs_f64()
                    ),
                    None => reason,
                };
                return Err(WriteError::OutOfTime { attempts, last });
            }
            tracing::info!(
                attempts,
                wait_ms = wait.as_millis() as u64,
                "remote write: {reason}; retrying"
            );
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn attempt(&self, body: &[u8], left: Duration) -> Attempt {
        if left.is_zero() {
            return Attempt::Retry {
                reason: "no time left".into(),
                after: None,
            };
        }
        let headers = match self.headers(body) {
            Ok(headers) => headers,
            Err(error) => return Attempt::Fatal(error),
        };
        let mut request = Request::new(Full::new(Bytes::copy_from_slice(body)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = headers;
        let started = Instant::now();
        let no_answer = || Attempt::Retry {
            reason: format!("no answer within {:.1} s", left.as_secs_f64()),
            after: None,
        };
        let response = match tokio::time::timeout(left, self.client.request(request)).await {
            Err(_) => return no_answer(),
            Ok(Err(e)) => {
                return Attempt::Retry {
                    reason: root_cause(&e),
                    after: None,
                }
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status.is_success() {
            return Attempt::Done;
        }
        let after = retry_after(response.headers(), SystemTime::now());
        let left = left.saturating_sub(started.elapsed());
        let answer = match tokio::time::timeout(left, response.into_body().collect()).await {
            Ok(Ok(collected)) => quoted(&String::from_utf8_lossy(&collected.to_bytes())),
            _ => "(no body within the time)".to_string(),
        };
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            Attempt::Retry {
                reason: format!("{} {answer}", status.as_u16()),
                after,
            }
        } else {
            Attempt::Fatal(WriteError::Refused {
                status: status.as_u16(),
                answer,
            })
        }
    }

    fn headers(&self, body: &[u8]) -> Result<HeaderMap, WriteError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert(
            "x-prometheus-remote-write-version",
            HeaderValue::from_static("0.1.0"),
        );
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("lambda-blackbox/", env!("CARGO_PKG_VERSION"))),
        );
        match &self.auth {
            RemoteWriteAuth::None => {}
            RemoteWriteAuth::Bearer(token) => {
                headers.insert(
                    header::AUTHORIZATION,
                    sensitive(&format!("Bearer {}", token.expose()))?,
                );
            }
            RemoteWriteAuth::Basic { username, password } => {
                use base64::Engine;
                let pair = format!("{username}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                headers.insert(
                    header::AUTHORIZATION,
                    sensitive(&format!("Basic {encoded}"))?,
                );
            }
            RemoteWriteAuth::SigV4 {
                region,
                credentials,
            } => {
                let signed = sigv4::sign(
                    &self.url,
                    &headers,
                    body,
                    region,
                    credentials,
                    SystemTime::now(),
                )
                .map_err(WriteError::Signing)?;
                for (name, value) in signed {
                    headers.insert(name, value);
                }
            }
        }
        Ok(headers)
    }
}

fn sensitive(value: &str) -> Result<HeaderValue, WriteError> {
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| WriteError::Signing("the credentials are not a valid header value".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

/// `Retry-After` as seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or_default())
}

fn quoted(answer: &str) -> String {
    let line = answer.lines().next().unwrap_or_default().trim();
    let mut end = line.len().min(QUOTED_BYTES);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    let mut out: String = line[..end]
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if end < line.len() {
        out.push('…');
    }
    if out.is_empty() {
        "(no body)".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let now = httpdate::parse_http_date("Wed, 02 Dec 2026 10:00:00 GMT").unwrap();
        let with = |v: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static(v));
            retry_after(&headers, now)
        };
        assert_eq!(with("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            with("Wed, 02 Dec 2026 10:00:07 GMT"),
            Some(Duration::from_secs(7))
        );
        assert_eq!(with("Wed, 02 Dec 2026 09:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(with("soon"), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn a_receivers_answer_is_quoted_on_one_short_line() {
        assert_eq!(quoted("out of order sample\nmore"), "out of order sample");
        assert_eq!(quoted(""), "(no body)");
        assert_eq!(quoted(&"é".repeat(300)).chars().count(), 101);
    }
}

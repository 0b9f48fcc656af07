//! lambda-blackbox's function: proxies Function URL, API Gateway (v1 and v2) and ALB
//! requests to blackbox_exporter on loopback and hands its answer back unchanged.

pub mod gate;
pub mod modules;
pub mod settings;
pub mod target_policy;
pub mod target_reading;

use std::time::{Duration, Instant, SystemTime};

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

use lambda_blackbox_common::extension_pid_file;
use lambda_http::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::gate::Refusal;
use crate::settings::HandlerSettings;
use crate::target_reading::{Host, Reading, TargetHost};

/// The extension's name as /proc shows it (the kernel keeps 15 bytes).
const EXTENSION_COMM: &str = "blackbox-extens";

/// Prometheus sends its scrape timeout here; blackbox bounds the probe by it.
pub const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";
/// Request headers that reach blackbox; the rest (auth, cookies, AWS's own) stay here.
const FORWARDED_HEADERS: [header::HeaderName; 2] = [header::ACCEPT, header::USER_AGENT];
/// Kept free before the invocation deadline to send the answer back.
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);
/// Used only when an event carries no deadline, which Lambda never does.
const FALLBACK_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a refused connection is retried: the extension restarts a dead blackbox in
/// a few milliseconds, and the invoke that finds it dead should still be served.
pub const UPSTREAM_WAIT: Duration = Duration::from_secs(2);
const UPSTREAM_RETRY_INTERVAL: Duration = Duration::from_millis(5);
/// How long a 504 waits for the extension to have a hung blackbox replaced.
const REPLACEMENT_WAIT: Duration = Duration::from_secs(1);
/// A serving blackbox answers `/-/healthy` in well under a millisecond.
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_millis(100);

/// A failed proxy attempt, answered with its status and a one-line reason.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProxyError {
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

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::Unreachable { .. } | ProxyError::BrokenAnswer(_) => StatusCode::BAD_GATEWAY,
            ProxyError::ExtensionGone => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn into_response(self) -> Response<Body> {
        text_response(self.status(), &self.to_string())
    }
}

fn refused(refusal: Refusal) -> Response<Body> {
    tracing::info!(
        status = refusal.status.as_u16(),
        "refused: {}",
        refusal.reason
    );
    let mut response = text_response(refusal.status, &refusal.reason);
    let headers = response.headers_mut();
    match refusal.status {
        StatusCode::UNAUTHORIZED => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"lambda-blackbox\""),
            );
        }
        StatusCode::METHOD_NOT_ALLOWED => {
            headers.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        _ => {}
    }
    response
}

/// A plain-text answer with a one-line reason.
pub fn text_response(status: StatusCode, reason: &str) -> Response<Body> {
    let mut response = Response::new(Body::Text(format!("{reason}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// How long blackbox may take: the scrape timeout Prometheus sent, cut to what is left
/// of the invocation. `None` from a malformed header means "no header".
pub fn upstream_timeout(
    scrape_timeout: Option<&str>,
    deadline: Option<SystemTime>,
    now: SystemTime,
) -> Duration {
    let left = deadline
        .map(|d| {
            d.duration_since(now)
                .unwrap_or_default()
                .saturating_sub(DEADLINE_MARGIN)
        })
        .unwrap_or(FALLBACK_TIMEOUT);
    let scrape = scrape_timeout
        .and_then(|v| v.trim().parse::<f64>().ok())
        // Under a millisecond is no scrape timeout; a huge value (1e30) is no Duration:
        // both are treated as no header, never a panic.
        .filter(|s| *s >= 0.001)
        .and_then(|s| Duration::try_from_secs_f64(s).ok());
    match scrape {
        Some(scrape) => scrape.min(left),
        None => left,
    }
}

/// Every address `name` resolves to, through the system resolver as blackbox's does.
/// A name that does not resolve here is refused, not passed on unchecked: the system
/// resolver fails a whole lookup when one of its A and AAAA queries fails, so a zone
/// could answer A 127.0.0.1, fail AAAA, and have blackbox (which asks for A alone)
/// probe loopback.
async fn resolve(
    name: &str,
    target: &TargetHost,
    timeout: Duration,
) -> Result<Vec<IpAddr>, Refusal> {
    let cannot_check = |why: String| Refusal {
        status: StatusCode::FORBIDDEN,
        reason: format!(
            "target {target} is refused: its host name could not be resolved to check it ({why})"
        ),
    };
    let lookup = tokio::net::lookup_host((name, target.port.unwrap_or(80)));
    let addresses: Vec<IpAddr> = match tokio::time::timeout(timeout, lookup).await {
        Ok(Ok(addresses)) => addresses.map(|a| a.ip()).collect(),
        Ok(Err(e)) => return Err(cannot_check(e.to_string())),
        Err(_) => return Err(cannot_check("the lookup timed out".to_string())),
    };
    if addresses.is_empty() {
        return Err(cannot_check("no addresses".to_string()));
    }
    Ok(addresses)
}

pub struct Proxy {
    client: reqwest::Client,
    settings: HandlerSettings,
    extension_pid_file: PathBuf,
}

impl Proxy {
    pub fn new(settings: HandlerSettings) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(4)
            .tcp_nodelay(true)
            .build()?;
        let extension_pid_file = extension_pid_file(Some(&settings.upstream));
        Ok(Self {
            client,
            settings,
            extension_pid_file,
        })
    }

    pub fn settings(&self) -> &HandlerSettings {
        &self.settings
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        let admitted = match gate::admit_request(&self.settings, &request) {
            Ok(admitted) => admitted,
            Err(refusal) => return refused(refusal),
        };

        let deadline = request.lambda_context_ref().map(|c| c.deadline());
        let scrape = request
            .headers()
            .get(SCRAPE_TIMEOUT_HEADER)
            .and_then(|v| v.to_str().ok());
        let now = SystemTime::now();
        // One budget for the lookup and the probe, and what is left of the invocation
        // bounds the replacement of a hung blackbox too.
        let timeout = upstream_timeout(scrape, deadline, now);
        let invocation_left = upstream_timeout(None, deadline, now);
        let started = Instant::now();

        if let Some(readings) = &admitted.target {
            if let Err(refusal) = self.check_resolved(readings, timeout).await {
                return refused(refusal);
            }
        }
        let timeout = timeout.saturating_sub(started.elapsed());

        let path_and_query = match request.uri().query() {
            Some(query) => format!("{}?{query}", request.raw_http_path()),
            None => request.raw_http_path().to_string(),
        };
        match self
            .forward(
                request.method(),
                &path_and_query,
                request.headers(),
                timeout,
            )
            .await
        {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(status = error.status().as_u16(), "{error}");
                if matches!(error, ProxyError::Timeout(_)) {
                    self.replace_if_hung(invocation_left.saturating_sub(started.elapsed()))
                        .await;
                }
                error.into_response()
            }
        }
    }

    /// The second look at each host name a prober would dial: every address it resolves
    /// to now, each name looked up once within `timeout`. blackbox resolves it again, so a
    /// name whose answers change between the two (DNS rebinding) is not covered; the
    /// README says so.
    async fn check_resolved(&self, readings: &[Reading], timeout: Duration) -> Result<(), Refusal> {
        let deadline = Instant::now() + timeout;
        let mut resolved: HashMap<&str, Vec<IpAddr>> = HashMap::new();
        for reading in readings {
            let Host::Name(name) = &reading.dials.host else {
                continue;
            };
            let addresses = match resolved.get(name.as_str()) {
                Some(addresses) => addresses.clone(),
                None => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let addresses = resolve(name, &reading.dials, left).await?;
                    resolved.insert(name, addresses.clone());
                    addresses
                }
            };
            self.settings
                .policy
                .check_resolved(&reading.dials, &addresses)
                .map_err(|denied| gate::Refusal {
                    status: StatusCode::FORBIDDEN,
                    reason: denied.to_string(),
                })?;
        }
        Ok(())
    }

    /// The extension's pid, if it is running.
    fn extension_pid(&self) -> Option<Pid> {
        let pid: i32 = std::fs::read_to_string(&self.extension_pid_file)
            .ok()?
            .trim()
            .parse()
            .ok()?;
        // A recycled pid must not receive our signal.
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let zombie = state
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'));
        (comm.trim() == EXTENSION_COMM && !zombie).then(|| Pid::from_raw(pid))
    }

    /// blackbox took the whole timeout without answering. It ends probes itself half a
    /// second before the timeout it is sent, so it is hung, unless the timeout was under
    /// that offset (then blackbox falls back to the module's timeout and is merely busy):
    /// `/-/healthy` tells which. A hung blackbox is replaced by the extension, and this
    /// waits (within `left`) for the new one to answer: once the answer is sent Lambda may
    /// freeze the environment, and the extension must not be left with the work.
    async fn replace_if_hung(&self, left: Duration) {
        let healthy = format!("http://{}/-/healthy", self.settings.upstream);
        let answers = |within: Duration| {
            self.client
                .get(&healthy)
                .timeout(
                    within
                        .min(HEALTH_CHECK_TIMEOUT)
                        .max(Duration::from_millis(1)),
                )
                .send()
        };
        if answers(left).await.is_ok() {
            tracing::info!("blackbox_exporter answers /-/healthy: it was busy, not hung");
            return;
        }
        let Some(pid) = self.extension_pid() else {
            tracing::warn!(
                "the blackbox extension is not running; blackbox_exporter cannot be replaced"
            );
            return;
        };
        if let Err(e) = kill(pid, Signal::SIGUSR1) {
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
    ) -> Result<Response<Body>, ProxyError> {
        let started = Instant::now();
        let url = format!("http://{}{path_and_query}", self.settings.upstream);
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
        let timed_out = || ProxyError::Timeout(timeout.as_secs_f64());

        let response = loop {
            let left = timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(timed_out());
            }
            let attempt = self
                .client
                .request(method.clone(), &url)
                .headers(upstream_headers.clone())
                .timeout(left)
                .send()
                .await;
            match attempt {
                Ok(response) => break response,
                Err(e) if e.is_timeout() => return Err(timed_out()),
                Err(e) if e.is_connect() && self.extension_pid().is_none() => {
                    return Err(ProxyError::ExtensionGone);
                }
                Err(e) if e.is_connect() && started.elapsed() < UPSTREAM_WAIT.min(timeout) => {
                    tokio::time::sleep(UPSTREAM_RETRY_INTERVAL).await;
                }
                Err(e) if e.is_connect() => {
                    return Err(ProxyError::Unreachable {
                        authority: self.settings.upstream.clone(),
                        waited_ms: started.elapsed().as_millis(),
                        cause: root_cause(&e),
                    })
                }
                Err(e) => return Err(ProxyError::BrokenAnswer(root_cause(&e))),
            }
        };

        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let body = response.bytes().await.map_err(|e| {
            if e.is_timeout() {
                timed_out()
            } else {
                ProxyError::BrokenAnswer(root_cause(&e))
            }
        })?;
        let body = match String::from_utf8(body.to_vec()) {
            Ok(text) => Body::Text(text),
            Err(e) => Body::Binary(e.into_bytes()),
        };
        let mut answer = Response::new(body);
        *answer.status_mut() = status;
        if let Some(content_type) = content_type {
            answer
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type);
        }
        Ok(answer)
    }
}

/// `POST /2018-06-01/runtime/init/error`: Init fails with `error_type` and the message,
/// instead of the function starting with settings it cannot honour.
pub async fn report_init_error(error_type: &str, message: &str) {
    tracing::error!(error_type, "{message}");
    let Ok(api) = std::env::var("AWS_LAMBDA_RUNTIME_API") else {
        return;
    };
    let body =
        serde_json::json!({ "errorMessage": message, "errorType": error_type, "stackTrace": [] });
    let sent = reqwest::Client::new()
        .post(format!("http://{api}/2018-06-01/runtime/init/error"))
        .header("Lambda-Runtime-Function-Error-Type", error_type)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    if let Err(e) = sent {
        tracing::error!("could not report the init error: {e}");
    }
}

/// The innermost error's text: reqwest's own wraps it in "error sending request for url …".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_follows_the_header_and_the_deadline() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let in_30s = Some(now + Duration::from_secs(30));
        let in_1s = Some(now + Duration::from_secs(1));
        let cases = [
            (Some("2"), in_30s, Duration::from_secs(2)),
            (Some(" 9.5 "), in_30s, Duration::from_millis(9500)),
            (Some("10"), in_1s, Duration::from_millis(900)),
            (None, in_30s, Duration::from_millis(29_900)),
            (Some("abc"), in_30s, Duration::from_millis(29_900)),
            (Some("-1"), in_30s, Duration::from_millis(29_900)),
            (Some("NaN"), in_30s, Duration::from_millis(29_900)),
            (Some("inf"), in_30s, Duration::from_millis(29_900)),
            (Some("1e30"), in_30s, Duration::from_millis(29_900)),
            (Some("1e-30"), in_30s, Duration::from_millis(29_900)),
            (
                Some("5"),
                Some(now - Duration::from_secs(1)),
                Duration::ZERO,
            ),
            (Some("5"), None, Duration::from_secs(5)),
            (None, None, FALLBACK_TIMEOUT),
        ];
        for (header, deadline, want) in cases {
            assert_eq!(
                upstream_timeout(header, deadline, now),
                want,
                "{header:?} {deadline:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_missing_extension_is_a_503_at_once() {
        let free_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{free_port}");
        let settings = crate::settings::test_settings(&[(
            lambda_blackbox_common::LISTEN_ADDRESS_VAR,
            &listen,
        )])
        .unwrap();
        let proxy = Proxy::new(settings).unwrap();
        let started = Instant::now();
        let error = proxy
            .forward(
                &Method::GET,
                "/probe",
                &HeaderMap::new(),
                Duration::from_secs(5),
            )
            .await
            .unwrap_err();
        assert_eq!(error, ProxyError::ExtensionGone);
        assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            started.elapsed() < UPSTREAM_WAIT,
            "no wait for a blackbox nobody will restart"
        );
    }

    #[test]
    fn errors_map_to_gateway_statuses_with_one_line_reasons() {
        let timeout = ProxyError::Timeout(1.5);
        assert_eq!(timeout.status(), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(
            timeout.to_string(),
            "blackbox_exporter did not answer within 1.500 s (the scrape timeout or the invocation deadline)"
        );
        let unreachable = ProxyError::Unreachable {
            authority: "127.0.0.1:9115".into(),
            waited_ms: 2000,
            cause: "Connection refused (os error 111)".into(),
        };
        assert_eq!(unreachable.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            unreachable.to_string(),
            "blackbox_exporter is not reachable at 127.0.0.1:9115 after 2000 ms: Connection refused (os error 111)"
        );
        let response = unreachable.into_response();
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
    }
}

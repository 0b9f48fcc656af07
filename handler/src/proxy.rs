//! One HTTP request through the gate to blackbox and back, within the invocation's time:
//! blackbox's answer or a refusal, each as the HTTP answer lambda_http sends back.

use std::time::{Duration, Instant, SystemTime};

use lambda_blackbox_probe::admission::check_resolved;
use lambda_blackbox_probe::{BlackboxAnswer, BlackboxClient, BlackboxError, SCRAPE_TIMEOUT_HEADER};
use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::gate::{self, Refusal};
use crate::settings::HandlerSettings;

/// Kept free before the invocation deadline to send the answer back.
const DEADLINE_MARGIN: Duration = Duration::from_millis(100);
/// Used only when an event carries no deadline, which Lambda never does.
const FALLBACK_TIMEOUT: Duration = Duration::from_secs(30);

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

/// One request through the gate to blackbox and back, within the invocation's time.
pub struct Proxy {
    settings: HandlerSettings,
    blackbox: BlackboxClient,
}

impl Proxy {
    pub fn new(settings: HandlerSettings) -> Self {
        let blackbox = BlackboxClient::new(settings.probe.listen_address.clone());
        Self { settings, blackbox }
    }

    pub fn settings(&self) -> &HandlerSettings {
        &self.settings
    }

    pub fn blackbox(&self) -> &BlackboxClient {
        &self.blackbox
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
            if let Err(refusal) = check_resolved(&self.settings.probe, readings, timeout).await {
                return refused(gate::refusal_of(refusal));
            }
        }
        let timeout = timeout.saturating_sub(started.elapsed());

        let path_and_query = match request.uri().query() {
            Some(query) => format!("{}?{query}", request.raw_http_path()),
            None => request.raw_http_path().to_string(),
        };
        match self
            .blackbox
            .forward(
                request.method(),
                &path_and_query,
                request.headers(),
                timeout,
            )
            .await
        {
            Ok(answer) => http_answer(answer),
            Err(error) => {
                tracing::warn!(status = error.status().as_u16(), "{error}");
                if matches!(error, BlackboxError::Timeout(_)) {
                    self.blackbox
                        .replace_if_hung(invocation_left.saturating_sub(started.elapsed()))
                        .await;
                }
                text_response(error.status(), &error.to_string())
            }
        }
    }
}

/// blackbox's answer as lambda_http sends it back: text when it is UTF-8, so that a
/// Function URL shows it as it came.
fn http_answer(answer: BlackboxAnswer) -> Response<Body> {
    let body = match String::from_utf8(Vec::from(answer.body)) {
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    let mut response = Response::new(body);
    *response.status_mut() = answer.status;
    if let Some(content_type) = answer.content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Text when it is UTF-8, whatever the content type says; the exact bytes otherwise.
    #[test]
    fn blackbox_s_bytes_go_back_as_they_came() {
        let answer = |body: &[u8], content_type: &'static str| {
            http_answer(BlackboxAnswer {
                status: StatusCode::OK,
                content_type: Some(HeaderValue::from_static(content_type)),
                body: body.to_vec().into(),
            })
        };
        let metrics = answer(
            b"probe_success 1\n",
            "text/plain; version=0.0.4; charset=utf-8",
        );
        assert_eq!(metrics.body(), &Body::Text("probe_success 1\n".into()));
        assert_eq!(
            metrics.headers()[header::CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let latin1 = answer(b"caf\xe9", "text/plain; charset=iso-8859-1");
        assert_eq!(latin1.body(), &Body::Binary(b"caf\xe9".to_vec()));
    }

    #[test]
    fn an_error_is_a_plain_text_one_line_answer() {
        let error = BlackboxError::Unreachable {
            authority: "127.0.0.1:9115".into(),
            waited_ms: 2000,
            cause: "Connection refused (os error 111)".into(),
        };
        let response = text_response(error.status(), &error.to_string());
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            response.body(),
            &Body::Text("blackbox_exporter is not reachable at 127.0.0.1:9115 after 2000 ms: Connection refused (os error 111)\n".into())
        );
    }
}

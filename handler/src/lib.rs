//! lambda-blackbox's function: proxies Function URL, API Gateway (v1 and v2) and ALB
//! requests to blackbox_exporter on loopback and hands its answer back unchanged; runs the
//! probes of a scheduled invocation and remote-writes their results (push mode).

pub mod error;
pub mod event;
pub mod gate;
pub mod modules;
pub mod push;
pub mod settings;
pub mod target_policy;
pub mod target_reading;
pub mod upstream;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::lambda_runtime::Diagnostic;
use lambda_http::request::LambdaRequest;
use lambda_http::{service_fn, Adapter, Body, LambdaEvent, Request, RequestExt, Response, Service};
use serde_json::Value;

use crate::error::HandlerError;
use crate::event::Answer;

use crate::gate::Refusal;
use crate::push::PushMode;
use crate::settings::HandlerSettings;
use crate::upstream::{ProxyError, Upstream};

/// Prometheus sends its scrape timeout here; blackbox bounds the probe by it.
pub const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";
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
    upstream: Upstream,
}

impl Proxy {
    pub fn new(settings: HandlerSettings) -> Self {
        let upstream = Upstream::new(settings.listen_address.clone());
        Self { settings, upstream }
    }

    pub fn settings(&self) -> &HandlerSettings {
        &self.settings
    }

    pub fn upstream(&self) -> &Upstream {
        &self.upstream
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
            if let Err(refusal) = gate::check_resolved(&self.settings, readings, timeout).await {
                return refused(refusal);
            }
        }
        let timeout = timeout.saturating_sub(started.elapsed());

        let path_and_query = match request.uri().query() {
            Some(query) => format!("{}?{query}", request.raw_http_path()),
            None => request.raw_http_path().to_string(),
        };
        match self
            .upstream
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
                    self.upstream
                        .replace_if_hung(invocation_left.saturating_sub(started.elapsed()))
                        .await;
                }
                error.into_response()
            }
        }
    }
}

/// Serves invocations until the runtime stops: a push run goes to `push::run`; any other
/// event is checked before lambda_http turns it into a request (see `event`), then goes
/// through `Proxy::handle`.
pub async fn serve(proxy: Proxy, push: Option<PushMode>) -> Result<(), lambda_http::Error> {
    let proxy = Arc::new(proxy);
    let push = Arc::new(push);
    let adapter = {
        let proxy = proxy.clone();
        Adapter::from(service_fn(move |request: Request| {
            let proxy = proxy.clone();
            async move { Ok::<_, lambda_http::Error>(proxy.handle(request).await) }
        }))
    };
    lambda_http::lambda_runtime::run(service_fn(move |invocation: LambdaEvent<Value>| {
        // A service_fn is always ready, so the adapter needs no poll_ready.
        let mut adapter = adapter.clone();
        let proxy = proxy.clone();
        let push = push.clone();
        async move {
            let LambdaEvent { payload, context } = invocation;
            if let Some(run) = push::event::push_run(&payload) {
                let left = upstream_timeout(None, Some(context.deadline()), SystemTime::now());
                return push::run(
                    proxy.settings(),
                    proxy.upstream(),
                    (*push).as_ref(),
                    run,
                    left,
                )
                .await
                .map(|summary| Answer::Push(Box::new(summary)))
                .map_err(|error| {
                    let error = HandlerError::from(error);
                    tracing::error!(error_type = error.error_type(), "{error}");
                    Diagnostic::from(error)
                });
            }
            let request: LambdaRequest = serde_json::from_value(payload)
                .map_err(|e| Diagnostic::from(HandlerError::UnknownEvent(e.to_string())))?;
            if let Err(malformed) = event::check(&request) {
                tracing::info!(status = 400, "refused: {malformed}");
                let origin = request.request_origin();
                return Ok(Answer::Malformed(Box::new(malformed.response(&origin))));
            }
            adapter
                .call(LambdaEvent::new(request, context))
                .await
                .map(Answer::Converted)
                .map_err(Diagnostic::from)
        }
    }))
    .await
}

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
        Ok(request) => upstream::send(
            &upstream::loopback_client(0),
            request,
            Duration::from_secs(2),
        )
        .await
        .map(|(head, _)| head.status),
        Err(e) => Err(upstream::SendError::Request(e.to_string())),
    };
    match sent {
        Ok(status) if status.is_success() => {}
        Ok(status) => tracing::error!("the Runtime API refused the init error with {status}"),
        Err(e) => tracing::error!("could not report the init error: {e}"),
    }
}

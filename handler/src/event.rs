//! The raw event, before lambda_http turns it into a `Request`.
//!
//! lambda_http builds the request URI from the `Host` header (or the request context's
//! domain name), `X-Forwarded-Proto`, the stage and path, and for HTTP API events the raw
//! query string, and panics when the result is not a URI (`Url::parse(..).unwrap()` and
//! `.expect("failed to build request")` in its request.rs). A caller controls the `Host`
//! header of a Function URL request, so `Host: a b` would be a 502 with no reason. Here the
//! same URI is built first, the way lambda_http builds it, and an event it cannot build is
//! answered with a 400 that says which part is malformed. The release profile's
//! `panic = "unwind"` stays as the second line of defence.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use lambda_http::http::{header, HeaderMap, StatusCode, Uri};
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Response};
use url::Url;

/// Longest piece of the offending value quoted back in a reason.
const QUOTED_CHARS: usize = 64;

/// Why lambda_http could not build a request from an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed request: {0}")]
pub struct MalformedEvent(String);

/// What lambda_http reads to build the request URI and body, taken from one event.
struct EventParts<'a> {
    headers: &'a HeaderMap,
    host: Option<&'a str>,
    path: String,
    /// HTTP API events only: appended as it came. REST and ALB events carry their query
    /// as maps, which lambda_http encodes itself.
    raw_query: Option<&'a str>,
    /// Decoded by lambda_http with `.expect(..)` when the event says it is base64.
    base64_body: Option<&'a str>,
}

/// `Ok` when lambda_http can turn the event into a request; otherwise which part it could
/// not read. Event kinds this handler does not serve are left to lambda_http.
pub fn check(event: &LambdaRequest) -> Result<(), MalformedEvent> {
    let parts = match event {
        LambdaRequest::ApiGatewayV2(ag) => EventParts {
            headers: &ag.headers,
            host: host_header(&ag.headers).or(ag.request_context.domain_name.as_deref()),
            path: path_with_stage(
                ag.request_context.stage.as_deref(),
                ag.raw_path.as_deref().unwrap_or_default(),
            ),
            raw_query: ag.raw_query_string.as_deref(),
            base64_body: ag.body.as_deref().filter(|_| ag.is_base64_encoded),
        },
        LambdaRequest::ApiGatewayV1(ag) => EventParts {
            headers: &ag.headers,
            host: host_header(&ag.headers).or(ag.request_context.domain_name.as_deref()),
            path: path_with_stage(
                ag.request_context.stage.as_deref(),
                ag.path.as_deref().unwrap_or_default(),
            ),
            raw_query: None,
            base64_body: ag.body.as_deref().filter(|_| ag.is_base64_encoded),
        },
        LambdaRequest::Alb(alb) => EventParts {
            headers: &alb.headers,
            host: host_header(&alb.headers),
            path: alb.path.clone().unwrap_or_default(),
            raw_query: None,
            base64_body: alb.body.as_deref().filter(|_| alb.is_base64_encoded),
        },
        _ => return Ok(()),
    };
    parts.check()
}

impl EventParts<'_> {
    fn check(&self) -> Result<(), MalformedEvent> {
        self.check_uri()?;
        match self.base64_body {
            Some(body) if STANDARD.decode(body).is_err() => Err(MalformedEvent(
                "the body is marked isBase64Encoded but is not base64".into(),
            )),
            _ => Ok(()),
        }
    }

    fn check_uri(&self) -> Result<(), MalformedEvent> {
        let uri = match self.host {
            // Without a host lambda_http keeps only the path of http://localhost{path}.
            None => Url::parse(&format!("http://localhost{}", self.path))
                .map_err(|_| malformed("path", &self.path))?
                .path()
                .to_string(),
            Some(host) => {
                let scheme = self
                    .headers
                    .get("x-forwarded-proto")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("https");
                // Decided on lambda_http's own string; the parts only say what to blame.
                match Url::parse(&format!("{scheme}://{host}{}", self.path)) {
                    Ok(url) => url.to_string(),
                    Err(_) if Url::parse(&format!("https://{host}/")).is_err() => {
                        return Err(malformed("Host header", host))
                    }
                    Err(_) if Url::parse(&format!("{scheme}://{host}/")).is_err() => {
                        return Err(malformed("X-Forwarded-Proto header", scheme))
                    }
                    Err(_) => return Err(malformed("path", &self.path)),
                }
            }
        };
        Uri::try_from(uri.as_str()).map_err(|_| malformed("request URI", &uri))?;
        match self.raw_query {
            Some(query) if !query.is_empty() => Uri::try_from(format!("{uri}?{query}"))
                .map(|_| ())
                .map_err(|_| malformed("query string", query)),
            _ => Ok(()),
        }
    }
}

impl MalformedEvent {
    /// The 400 that says which part of the event is malformed.
    pub fn response(&self) -> Response<Body> {
        crate::proxy::text_response(StatusCode::BAD_REQUEST, &self.to_string())
    }
}

/// lambda_http ignores a `Host` header that is not visible ASCII and falls back.
fn host_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::HOST).and_then(|v| v.to_str().ok())
}

/// lambda_http's `apigw_path_with_stage`: the stage in front of the path unless it is
/// `$default`, already there, or `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set.
fn path_with_stage(stage: Option<&str>, path: &str) -> String {
    if std::env::var_os("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH").is_some() {
        return path.to_string();
    }
    match stage {
        None | Some("$default") => path.to_string(),
        Some(stage) if path.starts_with(&format!("/{stage}/")) => path.to_string(),
        Some(stage) => format!("/{stage}{path}"),
    }
}

fn malformed(part: &str, value: &str) -> MalformedEvent {
    let mut quoted: String = value.chars().take(QUOTED_CHARS).collect();
    if quoted.len() < value.len() {
        quoted.push('…');
    }
    MalformedEvent(format!("the {part} {quoted:?} is not valid in a URL"))
}

#[cfg(test)]
mod tests;

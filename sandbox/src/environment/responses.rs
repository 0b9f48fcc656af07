//! How the Runtime and Extensions APIs answer: JSON bodies, the error document, headers.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub(super) fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `{"errorMessage":…, "errorType":…}` with a status, as the Runtime API answers errors.
pub(super) fn api_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    json_response(
        status,
        json!({"errorMessage": message, "errorType": error_type}).to_string(),
    )
}

pub(super) fn forbidden(error_type: &str, message: &str) -> Response {
    api_error(StatusCode::FORBIDDEN, error_type, message)
}

pub(super) fn internal_error() -> Response {
    api_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
        "Internal Server Error",
    )
}

/// Sets headers: the first value of a name replaces what the response had, further values
/// of the same name (e.g. `set-cookie`) are appended. Invalid names/values are skipped.
pub(crate) fn with_headers(mut response: Response, headers: &[(&str, &str)]) -> Response {
    let mut seen: Vec<HeaderName> = Vec::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            if seen.contains(&name) {
                response.headers_mut().append(name, value);
            } else {
                seen.push(name.clone());
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
}

/// 202 `{"status":"OK"}`, as both APIs acknowledge a report.
pub(super) fn accepted(extension_id: Option<&str>) -> Response {
    let response = json_response(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.to_string());
    match extension_id {
        Some(id) => with_headers(response, &[("Lambda-Extension-Identifier", id)]),
        None => response,
    }
}

/// A request header's value, trimmed; `None` when absent, empty or not text.
pub(super) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A 403 decided before the answer is built (small, unlike a `Response`).
pub(super) struct Forbidden {
    error_type: &'static str,
    message: String,
}

impl Forbidden {
    pub(super) fn new(error_type: &'static str, message: impl Into<String>) -> Self {
        Forbidden {
            error_type,
            message: message.into(),
        }
    }

    pub(super) fn response(&self) -> Response {
        forbidden(self.error_type, &self.message)
    }
}

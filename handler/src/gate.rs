//! What a request may ask for, decided before anything reaches blackbox: the token,
//! the method, the path, the size of the query and headers, `debug`, and the target.

use lambda_http::http::{header, HeaderMap, Method, StatusCode};

use crate::settings::HandlerSettings;
use crate::target_policy::{parse_target, TargetHost};

/// blackbox's own limit is far larger; 8 KiB covers any real target and module.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
pub const MAX_HEADER_VALUE_BYTES: usize = 8 * 1024;
pub const MAX_HEADERS_BYTES: usize = 32 * 1024;

/// A refused request: its status and a one-line reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub reason: String,
}

fn refuse(status: StatusCode, reason: impl Into<String>) -> Refusal {
    Refusal {
        status,
        reason: reason.into(),
    }
}

/// A request that may go on; `target` is the probe target still to be checked after
/// its host name is resolved.
#[derive(Debug, PartialEq, Eq)]
pub struct Admitted {
    pub target: Option<(TargetHost, Option<String>)>,
}

/// The checks that need no I/O. `iam_authenticated` is true when AWS has already
/// authenticated the caller (a Function URL with `AWS_IAM` auth).
pub fn admit(
    settings: &HandlerSettings,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    iam_authenticated: bool,
) -> Result<Admitted, Refusal> {
    if let Some(token) = &settings.auth_token {
        if !(settings.trust_iam && iam_authenticated) {
            let presented = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| bearer_token(v.as_bytes()));
            match presented {
                Some(presented) if token.matches(presented) => {}
                Some(_) => {
                    return Err(refuse(
                        StatusCode::UNAUTHORIZED,
                        "the bearer token is wrong",
                    ))
                }
                None => {
                    return Err(refuse(
                        StatusCode::UNAUTHORIZED,
                        "an Authorization: Bearer token is required",
                    ))
                }
            }
        }
    }
    if method != Method::GET && method != Method::HEAD {
        return Err(refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {method} is not allowed: use GET or HEAD"),
        ));
    }
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADERS_BYTES
        || headers.values().any(|v| v.len() > MAX_HEADER_VALUE_BYTES)
    {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            format!(
                "the request headers are too large (at most {MAX_HEADER_VALUE_BYTES} bytes a header, {MAX_HEADERS_BYTES} in all)"
            ),
        ));
    }
    if headers
        .values()
        .any(|v| std::str::from_utf8(v.as_bytes()).is_err())
    {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "a request header is not valid UTF-8",
        ));
    }
    let query = query.unwrap_or_default();
    if query.len() > MAX_QUERY_BYTES {
        return Err(refuse(
            StatusCode::URI_TOO_LONG,
            format!("the query string is over {MAX_QUERY_BYTES} bytes"),
        ));
    }
    match path {
        "/probe" => {}
        "/metrics" | "/-/healthy" if settings.expose_metrics => {
            return Ok(Admitted { target: None });
        }
        "/metrics" | "/-/healthy" => {
            return Err(refuse(
                StatusCode::NOT_FOUND,
                format!("{path} is not served; set BLACKBOX_EXPOSE_METRICS=true to serve it"),
            ))
        }
        _ => {
            return Err(refuse(
                StatusCode::NOT_FOUND,
                format!(
                    "{} is not served: lambda-blackbox serves /probe",
                    printable(path)
                ),
            ))
        }
    }

    let params = query_params(query);
    let first = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    if first("debug") == Some("true") && !settings.allow_debug {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "debug=true is refused (its output shows the module configuration); set BLACKBOX_ALLOW_DEBUG=true to allow it",
        ));
    }
    let Some(target) = first("target") else {
        // blackbox answers this itself with 400 "Target parameter is missing".
        return Ok(Admitted { target: None });
    };
    let parsed = parse_target(target).map_err(|e| {
        refuse(
            StatusCode::BAD_REQUEST,
            format!("target {:?} is not usable: {e}", printable(target)),
        )
    })?;
    let name = settings
        .policy
        .check(&parsed)
        .map_err(|denied| refuse(StatusCode::FORBIDDEN, denied.to_string()))?;
    Ok(Admitted {
        target: Some((parsed, name)),
    })
}

fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let (scheme, token) = value.split_at(value.iter().position(|b| *b == b' ')?);
    scheme
        .eq_ignore_ascii_case(b"bearer")
        .then(|| token.trim_ascii())
}

/// Keeps a reason on one line and short, whatever the request held.
fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// The query as blackbox's Go code reads it (`url.ParseQuery`): pairs split on `&`,
/// a pair holding `;` or a malformed escape dropped, `+` read as a space.
pub fn query_params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.contains(';'))
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((query_unescape(key)?, query_unescape(value)?))
        })
        .collect()
}

fn query_unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    // Go keeps invalid UTF-8 as bytes; such a target cannot name a host we allow.
    Some(String::from_utf8_lossy(&out).into_owned())
}

//! What a request may ask for, decided before anything reaches blackbox: the token,
//! the method, the path, the size of the query and headers, `debug`, and the target
//! (through the probe crate's admission, as each prober reads it).

use lambda_http::http::{header, HeaderMap, Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use lambda_blackbox_probe::admission::{self, one_line, TargetRefusal};
use lambda_blackbox_probe::target_reading::{query_params, Reading};

use crate::settings::HandlerSettings;

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

/// A request that may go on; `target` holds every prober's reading of the probe target,
/// whose host names are still to be checked once resolved.
#[derive(Debug, PartialEq, Eq)]
pub struct Admitted {
    pub target: Option<Vec<Reading>>,
}

/// Whether AWS already authenticated the caller: a Function URL with `AWS_IAM` auth puts
/// the caller's identity in `requestContext.authorizer.iam`.
pub fn iam_authenticated(request: &Request) -> bool {
    matches!(
        request.request_context_ref(),
        Some(RequestContext::ApiGatewayV2(context))
            if context.authorizer.as_ref().is_some_and(|a| a.iam.is_some())
    )
}

/// [`admit`] on a request as lambda_http hands it over.
pub fn admit_request(settings: &HandlerSettings, request: &Request) -> Result<Admitted, Refusal> {
    admit(
        settings,
        request.method(),
        request.raw_http_path(),
        request.uri().query(),
        request.headers(),
        iam_authenticated(request),
    )
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
                    one_line(path)
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
    // No target: blackbox answers this itself with 400 "Target parameter is missing".
    let target = admission::admit_params(&settings.probe, &params).map_err(refusal_of)?;
    Ok(Admitted { target })
}

/// A refused target as a scrape answers it: 400 for one no prober reads, 403 for one the
/// policy denies.
pub fn refusal_of(refusal: TargetRefusal) -> Refusal {
    match refusal {
        TargetRefusal::Unreadable(reason) => refuse(StatusCode::BAD_REQUEST, reason),
        TargetRefusal::Denied(reason) => refuse(StatusCode::FORBIDDEN, reason),
    }
}

fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let value = value.trim_ascii();
    let (scheme, token) = value.split_at(value.iter().position(|b| *b == b' ')?);
    scheme
        .eq_ignore_ascii_case(b"bearer")
        .then(|| token.trim_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_blackbox_probe::target_reading::Host;
    use lambda_http::http::HeaderValue;

    fn settings(vars: &[(&str, &str)]) -> HandlerSettings {
        crate::settings::test_settings(vars).unwrap()
    }

    fn admit_get(
        s: &HandlerSettings,
        path: &str,
        query: &str,
        auth: Option<&str>,
    ) -> Result<Admitted, Refusal> {
        let mut headers = HeaderMap::new();
        if let Some(auth) = auth {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        }
        admit(s, &Method::GET, path, Some(query), &headers, false)
    }

    // The refusals, with the other handlers': handler/conformance/gate.json.

    #[test]
    fn an_empty_port_is_port_0_as_go_dials_it() {
        let open = settings(&[]);
        let refused = admit_get(
            &open,
            "/probe",
            "target=127.0.0.1:&module=tcp_connect",
            None,
        );
        assert_eq!(
            refused.unwrap_err().reason,
            "target 127.0.0.1:0 is not allowed: it is loopback"
        );
    }

    #[test]
    fn admitted_requests_name_what_is_left_to_check() {
        let open = settings(&[]);
        assert_eq!(
            admit_get(&open, "/probe", "module=http_2xx", None),
            Ok(Admitted { target: None })
        );
        let admitted = admit_get(
            &open,
            "/probe",
            "target=https%3A%2F%2FExample.com%2Fx&module=http_2xx",
            None,
        )
        .unwrap();
        let readings = admitted.target.unwrap();
        let shown: Vec<String> = readings
            .iter()
            .map(|r| format!("{} {}", r.prober, r.dials))
            .collect();
        assert_eq!(shown, ["http example.com:443"]);
        let ip = admit_get(
            &open,
            "/probe",
            "target=93.184.215.14:443&module=tcp_connect",
            None,
        )
        .unwrap()
        .target
        .unwrap();
        assert_eq!(ip.len(), 1);
        assert_eq!(ip[0].prober, "tcp");
        assert!(
            matches!(ip[0].dials.host, Host::Ip(_)),
            "an IP target needs no lookup"
        );
        let with_token = settings(&[("BLACKBOX_AUTH_TOKEN", "t0k")]);
        assert!(admit_get(
            &with_token,
            "/probe",
            "target=example.com",
            Some("Bearer t0k")
        )
        .is_ok());
        assert!(admit_get(
            &with_token,
            "/probe",
            "target=example.com",
            Some("bearer   t0k ")
        )
        .is_ok());
    }

    #[test]
    fn a_pair_go_drops_is_dropped_here_too() {
        // `%+9` is no escape to Go: the pair is dropped and blackbox probes the second
        // target. Reading it as a tab would let the first target be judged instead.
        let query = "target=%+9example.com&target=http://127.0.0.1:9001/2018-06-01/runtime/invocation/next&module=http_2xx";
        assert_eq!(
            query_params(query)[0],
            (
                "target".to_string(),
                "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next".to_string()
            )
        );
        let open = settings(&[("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")]);
        let refusal = admit_get(&open, "/probe", query, None).unwrap_err();
        assert_eq!(refusal.status.as_u16(), 403, "{refusal:?}");
    }
}

//! What a request may ask for, decided before anything reaches blackbox: the token,
//! the method, the path, the size of the query and headers, `debug`, and the target,
//! as each prober reads it and again once its host names are resolved.

use lambda_http::http::{header, HeaderMap, Method, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

use crate::settings::HandlerSettings;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::target_reading::{read_target, Host, Reading, TargetHost};

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
    Ok(Admitted {
        target: Some(admit_target(settings, target, first("module"))?),
    })
}

/// A probe target as the module's prober reads it, checked by the target policy: a
/// scrape's, or a push run's. Its host names are still to be checked once resolved.
pub fn admit_target(
    settings: &HandlerSettings,
    target: &str,
    module: Option<&str>,
) -> Result<Vec<Reading>, Refusal> {
    let probers = settings.modules.probers(module);
    let readings = read_target(target, probers).map_err(|e| {
        refuse(
            StatusCode::BAD_REQUEST,
            format!("target {:?} is not usable: {e}", printable(target)),
        )
    })?;
    settings
        .policy
        .check_readings(&readings)
        .map_err(|denied| refuse(StatusCode::FORBIDDEN, denied.to_string()))?;
    Ok(readings)
}

/// The second look at each host name a prober would dial: every address it resolves
/// to now, each name looked up once within `timeout`. blackbox resolves it again, so a
/// name whose answers change between the two (DNS rebinding) is not covered; the
/// docs/security.md says so.
pub async fn check_resolved(
    settings: &HandlerSettings,
    readings: &[Reading],
    timeout: Duration,
) -> Result<(), Refusal> {
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
        settings
            .policy
            .check_resolved(&reading.dials, &addresses)
            .map_err(|denied| Refusal {
                status: StatusCode::FORBIDDEN,
                reason: denied.to_string(),
            })?;
    }
    Ok(())
}

/// musl's `MAXADDRS`: how many addresses of one answer its getaddrinfo returns.
pub const RESOLVER_ADDRESS_CAP: usize = 48;

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
    let mut distinct = addresses;
    distinct.sort();
    distinct.dedup();
    if distinct.is_empty() {
        return Err(cannot_check("no addresses".to_string()));
    }
    // The C library keeps the first RESOLVER_ADDRESS_CAP addresses of an answer; Go keeps
    // them all and may dial one this lookup never saw.
    if distinct.len() >= RESOLVER_ADDRESS_CAP {
        return Err(cannot_check(format!(
            "it has {} or more addresses, as many as the C library keeps, so some may not have been seen",
            RESOLVER_ADDRESS_CAP
        )));
    }
    Ok(distinct)
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
    // Go keeps invalid UTF-8 as bytes; such a target cannot name a host we allow.
    crate::target_reading::percent_decode_bytes(s, true)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target_reading::Host;
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
        for bad in ["%+9", "%-1", "%1", "%", "%g0", "%0g"] {
            assert!(query_unescape(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_query_is_read_as_go_reads_it() {
        let params = query_params("target=a%2Fb+c&bad=%zz&semi=1;2&&module=x&target=second&flag");
        assert_eq!(
            params,
            [
                ("target".to_string(), "a/b c".to_string()),
                ("module".to_string(), "x".to_string()),
                ("target".to_string(), "second".to_string()),
                ("flag".to_string(), String::new()),
            ]
        );
    }
}

//! Function URL translation, "Invoking Lambda function URLs" doc ("Request and response
//! payloads"): HTTP request -> payload format 2.0 event, function answer -> HTTP response.
//! The listener that serves the URL is in `invoke_endpoints.rs`.

use std::collections::BTreeMap;

use axum::http::{request::Parts, HeaderMap, HeaderName, HeaderValue, Version};
use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

/// The parts of the event that do not come from the HTTP request.
#[derive(Debug, Clone)]
pub struct UrlContext {
    /// `requestContext.accountId`: "anonymous" for a function URL with auth type NONE.
    pub account_id: String,
    /// The URL id (`<url-id>` of `https://<url-id>.lambda-url.<region>.on.aws`).
    pub api_id: String,
    pub region: String,
    pub request_id: String,
    pub source_ip: String,
    pub time_epoch_ms: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    version: &'static str,
    route_key: &'static str,
    raw_path: &'a str,
    raw_query_string: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cookies: Option<Vec<String>>,
    headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query_string_parameters: Option<BTreeMap<String, String>>,
    request_context: RequestContext<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    is_base64_encoded: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestContext<'a> {
    account_id: &'a str,
    api_id: &'a str,
    domain_name: String,
    domain_prefix: &'a str,
    http: HttpInfo<'a>,
    request_id: &'a str,
    route_key: &'static str,
    stage: &'static str,
    time: String,
    time_epoch: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpInfo<'a> {
    method: &'a str,
    path: &'a str,
    protocol: &'static str,
    source_ip: &'a str,
    user_agent: String,
}

fn protocol(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// Percent-decoding as `application/x-www-form-urlencoded` (`+` is a space). Invalid
/// escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `queryStringParameters`: decoded; duplicate keys comma-joined.
pub fn query_parameters(raw: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k), percent_decode(v));
        out.entry(k)
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert(v);
    }
    out
}

/// Whether a body with this content type is passed as text (otherwise base64).
pub fn is_text_content_type(ct: Option<&str>) -> bool {
    let Some(ct) = ct else { return true };
    let ct = ct.to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    essence.starts_with("text/")
        || [
            "json",
            "xml",
            "javascript",
            "x-www-form-urlencoded",
            "yaml",
            "csv",
            "graphql",
        ]
        .iter()
        .any(|t| essence.contains(t))
}

/// The headers a function URL adds to the request before it becomes the event: a trace id
/// and where the request came from.
pub fn add_front_headers(headers: &mut HeaderMap, source_ip: &str, port: u16) {
    let trace = crate::util::trace_id();
    let port = port.to_string();
    for (name, value) in [
        ("x-amzn-trace-id", trace.as_str()),
        ("x-forwarded-for", source_ip),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-port", port.as_str()),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

/// Builds the payload format 2.0 event (compact JSON) for an HTTP request.
///
/// Doc rules: headers lowercase, duplicate headers comma-joined; cookies go to `cookies`
/// (not `headers`); `rawQueryString` is the query exactly as received (no leading `?`);
/// `queryStringParameters` only when there is a query; `body` base64-encoded with
/// `isBase64Encoded: true` when the content type is binary.
pub fn function_url_event(parts: &Parts, body: &[u8], ctx: &UrlContext) -> Vec<u8> {
    let raw_path = parts.uri.path();
    let raw_query = parts.uri.query().unwrap_or("");
    let (headers, cookies) = event_headers(&parts.headers);
    let user_agent = headers.get("user-agent").cloned().unwrap_or_default();
    let content_type = headers.get("content-type").map(String::as_str);
    let (body, is_b64) = if body.is_empty() {
        (None, false)
    } else {
        match std::str::from_utf8(body) {
            Ok(s) if is_text_content_type(content_type) => (Some(s.to_string()), false),
            _ => (
                Some(base64::engine::general_purpose::STANDARD.encode(body)),
                true,
            ),
        }
    };
    let ev = Event {
        version: "2.0",
        route_key: "$default",
        raw_path,
        raw_query_string: raw_query,
        cookies,
        headers,
        query_string_parameters: (!raw_query.is_empty()).then(|| query_parameters(raw_query)),
        request_context: RequestContext {
            account_id: &ctx.account_id,
            api_id: &ctx.api_id,
            domain_name: format!("{}.lambda-url.{}.on.aws", ctx.api_id, ctx.region),
            domain_prefix: &ctx.api_id,
            http: HttpInfo {
                method: parts.method.as_str(),
                path: raw_path,
                protocol: protocol(parts.version),
                source_ip: &ctx.source_ip,
                user_agent,
            },
            request_id: &ctx.request_id,
            route_key: "$default",
            stage: "$default",
            time: crate::util::clf_time(ctx.time_epoch_ms),
            time_epoch: ctx.time_epoch_ms,
        },
        body,
        is_base64_encoded: is_b64,
    };
    serde_json::to_vec(&ev).unwrap_or_default()
}

fn event_headers(h: &HeaderMap) -> (BTreeMap<String, String>, Option<Vec<String>>) {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in h {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name.as_str() == "cookie" {
            cookies.extend(
                v.split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
            );
            continue;
        }
        headers
            .entry(name.as_str().to_ascii_lowercase())
            .and_modify(|e| {
                e.push(',');
                e.push_str(&v);
            })
            .or_insert(v);
    }
    (headers, (!cookies.is_empty()).then_some(cookies))
}

/// An HTTP response as a function URL would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a function URL answers when the invoke failed or the answer cannot be mapped:
/// 502 with body "Internal Server Error".
pub fn function_url_error_response() -> UrlResponse {
    UrlResponse {
        status: 502,
        headers: vec![("content-type".into(), "application/json".into())],
        body: b"Internal Server Error".to_vec(),
    }
}

fn json_scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Maps a function answer to HTTP ("Response payload format"): a JSON object with
/// `statusCode` is a structured response; any other valid JSON is returned as a 200
/// `application/json` body unchanged; anything else is a 502.
pub fn function_url_response(answer: &[u8]) -> UrlResponse {
    if answer.is_empty() {
        return UrlResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Vec::new(),
        };
    }
    let Ok(value) = serde_json::from_slice::<Value>(answer) else {
        return function_url_error_response();
    };
    let Some(obj) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
        return UrlResponse {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: answer.to_vec(),
        };
    };
    let status = match obj.get("statusCode") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let Some(status) = status.filter(|s| (100..=599).contains(s)) else {
        return function_url_error_response();
    };
    let mut headers = Vec::new();
    if let Some(Value::Object(h)) = obj.get("headers") {
        for (k, v) in h {
            if let Some(v) = json_scalar_string(v) {
                headers.push((k.to_ascii_lowercase(), v));
            }
        }
    }
    if let Some(Value::Array(c)) = obj.get("cookies") {
        for v in c.iter().filter_map(json_scalar_string) {
            headers.push(("set-cookie".into(), v));
        }
    }
    let b64 = matches!(obj.get("isBase64Encoded"), Some(Value::Bool(true)));
    let body = match obj.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if b64 => {
            match base64::engine::general_purpose::STANDARD.decode(s.as_bytes()) {
                Ok(b) => b,
                Err(_) => return function_url_error_response(),
            }
        }
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        Some(other) => other.to_string().into_bytes(),
    };
    UrlResponse {
        status: status as u16,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn ctx() -> UrlContext {
        UrlContext {
            account_id: "anonymous".into(),
            api_id: "abc123".into(),
            region: "us-east-1".into(),
            request_id: "rid".into(),
            source_ip: "127.0.0.1".into(),
            time_epoch_ms: 1_584_039_838_390,
        }
    }

    fn event(req: Request<()>, body: &[u8]) -> Value {
        let (parts, ()) = req.into_parts();
        let bytes = function_url_event(&parts, body, &ctx());
        let text = String::from_utf8(bytes).expect("utf8");
        assert!(!text.contains('\n'), "compact JSON");
        serde_json::from_str(&text).expect("json")
    }

    #[test]
    fn raw_query_is_byte_exact_and_params_decoded() {
        let req = Request::builder()
            .method("GET")
            .uri("/probe/x%2Fy?target=http%3A%2F%2Fa.b%2Fc%3Fd%3D1&module=http_2xx&module=b+c&flag")
            .header("User-Agent", "curl/8")
            .header("X-Dup", "1")
            .header("x-dup", "2")
            .header("Cookie", "a=1; b=2")
            .body(())
            .expect("req");
        let ev = event(req, b"");
        assert_eq!(ev["version"], "2.0");
        assert_eq!(ev["routeKey"], "$default");
        assert_eq!(ev["rawPath"], "/probe/x%2Fy");
        assert_eq!(
            ev["rawQueryString"],
            "target=http%3A%2F%2Fa.b%2Fc%3Fd%3D1&module=http_2xx&module=b+c&flag"
        );
        let q = &ev["queryStringParameters"];
        assert_eq!(q["target"], "http://a.b/c?d=1");
        assert_eq!(q["module"], "http_2xx,b c");
        assert_eq!(q["flag"], "");
        assert_eq!(ev["headers"]["x-dup"], "1,2");
        assert_eq!(ev["headers"]["user-agent"], "curl/8");
        assert!(ev["headers"].get("cookie").is_none());
        assert_eq!(ev["cookies"], serde_json::json!(["a=1", "b=2"]));
        let rc = &ev["requestContext"];
        assert_eq!(rc["accountId"], "anonymous");
        assert_eq!(rc["apiId"], "abc123");
        assert_eq!(rc["domainName"], "abc123.lambda-url.us-east-1.on.aws");
        assert_eq!(rc["domainPrefix"], "abc123");
        assert_eq!(rc["http"]["method"], "GET");
        assert_eq!(rc["http"]["path"], "/probe/x%2Fy");
        assert_eq!(rc["http"]["protocol"], "HTTP/1.1");
        assert_eq!(rc["http"]["sourceIp"], "127.0.0.1");
        assert_eq!(rc["http"]["userAgent"], "curl/8");
        assert_eq!(rc["requestId"], "rid");
        assert_eq!(rc["stage"], "$default");
        assert_eq!(rc["time"], "12/Mar/2020:19:03:58 +0000");
        assert_eq!(rc["timeEpoch"], 1_584_039_838_390u64);
        assert!(ev.get("body").is_none());
        assert_eq!(ev["isBase64Encoded"], false);
    }

    #[test]
    fn no_query_no_parameters() {
        let req = Request::builder().uri("/").body(()).expect("req");
        let ev = event(req, b"");
        assert_eq!(ev["rawQueryString"], "");
        assert!(ev.get("queryStringParameters").is_none());
        assert!(ev.get("cookies").is_none());
    }

    #[test]
    fn bodies_text_or_base64() {
        let req = Request::builder()
            .method("POST")
            .uri("/")
            .header("content-type", "application/json; charset=utf-8")
            .body(())
            .expect("req");
        let ev = event(req, br#"{"a":1}"#);
        assert_eq!(ev["body"], r#"{"a":1}"#);
        assert_eq!(ev["isBase64Encoded"], false);

        let req = Request::builder()
            .method("POST")
            .uri("/")
            .header("content-type", "application/octet-stream")
            .body(())
            .expect("req");
        let ev = event(req, &[0, 1, 2, 255]);
        assert_eq!(ev["body"], "AAEC/w==");
        assert_eq!(ev["isBase64Encoded"], true);

        let req = Request::builder()
            .method("POST")
            .uri("/")
            .body(())
            .expect("req");
        let ev = event(req, &[0xff, 0xfe]);
        assert_eq!(ev["isBase64Encoded"], true);
    }

    #[test]
    fn structured_response() {
        let r = function_url_response(
            br#"{"statusCode":201,"headers":{"Content-Type":"text/plain","X-N":5},"body":"hi","cookies":["a=1","b=2; Max-Age=3"]}"#,
        );
        assert_eq!(r.status, 201);
        assert_eq!(r.body, b"hi");
        assert!(r
            .headers
            .contains(&("content-type".into(), "text/plain".into())));
        assert!(r.headers.contains(&("x-n".into(), "5".into())));
        assert!(r.headers.contains(&("set-cookie".into(), "a=1".into())));
        assert!(r
            .headers
            .contains(&("set-cookie".into(), "b=2; Max-Age=3".into())));

        let r =
            function_url_response(br#"{"statusCode":200,"body":"AAEC","isBase64Encoded":true}"#);
        assert_eq!(r.body, vec![0, 1, 2]);
        let r = function_url_response(br#"{"statusCode":200,"body":"%%","isBase64Encoded":true}"#);
        assert_eq!(r.status, 502);
        let r = function_url_response(br#"{"statusCode":"x"}"#);
        assert_eq!(r.status, 502);
    }

    #[test]
    fn unstructured_response() {
        let r = function_url_response(br#""Hello, world!""#);
        assert_eq!(r.status, 200);
        assert_eq!(r.body, br#""Hello, world!""#);
        assert_eq!(
            r.headers,
            vec![("content-type".to_string(), "application/json".to_string())]
        );
        let r = function_url_response(br#"{"message":"x"}"#);
        assert_eq!(
            (r.status, r.body.as_slice()),
            (200, &br#"{"message":"x"}"#[..])
        );
        let r = function_url_response(b"not json");
        assert_eq!(r.status, 502);
        assert_eq!(r.body, b"Internal Server Error");
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%20b+c%zz%4"), "a b c%zz%4");
        assert_eq!(percent_decode("%"), "%");
    }
}

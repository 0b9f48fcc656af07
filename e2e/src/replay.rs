//! The event files of `events/` (for `sam local invoke -e`), replayed through the
//! sandbox's RIE-compatible invoke endpoint. The files probe `http://example.com/`, so
//! that they work as they are with `sam local invoke`; a test points them at a target
//! it runs on loopback by replacing the host.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::Invocation;
use crate::{metric, Answer};

/// The token the event files carry (`Authorization: Bearer example-token-change-me`).
pub const EVENT_TOKEN: &str = "example-token-change-me";

/// Each event file and the answer shape its source expects.
pub const EVENTS: [(&str, Shape); 4] = [
    ("function-url.json", Shape::V2),
    ("apigw-v2.json", Shape::V2),
    ("apigw-v1.json", Shape::V1),
    ("alb.json", Shape::Alb),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Function URL and API Gateway v2 (payload 2.0): `headers`.
    V2,
    /// API Gateway v1 (REST proxy): `multiValueHeaders`.
    V1,
    /// ALB: `statusDescription`, `headers` and `multiValueHeaders`.
    Alb,
}

pub fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// The event file with its target host replaced by `target` (`127.0.0.1:PORT`).
pub fn event(name: &str, target: &str) -> Value {
    let text = std::fs::read_to_string(events_dir().join(name))
        .unwrap_or_else(|e| panic!("events/{name}: {e}"));
    assert!(
        text.contains("example.com"),
        "events/{name} no longer probes example.com"
    );
    serde_json::from_str(&text.replace("example.com", target))
        .unwrap_or_else(|e| panic!("events/{name} is not JSON: {e}"))
}

/// Removes the Authorization header, whatever its case, from both header maps.
pub fn without_authorization(mut event: Value) -> Value {
    for key in ["headers", "multiValueHeaders"] {
        if let Some(map) = event.get_mut(key).and_then(Value::as_object_mut) {
            map.retain(|name, _| !name.eq_ignore_ascii_case("authorization"));
        }
    }
    event
}

/// `event` through the invoke endpoint on `invoke_addr`, and the answer its source makes
/// of the function's result; panics when the invoke or the function failed.
pub async fn invoke(invoke_addr: SocketAddr, event: &Value) -> Answer {
    let started = Instant::now();
    let invocation = Invocation::send(invoke_addr, event.to_string().into_bytes())
        .await
        .expect("the invoke endpoint answers");
    assert_eq!(
        invocation.status, 200,
        "the invoke itself failed: {}",
        invocation.body
    );
    assert!(
        !invocation.body.contains("\"errorType\""),
        "the function failed: {}",
        invocation.body
    );
    let raw: Value = serde_json::from_str(&invocation.body).expect("a JSON answer");
    let mut answer = source_answer(raw);
    answer.elapsed = started.elapsed();
    answer
}

/// The HTTP answer an event's source (a Function URL, API Gateway, an ALB) makes of the
/// function's result `raw`: its `headers`, then each of its `multiValueHeaders`.
pub fn source_answer(raw: Value) -> Answer {
    let status = raw["statusCode"]
        .as_u64()
        .unwrap_or_else(|| panic!("no statusCode: {raw}")) as u16;
    let mut headers = Vec::new();
    if let Some(map) = raw["headers"].as_object() {
        for (name, value) in map {
            headers.push((name.clone(), value.as_str().unwrap_or_default().to_string()));
        }
    }
    if let Some(map) = raw["multiValueHeaders"].as_object() {
        for (name, values) in map {
            for value in values.as_array().into_iter().flatten() {
                headers.push((name.clone(), value.as_str().unwrap_or_default().to_string()));
            }
        }
    }
    let body = raw["body"].as_str().unwrap_or_default().to_string();
    assert_ne!(raw["isBase64Encoded"], true, "a text answer: {raw}");
    Answer {
        status,
        headers,
        body,
        elapsed: Duration::ZERO,
        raw: Some(raw),
    }
}

/// The shape-specific fields each source needs to read the answer.
pub fn assert_shape(answer: &Answer, shape: Shape, name: &str) {
    let raw = answer.raw.as_ref().expect("an answer read from a result");
    match shape {
        Shape::V2 => assert!(
            raw["headers"]
                .as_object()
                .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("content-type"))),
            "{name}: payload 2.0 answers carry headers: {raw}"
        ),
        Shape::V1 => assert!(
            raw["multiValueHeaders"]
                .as_object()
                .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("content-type"))),
            "{name}: API Gateway v1 answers carry multiValueHeaders: {raw}"
        ),
        Shape::Alb => {
            let description = raw["statusDescription"].as_str().unwrap_or_default();
            assert!(
                description.starts_with(&answer.status.to_string()),
                "{name}: an ALB needs statusDescription: {raw}"
            );
        }
    }
}

/// Every event file, pointed at `target`: 200, text/plain, `probe_success` as given,
/// in its source's shape; then without its token: 401 with the reason.
pub async fn replay_all(invoke_addr: SocketAddr, target: &str, success: f64) {
    for (name, shape) in EVENTS {
        let answer = invoke(invoke_addr, &event(name, target)).await;
        assert_eq!(answer.status, 200, "{name}: {answer:?}");
        assert!(
            answer.content_type().starts_with("text/plain"),
            "{name}: {answer:?}"
        );
        assert_eq!(
            metric(&answer.body, "probe_success"),
            Some(success),
            "{name}: {}",
            answer.body
        );
        assert_shape(&answer, shape, name);

        let refused = invoke(invoke_addr, &without_authorization(event(name, target))).await;
        assert_eq!(refused.status, 401, "{name}: {refused:?}");
        assert_eq!(
            refused.body, "an Authorization: Bearer token is required\n",
            "{name}"
        );
        assert!(refused.content_type().starts_with("text/plain"), "{name}");
        assert_shape(&refused, shape, name);
    }
}

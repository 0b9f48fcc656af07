//! The Rust handler against the conformance tables in `handler/conformance/`, which the
//! Python and Node.js handlers' suites read too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_blackbox_contract::Environment;
use lambda_blackbox_handler::settings::HandlerSettings;
use lambda_blackbox_handler::{upstream_timeout, Proxy};
use lambda_http::lambda_runtime::Context;
use lambda_http::request::LambdaRequest;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn table(name: &str) -> Value {
    let path = repo().join("handler/conformance").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Cases meant for this handler (no `only`, or `only` naming it).
fn for_rust(cases: &Value) -> Vec<&Value> {
    let cases = cases.as_array().expect("a list of cases");
    let mine: Vec<&Value> = cases
        .iter()
        .filter(|c| {
            c.get("only")
                .and_then(Value::as_array)
                .is_none_or(|only| only.iter().any(|h| h == "rust"))
        })
        .collect();
    assert!(!mine.is_empty(), "no case for the Rust handler");
    mine
}

/// `${c*N}` is the character c N times.
fn expand(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("a closed ${…}") + start;
        let (c, n) = rest[start + 2..end].split_once('*').expect("${c*N}");
        out.push_str(&c.repeat(n.parse().expect("a count")));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn string_map(value: Option<&Value>) -> HashMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), expand(v.as_str().expect("a string value"))))
                .collect()
        })
        .unwrap_or_default()
}

fn settings(env: &HashMap<String, String>) -> Result<HandlerSettings, String> {
    let env = Environment::new(
        |name| env.get(name).cloned(),
        |path| std::fs::read_to_string(path),
    );
    HandlerSettings::from_environment(&env, &repo().join("layer")).map_err(|e| e.to_string())
}

/// The README's recipe: events/function-url.json with the case's request in it.
fn event(request: &Value) -> Value {
    let text = std::fs::read_to_string(repo().join("events/function-url.json")).unwrap();
    let mut event: Value = serde_json::from_str(&text).unwrap();
    let path = request["path"].as_str().unwrap();
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("GET");
    event["rawPath"] = json!(path);
    event["requestContext"]["http"]["path"] = json!(path);
    event["requestContext"]["http"]["method"] = json!(method);
    event["rawQueryString"] = json!(expand(request["query"].as_str().unwrap()));
    event
        .as_object_mut()
        .unwrap()
        .remove("queryStringParameters");
    let mut headers = string_map(request.get("headers"));
    headers.insert(
        "host".into(),
        event["headers"]["host"].as_str().unwrap().into(),
    );
    event["headers"] = json!(headers);
    if request.get("iam") == Some(&json!(true)) {
        event["requestContext"]["authorizer"] = json!({"iam": {
            "accessKey": "AKIA", "accountId": "123456789012", "callerId": "AIDA",
            "principalOrgId": null, "userArn": "arn:aws:iam::123456789012:user/prom", "userId": "AIDA"}});
    }
    event
}

fn request(case_request: &Value, remaining: Option<f64>) -> Request {
    let lambda: LambdaRequest = serde_json::from_value(event(case_request)).expect("an event");
    let request: Request = lambda.into();
    match remaining {
        Some(seconds) => {
            let deadline = SystemTime::now() + Duration::from_secs_f64(seconds);
            let mut context = Context::default();
            context.deadline = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
            request.with_lambda_context(context)
        }
        None => request,
    }
}

async fn body_text(response: Response<Body>) -> String {
    match response.into_body() {
        Body::Text(text) => text,
        Body::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Body::Empty => String::new(),
        other => panic!("an unexpected body {other:?}"),
    }
}

#[tokio::test]
async fn the_gate_refuses_as_the_table_says() {
    let gate = table("gate.json");
    for case in for_rust(&gate["cases"]) {
        let env = string_map(Some(&gate["settings"][case["settings"].as_str().unwrap()]));
        let proxy = Proxy::new(settings(&env).unwrap());
        let response = proxy.handle(request(&case["request"], Some(30.0))).await;
        let what = format!("{}", case["request"])
            .chars()
            .take(160)
            .collect::<String>();
        assert_eq!(response.status().as_u16(), case["status"], "{what}");
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8",
            "{what}"
        );
        for (name, value) in string_map(case.get("headers")) {
            assert_eq!(response.headers()[name.as_str()], value.as_str(), "{what}");
        }
        let reason = case["reason"].as_str().unwrap();
        assert_eq!(body_text(response).await, format!("{reason}\n"), "{what}");
    }
}

#[test]
fn settings_are_refused_and_taken_as_the_table_says() {
    let table = table("settings.json");
    for case in for_rust(&table["invalid"]) {
        let env = string_map(Some(&case["env"]));
        let message = settings(&env).expect_err(&case["env"].to_string());
        match (case.get("message"), case.get("prefix")) {
            (Some(exact), None) => assert_eq!(message, exact.as_str().unwrap()),
            (None, Some(prefix)) => assert!(
                message.starts_with(prefix.as_str().unwrap()),
                "{message:?} does not start with {prefix}"
            ),
            _ => panic!("a case needs `message` or `prefix`: {case}"),
        }
    }
    for case in for_rust(&table["valid"]) {
        let env = string_map(Some(&case["env"]));
        let taken = settings(&env).unwrap_or_else(|e| panic!("{}: {e}", case["env"]));
        assert_eq!(
            taken.probe.listen_address.as_str(),
            case["listen_address"],
            "{}",
            case["env"]
        );
    }
}

#[test]
fn the_timeout_is_the_tables() {
    let now = SystemTime::now();
    for case in for_rust(&table("timeouts.json")["cases"]) {
        let deadline = case["remaining"].as_f64().map(|s| {
            let distance = Duration::from_secs_f64(s.abs());
            if s < 0.0 {
                now - distance
            } else {
                now + distance
            }
        });
        let got = upstream_timeout(case["header"].as_str(), deadline, now);
        let want = case["seconds"].as_f64().unwrap();
        assert!((got.as_secs_f64() - want).abs() < 0.001, "{case}: {got:?}");
    }
}

/// What the recorder stand-in saw: the request line's method and target, the headers.
#[derive(Default, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: HashMap<String, String>,
}

/// A blackbox stand-in on loopback, as `responses.json` describes them.
async fn stand_in(kind: &str) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    if kind == "absent" {
        return (address, seen);
    }
    let record = seen.clone();
    let kind = kind.to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buffer = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buffer[..n]),
                }
            }
            let text = String::from_utf8_lossy(&head).into_owned();
            let mut lines = text.split("\r\n");
            let mut request_line = lines.next().unwrap_or_default().split(' ');
            let mut entry = Seen {
                method: request_line.next().unwrap_or_default().to_string(),
                target: request_line.next().unwrap_or_default().to_string(),
                ..Seen::default()
            };
            for line in lines.take_while(|l| !l.is_empty()) {
                if let Some((name, value)) = line.split_once(':') {
                    entry
                        .headers
                        .insert(name.to_ascii_lowercase(), value.trim().to_string());
                }
            }
            record.lock().unwrap().push(entry);
            match kind.as_str() {
                "recorder" => {
                    let answer = "HTTP/1.1 418 I'm a teapot\r\ncontent-type: text/x-recorded\r\ncontent-length: 8\r\nconnection: close\r\n\r\nrecorded";
                    let _ = stream.write_all(answer.as_bytes()).await;
                }
                "broken" => {
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\n\r\nprobe_";
                    let _ = stream.write_all(answer.as_bytes()).await;
                }
                "silent" => held.push(stream),
                other => panic!("no stand-in {other:?}"),
            }
        }
    });
    (address, seen)
}

#[tokio::test]
async fn answers_against_a_stand_in_are_the_tables() {
    for case in for_rust(&table("responses.json")["cases"]) {
        let (address, seen) = stand_in(case["upstream"].as_str().unwrap()).await;
        let mut env = string_map(case.get("env"));
        env.insert("BLACKBOX_LISTEN_ADDRESS".to_string(), address);
        let proxy = Proxy::new(settings(&env).unwrap());
        let response = proxy
            .handle(request(&case["request"], case["remaining"].as_f64()))
            .await;
        let what = case["request"].to_string();
        assert_eq!(response.status().as_u16(), case["status"], "{what}");
        if let Some(content_type) = case.get("content_type") {
            assert_eq!(
                response.headers()["content-type"],
                content_type.as_str().unwrap(),
                "{what}"
            );
        }
        let body = body_text(response).await;
        match (case.get("body"), case.get("body_prefix")) {
            (Some(exact), _) => assert_eq!(body, exact.as_str().unwrap(), "{what}"),
            (None, Some(prefix)) => {
                assert!(body.starts_with(prefix.as_str().unwrap()), "{what}: {body}")
            }
            (None, None) => panic!("a case needs `body` or `body_prefix`: {case}"),
        }
        if let Some(forwarded) = case.get("forwarded") {
            let seen = seen.lock().unwrap().clone();
            assert_eq!(seen.len(), 1, "{what}: one request reaches blackbox");
            let method = forwarded
                .get("method")
                .and_then(Value::as_str)
                .unwrap_or("GET");
            assert_eq!(
                (seen[0].method.as_str(), seen[0].target.as_str()),
                (method, forwarded["path"].as_str().unwrap())
            );
            for (name, value) in string_map(forwarded.get("headers")) {
                assert_eq!(seen[0].headers.get(&name), Some(&value), "{what}: {name}");
            }
            let timeout = &seen[0].headers["x-prometheus-scrape-timeout-seconds"];
            let (whole, millis) = timeout.split_once('.').expect("seconds with decimals");
            assert!(
                whole.bytes().all(|b| b.is_ascii_digit()) && millis.len() == 3,
                "{what}: {timeout}"
            );
            let want = forwarded["timeout"].as_f64().unwrap();
            assert!(
                (timeout.parse::<f64>().unwrap() - want).abs() < 0.01,
                "{what}: {timeout}"
            );
            for name in forwarded["dropped"].as_array().unwrap() {
                let name = name.as_str().unwrap();
                assert!(
                    !seen[0].headers.contains_key(name),
                    "{what}: {name} reached blackbox"
                );
            }
        }
    }
}

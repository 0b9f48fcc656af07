//! Talking to the function: an event to the invoke endpoint, or an HTTP request as a
//! Function URL client sends it (under RIE, turned into the Function URL's event and back).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::http::{self, Method};
use lambda_sandbox::{
    add_front_headers, function_url_error_response, function_url_event, function_url_response,
    UrlContext,
};
use serde_json::Value;

use super::{Front, Function};
use crate::Answer;

/// What the invoke endpoint (RIE's, or the sandbox's copy of it) returned for one event,
/// as `sam local invoke` and the Lambda Invoke API return it: the function's result, or
/// the platform's error. Not an HTTP answer: an event's source makes one of the result
/// ([`crate::replay::invoke`], [`Function::request`]).
#[derive(Debug)]
pub struct Invocation {
    /// The invoke endpoint's own status: 200 for a function error too.
    pub status: u16,
    /// The function's result or the error document.
    pub body: String,
}

impl Invocation {
    /// Posts `payload` to the invoke endpoint on `invoke_addr`.
    pub async fn send(invoke_addr: SocketAddr, payload: Vec<u8>) -> reqwest::Result<Invocation> {
        let response = reqwest::Client::new()
            .post(format!(
                "http://{invoke_addr}/2015-03-31/functions/function/invocations"
            ))
            .body(payload)
            .timeout(Duration::from_secs(60))
            .send()
            .await?;
        let status = response.status().as_u16();
        // RIE never sends it: the sandbox's copy of its endpoint must not either.
        assert!(
            response.headers().get("x-amz-function-error").is_none(),
            "{:?}",
            response.headers()
        );
        let body = response.text().await?;
        Ok(Invocation { status, body })
    }

    /// The function's result, or `Err` with the error document when it failed. RIE marks
    /// a function error only by its document (`errorType`, and no `statusCode` here: our
    /// handler answers HTTP events with one).
    pub fn result(&self) -> Result<&str, &str> {
        let document = serde_json::from_str::<Value>(&self.body).ok();
        let is_error_document = document
            .as_ref()
            .is_some_and(|d| d.get("errorType").is_some() && d.get("statusCode").is_none());
        if self.status == 200 && !is_error_document {
            Ok(&self.body)
        } else {
            Err(&self.body)
        }
    }
}
impl Function {
    /// Posts `payload` to the invoke endpoint, as `sam local invoke` and the Lambda Invoke
    /// API would.
    pub async fn invoke(&self, payload: Vec<u8>) -> Invocation {
        Invocation::send(self.invoke_addr(), payload)
            .await
            .unwrap_or_else(|e| panic!("the invoke endpoint answers: {e}\n{}", self.logs()))
    }

    pub async fn get(&self, path_and_query: &str, headers: &[(&str, &str)]) -> Answer {
        self.request(Method::GET, path_and_query, headers).await
    }

    pub async fn probe(&self, target: &str, module: &str) -> Answer {
        self.get(&format!("/probe?target={target}&module={module}"), &[])
            .await
    }

    /// An HTTP request as a Function URL client sends it, and the answer it gets.
    pub async fn request(
        &self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Answer {
        let front = match &self.front {
            Front::Sandbox(sandbox) => {
                let function_url = sandbox.function_url().expect("a Function URL");
                return function_url_request(function_url, method, path_and_query, headers).await;
            }
            Front::Rie(rie) => rie,
        };
        let started = Instant::now();
        let event =
            function_url_request_event(method, path_and_query, headers, front.invoke_addr.port());
        let invocation = self.invoke(event).await;
        let (response, raw) = match invocation.result() {
            Ok(result) => (
                function_url_response(result.as_bytes()),
                serde_json::from_str(result).ok(),
            ),
            // A Function URL answers a function error with a 502.
            Err(_) => (function_url_error_response(), None),
        };
        Answer {
            status: response.status,
            headers: response.headers,
            body: String::from_utf8_lossy(&response.body).into_owned(),
            elapsed: started.elapsed(),
            raw,
        }
    }
}

/// An HTTP request to a Function URL on `function_url`, and the answer a client gets.
async fn function_url_request(
    function_url: SocketAddr,
    method: Method,
    path_and_query: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let url = format!("http://{function_url}{path_and_query}");
    let mut request = reqwest::Client::new()
        .request(method, url)
        .timeout(Duration::from_secs(30));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let started = Instant::now();
    let response = request.send().await.expect("the Function URL answers");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response.text().await.unwrap_or_default();
    Answer {
        status,
        headers,
        body,
        elapsed: started.elapsed(),
        raw: None,
    }
}

/// The Function URL event for a request to `path_and_query`, with the headers a Function
/// URL adds; its host is the invoke endpoint's (port `port`).
fn function_url_request_event(
    method: Method,
    path_and_query: &str,
    headers: &[(&str, &str)],
    port: u16,
) -> Vec<u8> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(path_and_query)
        .header("host", format!("127.0.0.1:{port}"))
        .header("user-agent", "lambda-blackbox-e2e")
        .header("accept", "*/*");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (mut parts, ()) = request
        .body(())
        .expect("a request the test can build")
        .into_parts();
    add_front_headers(&mut parts.headers, "127.0.0.1", port);
    let context = UrlContext {
        account_id: "anonymous".to_string(),
        api_id: "rie".to_string(),
        region: "local-1".to_string(),
        request_id: lambda_sandbox::util::hex_id(32),
        source_ip: "127.0.0.1".to_string(),
        time_epoch_ms: lambda_sandbox::util::epoch_ms(),
    };
    function_url_event(&parts, &[], &context)
}

//! The HTTP endpoints that invoke the function from outside the execution environment: a
//! Function URL ("Invoking Lambda function URLs": an HTTP request becomes a payload format
//! 2.0 event, translated by [`crate::function_url`]) and the invoke endpoint RIE and
//! `sam local` serve (`POST /2015-03-31/functions/function/invocations`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tokio::sync::oneshot;

use crate::environment::{with_headers, Environment, Fatal, BODY_LIMIT};
use crate::function_url::{
    add_front_headers, function_url_error_response, function_url_event, function_url_response,
    UrlContext,
};
use crate::util::epoch_ms;

/// Every path and method of the Function URL on `port`.
pub(crate) fn function_url_router(environment: Arc<Environment>, port: u16) -> Router {
    Router::new()
        .fallback(function_url)
        .with_state((environment, port))
}

pub(crate) fn invoke_endpoint_router(environment: Arc<Environment>) -> Router {
    Router::new()
        .route("/2015-03-31/functions/function/invocations", post(invoke))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(environment)
}

async fn function_url(
    State((environment, port)): State<(Arc<Environment>, u16)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large").into_response();
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let ip = peer.ip().to_string();
    add_front_headers(&mut parts.headers, &ip, port);
    let context = UrlContext {
        account_id: "anonymous".to_string(),
        api_id: environment.api_id().to_string(),
        region: environment.config().region.clone(),
        request_id: request_id.clone(),
        source_ip: ip,
        time_epoch_ms: epoch_ms(),
    };
    let event = function_url_event(&parts, &body, &context);
    // The invoke goes on after the answer (extensions finish, the environment freezes),
    // but the caller gets the answer as soon as the runtime posts it, as from Lambda.
    let (answered_tx, answered_rx) = oneshot::channel();
    let invoke = {
        let environment = environment.clone();
        let request_id = request_id.clone();
        tokio::spawn(async move {
            environment
                .invoke_answering(event, request_id, Some(answered_tx))
                .await
        })
    };
    let result = match answered_rx.await {
        Ok(result) => result,
        // No answer from the runtime: the invoke's own outcome says why.
        Err(_) => match invoke.await {
            Ok(outcome) => outcome.result,
            Err(_) => {
                Err(Fatal::new("Sandbox.Failure", "the invoke task failed".into()).function_error())
            }
        },
    };
    let translated = match &result {
        Ok(answer) => function_url_response(answer),
        Err(_) => function_url_error_response(),
    };
    let mut response = Response::new(axum::body::Body::from(translated.body));
    *response.status_mut() =
        StatusCode::from_u16(translated.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers: Vec<(&str, &str)> = translated
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers.push(("x-amzn-requestid", &request_id));
    with_headers(response, &headers)
}

/// RIE's invoke endpoint: 200 with the function's answer, or with the error document when
/// the function failed. RIE sets no `X-Amz-Function-Error` (the Lambda Invoke API does):
/// `sam local invoke` and RIE's callers read the document.
async fn invoke(State(environment): State<Arc<Environment>>, body: Bytes) -> Response {
    let outcome = environment.invoke(body.to_vec()).await;
    let id = outcome.request_id.clone();
    let body = match outcome.result {
        Ok(answer) => answer,
        // RIE answers a timed-out invoke with its bare message, not an error document.
        Err(error) if error.error_type == "Sandbox.Timedout" => timed_out_message(&error.body),
        Err(error) => error.body.into_bytes(),
    };
    with_headers(
        (StatusCode::OK, body).into_response(),
        &[
            ("Content-Type", "application/json"),
            ("X-Amzn-RequestId", &id),
            ("X-Amz-Executed-Version", "$LATEST"),
        ],
    )
}

/// "Task timed out after 3.00 seconds", from the error document's
/// "RequestId: … Error: Task timed out after 3.00 seconds".
fn timed_out_message(document: &str) -> Vec<u8> {
    let message = serde_json::from_str::<serde_json::Value>(document)
        .ok()
        .and_then(|d| d["errorMessage"].as_str().map(str::to_string))
        .unwrap_or_default();
    let bare = message
        .rsplit_once("Error: ")
        .map_or(message.as_str(), |(_, m)| m);
    bare.as_bytes().to_vec()
}

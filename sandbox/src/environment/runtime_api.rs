//! The Runtime API (Developer Guide, "Runtime API"): Next invocation, Invocation response,
//! Invocation error and Initialization error.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::oneshot;

use super::responses::{
    accepted, api_error, forbidden, header, internal_error, json_response, with_headers,
};
use super::{Environment, Fatal, InvocationEvent, Phase};
use crate::outcomes::FunctionError;

pub(super) fn routes() -> Router<Arc<Environment>> {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(invocation_response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(invocation_error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
}

fn invalid_state(message: &str) -> Response {
    forbidden("InvalidStateTransition", message)
}

/// Runtime API doc, "Next Invocation".
async fn next(State(environment): State<Arc<Environment>>) -> Response {
    let event = {
        let mut state = environment.lock();
        if state.runtime.errored {
            return invalid_state("State transition from InitError to Ready failed for runtime");
        }
        if state
            .current
            .as_ref()
            .is_some_and(|c| c.delivered && c.answer.is_none())
        {
            return invalid_state(
                "State transition from Running to Ready failed for runtime. Error: the invocation has no response yet",
            );
        }
        if let Some(event) = state.runtime.pending.take() {
            state.runtime.ready = false;
            if let Some(current) = state.current.as_mut() {
                current.delivered = true;
            }
            drop(state);
            return event_response(&environment, event);
        }
        let (waiter, event) = oneshot::channel();
        state.runtime.waiter = Some(waiter);
        state.runtime.ready = true;
        event
    };
    environment.bump();
    match event.await {
        Ok(event) => event_response(&environment, event),
        Err(_) => internal_error(),
    }
}

fn event_response(environment: &Environment, event: InvocationEvent) -> Response {
    // Runtime API doc, Next Invocation, response headers. Client-Context and
    // Cognito-Identity are only sent when set (never, for this sandbox).
    let deadline = event.deadline_ms.to_string();
    let arn = environment.config().function_arn();
    with_headers(
        json_response(StatusCode::OK, String::new()),
        &[
            ("Lambda-Runtime-Aws-Request-Id", &event.request_id),
            ("Lambda-Runtime-Deadline-Ms", &deadline),
            ("Lambda-Runtime-Invoked-Function-Arn", &arn),
            ("Lambda-Runtime-Trace-Id", &event.trace_id),
        ],
    )
    .map(|_| axum::body::Body::from(event.body))
}

fn invalid_request_id() -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        "Invalid request ID",
    )
}

/// Runtime API doc, "Invocation Response" / "Invocation Error": accepted once, for the
/// invocation the runtime was given.
fn answer(
    environment: &Environment,
    request_id: &str,
    answer: Result<Vec<u8>, FunctionError>,
) -> Response {
    {
        let mut state = environment.lock();
        match state.current.as_mut() {
            Some(c) if c.request_id == request_id && c.delivered && c.answer.is_none() => {
                if let Some(answered) = c.answered.take() {
                    let _ = answered.send(answer.clone());
                }
                c.answer = Some(answer);
            }
            _ => return invalid_request_id(),
        }
    }
    environment.bump();
    accepted(None)
}

async fn invocation_response(
    State(environment): State<Arc<Environment>>,
    UrlPath(request_id): UrlPath<String>,
    body: Bytes,
) -> Response {
    answer(&environment, &request_id, Ok(body.to_vec()))
}

async fn invocation_error(
    State(environment): State<Arc<Environment>>,
    UrlPath(request_id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reported = Fatal::reported(
        header(&headers, "Lambda-Runtime-Function-Error-Type"),
        &body,
        "Unhandled",
    );
    answer(
        &environment,
        &request_id,
        Err(FunctionError {
            error_type: reported.error_type,
            body: reported.body,
        }),
    )
}

/// Runtime API doc, "Initialization Error".
async fn init_error(
    State(environment): State<Arc<Environment>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    {
        let mut state = environment.lock();
        if state.phase != Phase::Init || state.runtime.errored || state.runtime.ready {
            return invalid_state(
                "State transition to InitError failed for runtime: not initializing",
            );
        }
        state.runtime.errored = true;
        if state.fatal.is_none() {
            state.fatal = Some(Fatal::reported(
                header(&headers, "Lambda-Runtime-Function-Error-Type"),
                &body,
                "Runtime.Unknown",
            ));
        }
    }
    environment.bump();
    accepted(None)
}

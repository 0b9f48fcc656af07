//! The Extensions API (Developer Guide, "Extensions API"): Register, Next, Init error and
//! Exit error, with the error types RIE answers with.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use super::responses::{
    accepted, forbidden, header, internal_error, json_response, with_headers, Forbidden,
};
use super::{Environment, Fatal, Phase, RegisteredExtension};

/// Extensions API doc, Init phase: "You can register up to 10 extensions for a function."
const MAX_EXTENSIONS: usize = 10;

pub(super) fn routes() -> Router<Arc<Environment>> {
    Router::new()
        .route("/2020-01-01/extension/register", post(register))
        .route("/2020-01-01/extension/event/next", get(next))
        .route("/2020-01-01/extension/init/error", post(init_error))
        .route("/2020-01-01/extension/exit/error", post(exit_error))
}

/// The caller's `Lambda-Extension-Identifier`, or the 403 RIE answers: a missing identifier
/// is Extension.MissingExtensionIdentifier, a malformed one Extension.InvalidExtensionIdentifier.
fn extension_id(headers: &HeaderMap) -> Result<String, Forbidden> {
    let Some(id) = header(headers, "Lambda-Extension-Identifier") else {
        return Err(Forbidden::new(
            "Extension.MissingExtensionIdentifier",
            "Missing Lambda-Extension-Identifier header",
        ));
    };
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(Forbidden::new(
            "Extension.InvalidExtensionIdentifier",
            "Invalid Lambda-Extension-Identifier",
        ));
    }
    Ok(id.to_string())
}

fn unknown_extension(id: &str) -> Response {
    forbidden(
        "Extension.UnknownExtensionIdentifier",
        &format!("Unknown extension {id}"),
    )
}

fn invalid_extension_state(from: &str, to: &str, id: &str) -> Response {
    forbidden(
        "Extension.InvalidExtensionState",
        &format!("State transition from {from} to {to} failed for extension {id}"),
    )
}

/// The `events` of a Register body; "Valid strings: INVOKE, SHUTDOWN."
fn registered_events(body: &[u8]) -> Result<Vec<String>, Forbidden> {
    let mut events: Vec<String> = Vec::new();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let document: Value = serde_json::from_slice(body)
            .map_err(|e| Forbidden::new("InvalidRequestFormat", e.to_string()))?;
        match document.get("events") {
            None | Some(Value::Null) => {}
            Some(Value::Array(listed)) => {
                for event in listed {
                    let Some(event) = event.as_str() else {
                        return Err(Forbidden::new(
                            "InvalidRequestFormat",
                            "events must be strings",
                        ));
                    };
                    events.push(event.to_string());
                }
            }
            Some(_) => {
                return Err(Forbidden::new(
                    "InvalidRequestFormat",
                    "events must be an array",
                ))
            }
        }
    }
    if let Some(bad) = events.iter().find(|e| *e != "INVOKE" && *e != "SHUTDOWN") {
        return Err(Forbidden::new(
            "Extension.InvalidEventType",
            format!("{bad}: invalid event type"),
        ));
    }
    Ok(events)
}

/// Extensions API doc, "Register".
async fn register(
    State(environment): State<Arc<Environment>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(name) = header(&headers, "Lambda-Extension-Name").map(str::to_string) else {
        return forbidden("Extension.InvalidExtensionName", "Empty extension name");
    };
    let events = match registered_events(&body) {
        Ok(events) => events,
        Err(refused) => return refused.response(),
    };
    let wants_account_id = header(&headers, "Lambda-Extension-Accept-Feature")
        .map(|f| f.split(',').any(|x| x.trim() == "accountId"))
        .unwrap_or(false);
    let id = uuid::Uuid::new_v4().to_string();
    {
        let mut state = environment.lock();
        if state.phase != Phase::Init {
            return forbidden(
                "Extension.RegistrationClosed",
                "Extension registration closed already",
            );
        }
        // Extensions API doc, Register: "Lambda uses the full file name of the extension
        // to validate that the extension has completed the bootstrap sequence. Therefore,
        // each Register API call must include the Lambda-Extension-Name header with the
        // full file name of the extension." (RIE would treat an unknown name as an
        // internal extension; this sandbox supports external extensions only.)
        if !state.launched.contains(&name) {
            return forbidden(
                "Extension.InvalidExtensionName",
                &format!(
                    "Lambda-Extension-Name {name:?} is not the file name of an extension in extensions/ (launched: {:?})",
                    state.launched
                ),
            );
        }
        if state.extensions.iter().any(|e| e.name == name) {
            return forbidden(
                "Extension.InvalidExtensionState",
                "Extension with this name already registered",
            );
        }
        if state.extensions.len() >= MAX_EXTENSIONS {
            return forbidden(
                "Extension.TooManyExtensions",
                &format!("Extension limit ({MAX_EXTENSIONS}) reached"),
            );
        }
        state.extensions.push(RegisteredExtension {
            id: id.clone(),
            name,
            invoke: events.iter().any(|e| e == "INVOKE"),
            shutdown: events.iter().any(|e| e == "SHUTDOWN"),
            ready: false,
            waiter: None,
            pending: None,
            errored: false,
        });
    }
    environment.bump();
    let config = environment.config();
    let mut answer = json!({
        "functionName": config.function_name,
        "functionVersion": "$LATEST",
        "handler": config.handler,
    });
    if wants_account_id {
        answer["accountId"] = Value::String(config.account_id.clone());
    }
    with_headers(
        json_response(StatusCode::OK, answer.to_string()),
        &[("Lambda-Extension-Identifier", &id)],
    )
}

/// Extensions API doc, "Next": blocks until the next event for this extension.
async fn next(State(environment): State<Arc<Environment>>, headers: HeaderMap) -> Response {
    let id = match extension_id(&headers) {
        Ok(id) => id,
        Err(refused) => return refused.response(),
    };
    let event = {
        let mut state = environment.lock();
        let Some(extension) = state.extensions.iter_mut().find(|e| e.id == id) else {
            return unknown_extension(&id);
        };
        if extension.errored {
            // Init error / Exit error: "After Lambda receives the error, no further API
            // calls succeed."
            return invalid_extension_state("Exited", "Ready", &id);
        }
        if let Some(event) = extension.pending.take() {
            extension.ready = false;
            return event_response(&id, event);
        }
        let (waiter, event) = oneshot::channel();
        extension.waiter = Some(waiter);
        extension.ready = true;
        event
    };
    environment.bump();
    match event.await {
        Ok(event) => event_response(&id, event),
        Err(_) => internal_error(),
    }
}

fn event_response(id: &str, event: Vec<u8>) -> Response {
    with_headers(
        json_response(StatusCode::OK, String::from_utf8_lossy(&event).into_owned()),
        &[("Lambda-Extension-Identifier", id)],
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ErrorReport {
    Init,
    Exit,
}

/// Extensions API doc, "Init error" and "Exit error".
async fn report_error(
    environment: Arc<Environment>,
    headers: HeaderMap,
    body: Bytes,
    report: ErrorReport,
) -> Response {
    let id = match extension_id(&headers) {
        Ok(id) => id,
        Err(refused) => return refused.response(),
    };
    if header(&headers, "Lambda-Extension-Function-Error-Type").is_none() {
        // Header "Required: yes"; RIE answers Extension.MissingHeader.
        return forbidden(
            "Extension.MissingHeader",
            "Lambda-Extension-Function-Error-Type not found",
        );
    };
    {
        let mut state = environment.lock();
        let phase = state.phase;
        let Some(extension) = state.extensions.iter_mut().find(|e| e.id == id) else {
            return unknown_extension(&id);
        };
        let to = match report {
            ErrorReport::Init => "InitError",
            ErrorReport::Exit => "ExitError",
        };
        if extension.errored {
            return invalid_extension_state("Exited", to, &id);
        }
        // Init error: "Call it when the extension fails to initialize after it has
        // registered" — only during Init.
        if report == ErrorReport::Init && phase != Phase::Init {
            return invalid_extension_state("Ready", to, &id);
        }
        extension.errored = true;
        extension.ready = false;
        extension.waiter = None;
        extension.pending = None;
        let live = matches!(phase, Phase::Init | Phase::Idle | Phase::Invoking);
        if live && state.fatal.is_none() {
            // The platform records its own type for the phase's failure, as RIE's rapid
            // does (fatalerror.AgentInitError/AgentExitError); the extension's type and
            // message stay in the document it posted.
            let platform_type = match report {
                ErrorReport::Init => "Extension.InitError",
                ErrorReport::Exit => "Extension.ExitError",
            };
            state.fatal = Some(Fatal::reported(Some(platform_type), &body, platform_type));
        }
    }
    environment.bump();
    accepted(Some(&id))
}

async fn init_error(
    State(environment): State<Arc<Environment>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    report_error(environment, headers, body, ErrorReport::Init).await
}

async fn exit_error(
    State(environment): State<Arc<Environment>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    report_error(environment, headers, body, ErrorReport::Exit).await
}

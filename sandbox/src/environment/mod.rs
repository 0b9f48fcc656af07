//! The execution environment: its state and the rooms that change it, one per section of
//! the AWS Lambda Developer Guide.
//!
//! - "Extensions API" (runtimes-extensions-api): [`extensions_api`] — Register, Next,
//!   Init error, Exit error.
//! - "Runtime API" (runtimes-api): [`runtime_api`] — Next invocation, Invocation response
//!   and error, Initialization error.
//! - "Understanding the Lambda execution environment lifecycle" (lambda-runtime-environment):
//!   [`init_phase`], [`invoke_phase`], [`shutdown_phase`] (also the reset after a failed
//!   invoke), and [`processes`] (spawning, exits, freezing, memory).
//!
//! The Runtime API reference implementation (aws-lambda-runtime-interface-emulator, RIE)
//! was read for the error types the API answers with; no code was taken from it.

mod extensions_api;
mod init_phase;
mod invoke_phase;
mod processes;
mod responses;
mod runtime_api;
mod shutdown_phase;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::DefaultBodyLimit;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::{oneshot, watch};

use crate::config::SandboxConfig;
use crate::logs::LogSink;
use crate::outcomes::{FunctionError, InitOutcome};
use crate::util::{epoch_ms, hex_id, slash_date};

pub(crate) use responses::with_headers;

/// Maximum request body accepted by the listeners (Lambda's synchronous payload limit
/// is 6 MB; a little more is accepted so that the error is the function's, not ours).
pub(crate) const BODY_LIMIT: usize = 7 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Init,
    Idle,
    Invoking,
    InitFailed,
    /// After a reset: the next invoke runs Init again.
    NeedsInit,
    Resetting,
    Closed,
}

/// The error that failed (or will fail) the current phase, as the Lambda service reports it.
#[derive(Debug, Clone)]
pub(crate) struct Fatal {
    error_type: String,
    message: String,
    body: String,
}

impl Fatal {
    pub(crate) fn new(error_type: &str, message: String) -> Self {
        let body = json!({"errorMessage": message, "errorType": error_type}).to_string();
        Fatal {
            error_type: error_type.to_string(),
            message,
            body,
        }
    }

    /// From an error report posted by a process: the error type from the header (or the
    /// body's `errorType`), the message from the body's `errorMessage`.
    fn reported(header_type: Option<&str>, body: &[u8], default_type: &str) -> Self {
        let text = String::from_utf8_lossy(body).into_owned();
        let parsed = serde_json::from_slice::<Value>(body).ok();
        let field = |k: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let error_type = header_type
            .map(str::to_string)
            .or_else(|| field("errorType"))
            .unwrap_or_else(|| default_type.to_string());
        let message = field("errorMessage").unwrap_or_else(|| text.clone());
        Fatal {
            error_type,
            message,
            body: text,
        }
    }

    /// The payload an invoke failing with this error returns: the reported JSON object
    /// with `errorType` set to the recorded type, or `{errorMessage, errorType}`.
    pub(crate) fn function_error(&self) -> FunctionError {
        let body = match serde_json::from_str::<Value>(&self.body) {
            Ok(Value::Object(mut o)) => {
                o.insert("errorType".into(), Value::String(self.error_type.clone()));
                o.entry("errorMessage")
                    .or_insert_with(|| Value::String(self.message.clone()));
                Value::Object(o).to_string()
            }
            _ => json!({"errorMessage": self.message, "errorType": self.error_type}).to_string(),
        };
        FunctionError {
            error_type: self.error_type.clone(),
            body,
        }
    }

    /// The tail of a REPORT or INIT_REPORT line for a phase this error failed.
    fn report_status(&self) -> String {
        format!("\tStatus: error\tError Type: {}", self.error_type)
    }
}

/// An extension that called Register in the current Init.
struct RegisteredExtension {
    id: String,
    name: String,
    invoke: bool,
    shutdown: bool,
    /// Waiting in `/event/next` (done with the current phase).
    ready: bool,
    waiter: Option<oneshot::Sender<Vec<u8>>>,
    pending: Option<Vec<u8>>,
    /// Reported init/exit error: "After Lambda receives the error, no further API calls succeed."
    errored: bool,
}

impl RegisteredExtension {
    /// Hands the event to a waiting Next call, or keeps it for the next one.
    fn deliver(&mut self, event: Vec<u8>) {
        self.ready = false;
        match self.waiter.take() {
            Some(waiter) => {
                if let Err(event) = waiter.send(event) {
                    self.pending = Some(event);
                }
            }
            None => self.pending = Some(event),
        }
    }
}

/// What the runtime's Next invocation call returns.
#[derive(Clone)]
struct InvocationEvent {
    request_id: String,
    deadline_ms: u64,
    trace_id: String,
    body: Vec<u8>,
}

#[derive(Default)]
struct RuntimeState {
    /// Waiting in `/invocation/next`.
    ready: bool,
    waiter: Option<oneshot::Sender<InvocationEvent>>,
    pending: Option<InvocationEvent>,
    /// Reported an Initialization error.
    errored: bool,
}

struct CurrentInvoke {
    request_id: String,
    /// The runtime has received the event.
    delivered: bool,
    answer: Option<Result<Vec<u8>, FunctionError>>,
    /// Told the answer the moment the runtime posts it: Lambda returns the response to
    /// the caller then, while extensions may still be finishing the Invoke phase.
    answered: Option<oneshot::Sender<Result<Vec<u8>, FunctionError>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProcessKind {
    Extension,
    Runtime,
}

/// A process the sandbox spawned itself (its descendants are found through it).
struct RootProcess {
    pid: i32,
    name: String,
    kind: ProcessKind,
    /// The Init that started it (each reset starts a new generation).
    generation: u64,
    exited: Option<Instant>,
}

struct EnvironmentState {
    generation: u64,
    phase: Phase,
    closing: bool,
    /// File names of the extensions started in this Init.
    launched: Vec<String>,
    extensions: Vec<RegisteredExtension>,
    runtime: RuntimeState,
    fatal: Option<Fatal>,
    current: Option<CurrentInvoke>,
    roots: Vec<RootProcess>,
    init_outcome: InitOutcome,
    /// Init's duration, for the REPORT line of the first invoke after it.
    report_init: Option<Duration>,
}

/// One execution environment, shared by the API listeners, the invoke endpoints and the
/// tasks that watch its processes.
pub(crate) struct Environment {
    config: SandboxConfig,
    runtime_api: SocketAddr,
    logs: LogSink,
    state: Mutex<EnvironmentState>,
    changed: watch::Sender<u64>,
    invoke_lock: Arc<tokio::sync::Mutex<()>>,
    /// Processes found in the tree so far (pid -> start time), see `proc_fs::tree`.
    known: Mutex<HashMap<i32, u64>>,
    api_id: String,
    log_stream: String,
    host_path: Option<String>,
}

impl Environment {
    /// An environment that has not run Init yet; `runtime_api` is the bound address of
    /// the listener that will serve [`Environment::api_router`].
    pub(crate) fn new(config: SandboxConfig, runtime_api: SocketAddr) -> Environment {
        Environment {
            logs: LogSink::new(config.echo_logs),
            runtime_api,
            state: Mutex::new(EnvironmentState {
                generation: 0,
                phase: Phase::NeedsInit,
                closing: false,
                launched: Vec::new(),
                extensions: Vec::new(),
                runtime: RuntimeState::default(),
                fatal: None,
                current: None,
                roots: Vec::new(),
                init_outcome: InitOutcome::Failed {
                    error_type: "Sandbox.NotInitialized".into(),
                    error_message: String::new(),
                    body: String::new(),
                },
                report_init: None,
            }),
            changed: watch::Sender::new(0),
            invoke_lock: Arc::new(tokio::sync::Mutex::new(())),
            known: Mutex::new(HashMap::new()),
            api_id: hex_id(32),
            log_stream: format!("{}/[$LATEST]{}", slash_date(epoch_ms()), hex_id(32)),
            host_path: std::env::var("PATH").ok(),
            config,
        }
    }

    /// The Extensions API and the Runtime API, served on one address
    /// (`AWS_LAMBDA_RUNTIME_API`) as on Lambda.
    pub(crate) fn api_router(self: &Arc<Self>) -> Router {
        extensions_api::routes()
            .merge(runtime_api::routes())
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(self.clone())
    }

    pub(crate) fn config(&self) -> &SandboxConfig {
        &self.config
    }

    pub(crate) fn runtime_api(&self) -> SocketAddr {
        self.runtime_api
    }

    pub(crate) fn logs(&self) -> &LogSink {
        &self.logs
    }

    /// The `<url-id>` of this environment's Function URL.
    pub(crate) fn api_id(&self) -> &str {
        &self.api_id
    }

    pub(crate) fn init_outcome(&self) -> InitOutcome {
        self.lock().init_outcome.clone()
    }

    /// Stops new phases from starting; what runs sees it and ends.
    pub(crate) fn mark_closing(&self) {
        self.lock().closing = true;
        self.bump();
    }

    /// The environment is gone (its handle was dropped): no API call succeeds any more.
    pub(crate) fn mark_closed(&self) {
        let mut state = self.lock();
        state.closing = true;
        state.phase = Phase::Closed;
    }

    fn lock(&self) -> MutexGuard<'_, EnvironmentState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes everything waiting in [`Environment::wait_until`].
    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// A line the platform (not a process) prints to the function's log.
    fn platform(&self, line: String) {
        self.logs.line(&line);
    }

    /// Waits until `condition` holds (re-checked on every state change) or the deadline passes.
    async fn wait_until(
        &self,
        deadline: Instant,
        condition: impl Fn(&EnvironmentState) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::from_std(deadline);
        let mut changes = self.changed.subscribe();
        loop {
            if condition(&self.lock()) {
                return true;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => return condition(&self.lock()),
            }
        }
    }

    fn recorded_fatal(&self) -> Fatal {
        self.lock()
            .fatal
            .clone()
            .unwrap_or_else(|| Fatal::new("Sandbox.Failure", "Init failed".into()))
    }
}

/// Milliseconds with fractions, as the platform's log lines print durations.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

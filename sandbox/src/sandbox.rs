//! The execution environment: Init / Invoke / Shutdown, the Runtime and Extensions
//! APIs, freezing, process supervision.
//!
//! Doc references (AWS Lambda Developer Guide):
//! - "Extensions API" (runtimes-extensions-api): Register / Next / Init error / Exit error,
//!   Init, Invoke and Shutdown phases, failure handling.
//! - "Runtime API" (runtimes-api): Next invocation, Invocation response / error,
//!   Initialization error.
//! - "Understanding the Lambda execution environment lifecycle"
//!   (lambda-runtime-environment): 10 s Init limit, freezing between events.
//!
//! The Runtime API reference implementation (aws-lambda-runtime-interface-emulator, RIE)
//! was read for the error types the API answers with; no code was taken from it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path as UrlPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use nix::sys::signal::Signal;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, OwnedMutexGuard};
use tokio::task::JoinHandle;

use crate::config::{process_env, ProcessRole, SandboxConfig};
use crate::furl::{
    function_url_error_response, function_url_event, function_url_response, UrlContext,
};
use crate::logs::LogSink;
use crate::procs::{self, ProcessInfo};
use crate::util::{epoch_ms, hex_id, slash_date, trace_id};

/// Maximum request body accepted by the listeners (Lambda's synchronous payload limit
/// is 6 MB; a little more is accepted so that the error is the function's, not ours).
const BODY_LIMIT: usize = 7 * 1024 * 1024;
/// Extensions API doc, Shutdown phase: "2000 ms – a function with one or more
/// registered external extensions".
const SHUTDOWN_LIMIT: Duration = Duration::from_millis(2000);
/// Extensions API doc, Shutdown phase: "Lambda reserves up to 300 ms ... for the runtime
/// process to perform a graceful shutdown".
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(300);
/// Extensions API doc, Init phase: "You can register up to 10 extensions for a function."
const MAX_EXTENSIONS: usize = 10;

/// How Init went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitOutcome {
    Ok {
        duration: Duration,
    },
    Failed {
        error_type: String,
        error_message: String,
        /// The body the failing process posted (or a synthesized `{errorMessage, errorType}`).
        body: String,
    },
}

/// An invoke that did not produce a function response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    pub error_type: String,
    /// JSON error document (what the Lambda Invoke API would return as payload).
    pub body: String,
}

#[derive(Debug, Clone)]
pub struct InvokeOutcome {
    pub request_id: String,
    pub result: Result<Vec<u8>, FunctionError>,
    pub duration: Duration,
    pub max_memory_used_mb: u64,
}

#[derive(Debug, Clone)]
pub struct ShutdownReport {
    /// `spindown`, `timeout` or `failure`.
    pub reason: String,
    /// The Shutdown phase deadline (start + 2000 ms).
    pub deadline: Instant,
    /// Every extension launched in the environment and when its process exited on its
    /// own (`None`: still running at the deadline, then killed).
    pub extensions: Vec<(String, Option<Instant>)>,
    /// Pids that had to be SIGKILLed.
    pub killed: Vec<i32>,
    /// Processes of the sandbox still present at the end (should be empty).
    pub leftover: Vec<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Init,
    Idle,
    Invoking,
    InitFailed,
    /// After a reset: the next invoke runs Init again.
    NeedsInit,
    Resetting,
    Closed,
}

#[derive(Debug, Clone)]
struct Fatal {
    error_type: String,
    message: String,
    body: String,
}

impl Fatal {
    fn new(error_type: &str, message: String) -> Self {
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
    fn function_error(&self) -> FunctionError {
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
}

struct Ext {
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

#[derive(Clone)]
struct RtEvent {
    request_id: String,
    deadline_ms: u64,
    trace_id: String,
    body: Vec<u8>,
}

#[derive(Default)]
struct Rt {
    ready: bool,
    waiter: Option<oneshot::Sender<RtEvent>>,
    pending: Option<RtEvent>,
    errored: bool,
}

struct Current {
    request_id: String,
    delivered: bool,
    answer: Option<Result<Vec<u8>, FunctionError>>,
    /// Told the answer the moment the runtime posts it: Lambda returns the response to
    /// the caller then, while extensions may still be finishing the Invoke phase.
    answered: Option<oneshot::Sender<Result<Vec<u8>, FunctionError>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Extension,
    Runtime,
}

struct Root {
    pid: i32,
    name: String,
    kind: Kind,
    gen: u64,
    exited: Option<Instant>,
}

struct St {
    gen: u64,
    phase: Phase,
    closing: bool,
    launched: Vec<String>,
    exts: Vec<Ext>,
    rt: Rt,
    fatal: Option<Fatal>,
    current: Option<Current>,
    roots: Vec<Root>,
    init_outcome: InitOutcome,
    report_init: Option<Duration>,
}

pub(crate) struct Shared {
    cfg: SandboxConfig,
    api: SocketAddr,
    logs: LogSink,
    st: Mutex<St>,
    changed: watch::Sender<u64>,
    invoke_lock: Arc<tokio::sync::Mutex<()>>,
    /// Processes found in the tree so far (pid -> start time), see `procs::tree`.
    known: Mutex<std::collections::HashMap<i32, u64>>,
    api_id: String,
    log_stream: String,
    host_path: Option<String>,
}

fn describe(status: &std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(s) => match (s.code(), s.signal()) {
            (Some(c), _) => format!("exit status {c}"),
            (None, Some(sig)) => match Signal::try_from(sig) {
                Ok(Signal::SIGKILL) => "signal: killed".to_string(),
                Ok(Signal::SIGTERM) => "signal: terminated".to_string(),
                Ok(s) => format!("signal: {}", s.as_str()),
                Err(_) => format!("signal: {sig}"),
            },
            _ => "exited".to_string(),
        },
        Err(e) => format!("wait failed: {e}"),
    }
}

fn is_executable_file(p: &Path) -> bool {
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Every executable file in `<layer>/extensions`, sorted by name.
fn list_extensions(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<(String, PathBuf)> = rd
        .filter_map(|e| e.ok())
        .filter(|e| is_executable_file(&e.path()))
        .filter_map(|e| e.file_name().to_str().map(|n| (n.to_string(), e.path())))
        .collect();
    v.sort();
    v
}

fn deliver_ext(e: &mut Ext, ev: Vec<u8>) {
    e.ready = false;
    match e.waiter.take() {
        Some(tx) => {
            if let Err(ev) = tx.send(ev) {
                e.pending = Some(ev);
            }
        }
        None => e.pending = Some(ev),
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `{"errorMessage":…, "errorType":…}` with a status, as the Runtime API answers errors.
fn api_error(status: StatusCode, error_type: &str, msg: &str) -> Response {
    json_response(
        status,
        json!({"errorMessage": msg, "errorType": error_type}).to_string(),
    )
}

fn forbidden(error_type: &str, msg: &str) -> Response {
    api_error(StatusCode::FORBIDDEN, error_type, msg)
}

fn internal_error() -> Response {
    api_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalServerError",
        "Internal Server Error",
    )
}

/// Sets headers: the first value of a name replaces what the response had, further values
/// of the same name (e.g. `set-cookie`) are appended. Invalid names/values are skipped.
fn with_headers(mut resp: Response, headers: &[(&str, &str)]) -> Response {
    let mut seen: Vec<HeaderName> = Vec::new();
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            if seen.contains(&k) {
                resp.headers_mut().append(k, v);
            } else {
                seen.push(k.clone());
                resp.headers_mut().insert(k, v);
            }
        }
    }
    resp
}

fn accepted(ext_id: Option<&str>) -> Response {
    let r = json_response(StatusCode::ACCEPTED, r#"{"status":"OK"}"#.to_string());
    match ext_id {
        Some(id) => with_headers(r, &[("Lambda-Extension-Identifier", id)]),
        None => r,
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, St> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn platform(&self, line: String) {
        self.logs.line(&line);
    }

    /// Waits until `f` holds (re-checked on every state change) or the deadline passes.
    async fn wait_until(&self, deadline: Instant, f: impl Fn(&St) -> bool) -> bool {
        let deadline = tokio::time::Instant::from_std(deadline);
        let mut rx = self.changed.subscribe();
        loop {
            if f(&self.lock()) {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return f(&self.lock()),
            }
        }
    }

    fn recorded_fatal(&self) -> Fatal {
        self.lock()
            .fatal
            .clone()
            .unwrap_or_else(|| Fatal::new("Sandbox.Failure", "Init failed".into()))
    }

    fn root_pids(&self) -> Vec<i32> {
        self.lock().roots.iter().map(|r| r.pid).collect()
    }

    fn tree(&self) -> Vec<ProcessInfo> {
        let roots = self.root_pids();
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        procs::tree(&roots, &mut known)
    }

    /// Lifecycle doc: "Lambda freezes the execution environment when the runtime and each
    /// extension have completed and there are no pending events." Every process of the
    /// sandbox tree gets SIGSTOP; waits (briefly) until /proc shows them stopped.
    fn freeze(&self) {
        if !self.cfg.freeze {
            return;
        }
        let mut stopped = HashSet::new();
        for _ in 0..5 {
            let fresh: Vec<i32> = self
                .tree()
                .into_iter()
                .filter(|p| !matches!(p.state, 'Z' | 'X') && !stopped.contains(&p.pid))
                .map(|p| p.pid)
                .collect();
            if fresh.is_empty() {
                break;
            }
            procs::signal_each(&fresh, Signal::SIGSTOP);
            stopped.extend(fresh);
        }
        let until = Instant::now() + Duration::from_millis(200);
        while Instant::now() < until {
            let running = self
                .tree()
                .iter()
                .any(|p| !matches!(p.state, 'T' | 't' | 'Z' | 'X'));
            if !running {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    fn thaw(&self) {
        let pids: Vec<i32> = self
            .tree()
            .into_iter()
            .filter(|p| !matches!(p.state, 'Z' | 'X'))
            .map(|p| p.pid)
            .collect();
        procs::signal_each(&pids, Signal::SIGCONT);
    }

    /// Max Memory Used: the sum of `VmHWM` (per-process peak RSS) over every live process
    /// of the sandbox tree. An upper bound of the simultaneous peak (peaks of different
    /// processes may not coincide); processes that already exited are not counted.
    fn max_memory_mb(&self) -> u64 {
        let kib: u64 = self
            .tree()
            .iter()
            .filter_map(|p| procs::vm_hwm_kib(p.pid))
            .sum();
        kib.div_ceil(1024)
    }

    fn spawn_process(
        self: &Arc<Self>,
        path: &Path,
        name: &str,
        kind: Kind,
        gen: u64,
    ) -> std::io::Result<i32> {
        let role = match kind {
            Kind::Extension => ProcessRole::Extension,
            Kind::Runtime => ProcessRole::Runtime,
        };
        let env = process_env(
            &self.cfg,
            self.api,
            role,
            &self.log_stream,
            self.host_path.as_deref(),
        );
        let mut attempt = 0;
        let mut child = loop {
            let mut cmd = tokio::process::Command::new(path);
            cmd.env_clear()
                .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .current_dir(self.cfg.work_dir())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            // SAFETY: the closure runs between fork and exec and only calls setsid(2),
            // which is async-signal-safe. A new session makes every descendant findable
            // by its session id (see procs.rs), even if it moves to another process group.
            unsafe {
                cmd.pre_exec(|| {
                    nix::unistd::setsid()
                        .map(|_| ())
                        .map_err(std::io::Error::from)
                });
            }
            match cmd.spawn() {
                Ok(c) => break c,
                // ETXTBSY: another thread of a (test) process forked while the script was
                // still open for writing; retry briefly.
                Err(e) if e.raw_os_error() == Some(26) && attempt < 50 => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e),
            }
        };
        let pid = child
            .id()
            .map(|p| p as i32)
            .ok_or_else(|| std::io::Error::other("spawned process has no pid"))?;
        if let Some(out) = child.stdout.take() {
            let sh = self.clone();
            tokio::spawn(async move { sh.logs.pump(out).await });
        }
        if let Some(err) = child.stderr.take() {
            let sh = self.clone();
            tokio::spawn(async move { sh.logs.pump(err).await });
        }
        self.lock().roots.push(Root {
            pid,
            name: name.to_string(),
            kind,
            gen,
            exited: None,
        });
        let sh = self.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            sh.on_exit(pid, &status);
        });
        Ok(pid)
    }

    /// A spawned process exited (and was reaped by tokio).
    fn on_exit(&self, pid: i32, status: &std::io::Result<ExitStatus>) {
        let desc = describe(status);
        {
            let mut st = self.lock();
            let (gen, phase, closing) = (st.gen, st.phase, st.closing);
            let request = st.current.as_ref().map(|c| c.request_id.clone());
            let Some(root) = st
                .roots
                .iter_mut()
                .find(|r| r.pid == pid && r.exited.is_none())
            else {
                return;
            };
            root.exited = Some(Instant::now());
            let (kind, name, rgen) = (root.kind, root.name.clone(), root.gen);
            let live = matches!(phase, Phase::Init | Phase::Idle | Phase::Invoking);
            if rgen == gen && live && !closing && st.fatal.is_none() {
                // A process that exits outside the Shutdown phase fails the phase it is in
                // (error types as the Lambda service reports them).
                st.fatal = Some(match kind {
                    Kind::Extension => Fatal::new(
                        "Extension.Crash",
                        format!("Extension {name} exited unexpectedly: {desc}"),
                    ),
                    Kind::Runtime => {
                        let prefix = request
                            .map(|r| format!("RequestId: {r} "))
                            .unwrap_or_default();
                        Fatal::new(
                            "Runtime.ExitError",
                            format!("{prefix}Error: Runtime exited with error: {desc}"),
                        )
                    }
                });
            }
        }
        self.bump();
    }

    /// SIGKILLs the whole tree until nothing is left (reaping orphans); returns
    /// (killed pids, leftover pids).
    async fn kill_all(&self) -> (Vec<i32>, Vec<i32>) {
        let mut killed: Vec<i32> = Vec::new();
        let until = Instant::now() + Duration::from_secs(3);
        loop {
            let owned: HashSet<i32> = self.root_pids().into_iter().collect();
            let tree = self.tree();
            procs::reap_orphans(&tree, &owned);
            if tree.is_empty() || Instant::now() > until {
                break;
            }
            let live: Vec<i32> = tree
                .iter()
                .filter(|p| !matches!(p.state, 'Z' | 'X'))
                .map(|p| p.pid)
                .collect();
            for pid in procs::signal_each(&live, Signal::SIGKILL) {
                if !killed.contains(&pid) {
                    killed.push(pid);
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let leftover = self.tree().iter().map(|p| p.pid).collect();
        (killed, leftover)
    }

    fn pick_bootstrap(&self) -> Option<PathBuf> {
        let task = self.cfg.task_dir.as_ref().map(|t| t.join("bootstrap"));
        let layer = self.cfg.layer_dir.join("bootstrap");
        task.into_iter()
            .chain([layer])
            .find(|p| is_executable_file(p))
    }

    /// The Init phase (Extensions API doc, "Init phase"; lifecycle doc, "Init phase").
    async fn run_init(self: &Arc<Self>) -> InitOutcome {
        let t0 = Instant::now();
        let deadline = t0 + self.cfg.init_timeout;
        self.platform(format!(
            "INIT_START Runtime Version: provided:sandbox\tRuntime Version ARN: arn:aws:lambda:{}::runtime:sandbox",
            self.cfg.region
        ));
        let exts = list_extensions(&self.cfg.layer_dir.join("extensions"));
        let gen = {
            let mut st = self.lock();
            st.gen += 1;
            st.phase = Phase::Init;
            st.exts.clear();
            st.rt = Rt::default();
            st.fatal = None;
            st.current = None;
            st.launched = exts.iter().map(|(n, _)| n.clone()).collect();
            st.gen
        };
        self.bump();

        // Extension init: start every extension, wait until each has registered.
        for (name, path) in &exts {
            if let Err(e) = self.spawn_process(path, name, Kind::Extension, gen) {
                let f = Fatal::new(
                    "Extension.LaunchError",
                    format!("Extension {name} could not be launched: {e}"),
                );
                return self.fail_init(t0, f, false).await;
            }
        }
        // Extensions API doc, Init phase: "After each extension registers with Lambda,
        // Lambda starts the Runtime init phase."
        let registered = self
            .wait_until(deadline, |st| {
                st.fatal.is_some()
                    || st.closing
                    || st
                        .launched
                        .iter()
                        .all(|n| st.exts.iter().any(|e| &e.name == n))
            })
            .await;
        if let Some(out) = self.init_check(t0, registered).await {
            return out;
        }

        // Runtime init.
        let Some(bootstrap) = self.pick_bootstrap() else {
            let tried: Vec<String> = self
                .cfg
                .task_dir
                .iter()
                .map(|t| t.join("bootstrap").display().to_string())
                .chain([self.cfg.layer_dir.join("bootstrap").display().to_string()])
                .collect();
            let f = Fatal::new(
                "Runtime.InvalidEntrypoint",
                format!("Couldn't find valid bootstrap(s): {tried:?}"),
            );
            return self.fail_init(t0, f, false).await;
        };
        if let Err(e) = self.spawn_process(&bootstrap, "bootstrap", Kind::Runtime, gen) {
            let f = Fatal::new(
                "Runtime.InvalidEntrypoint",
                format!("{}: {e}", bootstrap.display()),
            );
            return self.fail_init(t0, f, false).await;
        }
        // Extensions API doc, Init phase: "The Init phase completes after the runtime and
        // each registered extension indicate completion by sending a Next API request."
        let done = self
            .wait_until(deadline, |st| {
                st.fatal.is_some() || st.closing || (st.rt.ready && st.exts.iter().all(|e| e.ready))
            })
            .await;
        if let Some(out) = self.init_check(t0, done).await {
            return out;
        }
        let duration = t0.elapsed();
        let names: Vec<(String, String)> = {
            let mut st = self.lock();
            st.phase = Phase::Idle;
            st.init_outcome = InitOutcome::Ok { duration };
            st.report_init = Some(duration);
            st.exts
                .iter()
                .map(|e| {
                    let mut ev = Vec::new();
                    if e.invoke {
                        ev.push("INVOKE");
                    }
                    if e.shutdown {
                        ev.push("SHUTDOWN");
                    }
                    (e.name.clone(), ev.join(","))
                })
                .collect()
        };
        self.bump();
        // Extensions API doc, Failure handling / Extension logs: "Lambda also generates an
        // additional log event for each extension during Init."
        for (n, ev) in names {
            self.platform(format!(
                "EXTENSION\tName: {n}\tState: Ready\tEvents: [{ev}]"
            ));
        }
        self.freeze();
        self.platform(format!(
            "INIT_REPORT Init Duration: {:.2} ms\tPhase: init\tStatus: success",
            ms(duration)
        ));
        InitOutcome::Ok { duration }
    }

    async fn init_check(self: &Arc<Self>, t0: Instant, reached: bool) -> Option<InitOutcome> {
        let (fatal, closing) = {
            let st = self.lock();
            (st.fatal.clone(), st.closing)
        };
        if let Some(f) = fatal {
            return Some(self.fail_init(t0, f, false).await);
        }
        if closing {
            let f = Fatal::new("Sandbox.Closed", "the sandbox is shutting down".into());
            return Some(self.fail_init(t0, f, false).await);
        }
        if !reached {
            // Lifecycle doc, Init phase: "The Init phase is limited to 10 seconds." Lambda
            // reports a timed-out phase as `Sandbox.Timedout` (INIT_REPORT Status: timeout).
            let f = Fatal::new(
                "Sandbox.Timedout",
                format!(
                    "Init phase timed out after {:.2} seconds",
                    self.cfg.init_timeout.as_secs_f64()
                ),
            );
            return Some(self.fail_init(t0, f, true).await);
        }
        None
    }

    /// Init failed: record it, SIGKILL every process, print INIT_REPORT.
    async fn fail_init(self: &Arc<Self>, t0: Instant, f: Fatal, timeout: bool) -> InitOutcome {
        let outcome = InitOutcome::Failed {
            error_type: f.error_type.clone(),
            error_message: f.message.clone(),
            body: f.body.clone(),
        };
        {
            let mut st = self.lock();
            st.phase = Phase::InitFailed;
            st.fatal = Some(f.clone());
            st.init_outcome = outcome.clone();
            st.report_init = Some(t0.elapsed());
        }
        self.bump();
        self.kill_all().await;
        {
            let mut st = self.lock();
            st.exts.clear();
            st.rt = Rt::default();
        }
        self.bump();
        let status = if timeout {
            "Status: timeout".to_string()
        } else {
            format!("Status: error\tError Type: {}", f.error_type)
        };
        self.platform(format!(
            "INIT_REPORT Init Duration: {:.2} ms\tPhase: init\t{status}",
            ms(t0.elapsed())
        ));
        outcome
    }

    fn report(
        &self,
        request_id: &str,
        duration: Duration,
        mem: u64,
        init: Option<Duration>,
        status: &str,
    ) {
        self.platform(format!("END RequestId: {request_id}"));
        let init = init
            .map(|d| format!("\tInit Duration: {:.2} ms", ms(d)))
            .unwrap_or_default();
        self.platform(format!(
            "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {mem} MB{init}{status}",
            ms(duration),
            (duration.as_micros().div_ceil(1000)).max(1),
            self.cfg.memory_mb,
        ));
    }

    pub(crate) async fn invoke(self: &Arc<Self>, payload: Vec<u8>) -> InvokeOutcome {
        self.invoke_with_id(payload, uuid::Uuid::new_v4().to_string())
            .await
    }

    /// One invoke (Extensions API doc, "Invoke phase"). Serialized: one invoke at a time
    /// per execution environment, as Lambda does.
    pub(crate) async fn invoke_with_id(
        self: &Arc<Self>,
        payload: Vec<u8>,
        request_id: String,
    ) -> InvokeOutcome {
        self.invoke_answering(payload, request_id, None).await
    }

    /// As `invoke_with_id`; `answered` learns the function's answer as soon as the runtime
    /// posts it, before the Invoke phase ends.
    pub(crate) async fn invoke_answering(
        self: &Arc<Self>,
        payload: Vec<u8>,
        request_id: String,
        answered: Option<oneshot::Sender<Result<Vec<u8>, FunctionError>>>,
    ) -> InvokeOutcome {
        let guard = self.invoke_lock.clone().lock_owned().await;
        let start = Instant::now();
        let phase = self.lock().phase;
        let early: Option<Fatal> = match phase {
            Phase::Closed | Phase::Resetting => Some(Fatal::new(
                "Sandbox.Closed",
                "the sandbox has been shut down".into(),
            )),
            // The sandbox does not retry a failed Init: every invoke returns the Init error.
            Phase::InitFailed => Some(self.recorded_fatal()),
            Phase::NeedsInit => match self.run_init().await {
                InitOutcome::Ok { .. } => None,
                InitOutcome::Failed { .. } => Some(self.recorded_fatal()),
            },
            Phase::Idle | Phase::Init | Phase::Invoking => {
                // An error reported while idle (exit/error, crash) fails this invoke and
                // resets the environment.
                let f = self.lock().fatal.clone();
                if let Some(f) = f {
                    self.platform(format!("START RequestId: {request_id} Version: $LATEST"));
                    let mem = self.max_memory_mb();
                    self.report(
                        &request_id,
                        start.elapsed(),
                        mem,
                        None,
                        &format!("\tStatus: error\tError Type: {}", f.error_type),
                    );
                    self.spawn_reset(guard, "failure");
                    return InvokeOutcome {
                        request_id,
                        result: Err(f.function_error()),
                        duration: start.elapsed(),
                        max_memory_used_mb: mem,
                    };
                }
                None
            }
        };
        if let Some(f) = early {
            self.platform(format!("START RequestId: {request_id} Version: $LATEST"));
            let init = self.lock().report_init.take();
            self.report(
                &request_id,
                start.elapsed(),
                0,
                init,
                &format!("\tStatus: error\tError Type: {}", f.error_type),
            );
            return InvokeOutcome {
                request_id,
                result: Err(f.function_error()),
                duration: start.elapsed(),
                max_memory_used_mb: 0,
            };
        }

        let start = Instant::now();
        let deadline = start + self.cfg.function_timeout;
        let deadline_ms = epoch_ms() + self.cfg.function_timeout.as_millis() as u64;
        let trace = trace_id();
        let arn = self.cfg.function_arn();
        self.platform(format!("START RequestId: {request_id} Version: $LATEST"));
        // Extensions API doc, Invoke phase: event payload sent to extensions.
        let ext_event = json!({
            "eventType": "INVOKE",
            "deadlineMs": deadline_ms,
            "requestId": request_id,
            "invokedFunctionArn": arn,
            "tracing": {"type": "X-Amzn-Trace-Id", "value": trace},
        })
        .to_string()
        .into_bytes();
        // Thaw right before the event is delivered.
        self.thaw();
        {
            let mut st = self.lock();
            st.phase = Phase::Invoking;
            st.current = Some(Current {
                request_id: request_id.clone(),
                delivered: false,
                answer: None,
                answered,
            });
            // "Lambda sends an Invoke event to the runtime and to each extension that is
            // registered for the Invoke event."
            for e in st.exts.iter_mut().filter(|e| e.invoke && !e.errored) {
                deliver_ext(e, ext_event.clone());
            }
            let ev = RtEvent {
                request_id: request_id.clone(),
                deadline_ms,
                trace_id: trace,
                body: payload,
            };
            let ev = match st.rt.waiter.take() {
                Some(tx) => tx.send(ev).err(),
                None => Some(ev),
            };
            st.rt.ready = false;
            match ev {
                None => {
                    if let Some(c) = st.current.as_mut() {
                        c.delivered = true;
                    }
                }
                Some(ev) => st.rt.pending = Some(ev),
            }
        }
        self.bump();
        // "The Invoke phase ends after the runtime and all extensions signal that they
        // are done by sending a Next API request." Duration limit: the function timeout
        // "limits the duration of the entire Invoke phase".
        let finished = self
            .wait_until(deadline, |st| {
                st.fatal.is_some()
                    || st.closing
                    || (st.current.as_ref().is_some_and(|c| c.answer.is_some())
                        && st.rt.ready
                        && st
                            .exts
                            .iter()
                            .filter(|e| e.invoke && !e.errored)
                            .all(|e| e.ready))
            })
            .await;
        let duration = start.elapsed();
        let mem = self.max_memory_mb();
        let (result, status, reset, freeze) = {
            let mut st = self.lock();
            let answer = st.current.take().and_then(|c| c.answer);
            if let Some(f) = st.fatal.clone() {
                let s = format!("\tStatus: error\tError Type: {}", f.error_type);
                (Err(f.function_error()), s, Some("failure"), false)
            } else if st.closing {
                let f = Fatal::new("Sandbox.Closed", "the sandbox is shutting down".into());
                (Err(f.function_error()), String::new(), None, false)
            } else if !finished {
                let f = Fatal::new(
                    "Sandbox.Timedout",
                    format!(
                        "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                        self.cfg.function_timeout.as_secs_f64()
                    ),
                );
                (
                    Err(f.function_error()),
                    "\tStatus: timeout".to_string(),
                    Some("timeout"),
                    false,
                )
            } else {
                st.phase = Phase::Idle;
                let r = answer.unwrap_or_else(|| {
                    Err(Fatal::new("Sandbox.Failure", "no answer".into()).function_error())
                });
                (r, String::new(), None, true)
            }
        };
        let init = self.lock().report_init.take();
        if freeze {
            self.freeze();
        }
        self.report(&request_id, duration, mem, init, &status);
        if let Some(reason) = reset {
            // Extensions API doc, Failure handling: "If there is a failure (such as a
            // function timeout or runtime error) during Invoke, the Lambda service performs
            // a reset. The reset behaves like a Shutdown event ... If this environment is
            // used for a new invocation, the extension and runtime are re-initialized".
            self.spawn_reset(guard, reason);
        }
        InvokeOutcome {
            request_id,
            result,
            duration,
            max_memory_used_mb: mem,
        }
    }

    /// Resets the environment in the background while still holding the invoke lock, so
    /// the caller gets its answer at once and the next invoke waits for the reset.
    fn spawn_reset(self: &Arc<Self>, guard: OwnedMutexGuard<()>, reason: &'static str) {
        let sh = self.clone();
        tokio::spawn(async move {
            let _guard = guard;
            let r = sh.graceful_shutdown(reason, Phase::NeedsInit).await;
            if !r.leftover.is_empty() {
                sh.platform(format!(
                    "lambda-sandbox: processes left after reset: {:?}",
                    r.leftover
                ));
            }
        });
    }

    /// The Shutdown phase (Extensions API doc, "Shutdown phase"): SIGTERM to the runtime
    /// (up to 300 ms), then the Shutdown event to every extension registered for it, wait
    /// for the extension processes until the 2000 ms deadline, SIGKILL what is left.
    async fn graceful_shutdown(
        self: &Arc<Self>,
        reason: &str,
        final_phase: Phase,
    ) -> ShutdownReport {
        let start = Instant::now();
        let deadline = start + SHUTDOWN_LIMIT;
        let deadline_ms = epoch_ms() + SHUTDOWN_LIMIT.as_millis() as u64;
        let (gen, runtime_pid, prev) = {
            let mut st = self.lock();
            let prev = st.phase;
            st.phase = Phase::Resetting;
            let gen = st.gen;
            let rt = st
                .roots
                .iter()
                .find(|r| r.gen == gen && r.kind == Kind::Runtime && r.exited.is_none())
                .map(|r| r.pid);
            (gen, rt, prev)
        };
        self.bump();
        let alive = matches!(prev, Phase::Idle | Phase::Invoking | Phase::Init);
        if alive {
            // Thaw first: a stopped process cannot handle SIGTERM or read an event.
            self.thaw();
            if let Some(pid) = runtime_pid {
                // "Lambda terminates the runtime, alerts the extensions to let them stop
                // cleanly" — the runtime first.
                procs::signal_each(&[pid], Signal::SIGTERM);
                self.wait_until(start + RUNTIME_SHUTDOWN, |st| {
                    st.roots.iter().any(|r| r.pid == pid && r.exited.is_some())
                })
                .await;
            }
            {
                let ev = json!({
                    "eventType": "SHUTDOWN",
                    "shutdownReason": reason,
                    "deadlineMs": deadline_ms,
                })
                .to_string()
                .into_bytes();
                let mut st = self.lock();
                for e in st.exts.iter_mut().filter(|e| e.shutdown && !e.errored) {
                    deliver_ext(e, ev.clone());
                }
            }
            self.bump();
            // "If the runtime or an extension does not respond to the Shutdown event within
            // the limit, Lambda terminates the process using a SIGKILL signal."
            self.wait_until(deadline, |st| {
                st.roots
                    .iter()
                    .filter(|r| r.gen == gen && r.kind == Kind::Extension)
                    .all(|r| r.exited.is_some())
            })
            .await;
        }
        let extensions: Vec<(String, Option<Instant>)> = self
            .lock()
            .roots
            .iter()
            .filter(|r| r.gen == gen && r.kind == Kind::Extension)
            .map(|r| (r.name.clone(), r.exited))
            .collect();
        let (killed, leftover) = self.kill_all().await;
        {
            let mut st = self.lock();
            st.phase = if final_phase == Phase::NeedsInit && st.closing {
                Phase::Closed
            } else {
                final_phase
            };
            st.exts.clear();
            st.rt = Rt::default();
            st.current = None;
            // Forget roots that are gone, so their pids (which may be reused) no longer
            // define the sandbox tree.
            st.roots.retain(|r| r.exited.is_none());
        }
        self.bump();
        ShutdownReport {
            reason: reason.to_string(),
            deadline,
            extensions,
            killed,
            leftover,
        }
    }

    fn kill_now(&self) {
        let tree = self.tree();
        let pids: Vec<i32> = tree.iter().map(|p| p.pid).collect();
        procs::signal_each(&pids, Signal::SIGKILL);
        let owned: HashSet<i32> = self.root_pids().into_iter().collect();
        for _ in 0..20 {
            let t = self.tree();
            procs::reap_orphans(&t, &owned);
            if t.iter().all(|p| owned.contains(&p.pid)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// ---------------------------------------------------------------------------------------
// Runtime API and Extensions API handlers.

fn ext_id(h: &HeaderMap) -> Result<String, (&'static str, &'static str)> {
    // RIE answers a missing identifier with Extension.MissingExtensionIdentifier and a
    // malformed one with Extension.InvalidExtensionIdentifier (both 403).
    let Some(v) = header(h, "Lambda-Extension-Identifier") else {
        return Err((
            "Extension.MissingExtensionIdentifier",
            "Missing Lambda-Extension-Identifier header",
        ));
    };
    if uuid::Uuid::parse_str(v).is_err() {
        return Err((
            "Extension.InvalidExtensionIdentifier",
            "Invalid Lambda-Extension-Identifier",
        ));
    }
    Ok(v.to_string())
}

fn unknown_ext(id: &str) -> Response {
    forbidden(
        "Extension.UnknownExtensionIdentifier",
        &format!("Unknown extension {id}"),
    )
}

fn invalid_ext_state(from: &str, to: &str, id: &str) -> Response {
    forbidden(
        "Extension.InvalidExtensionState",
        &format!("State transition from {from} to {to} failed for extension {id}"),
    )
}

/// Extensions API doc, "Register".
async fn ext_register(State(sh): State<Arc<Shared>>, h: HeaderMap, body: Bytes) -> Response {
    let Some(name) = header(&h, "Lambda-Extension-Name").map(str::to_string) else {
        return forbidden("Extension.InvalidExtensionName", "Empty extension name");
    };
    let mut events: Vec<String> = Vec::new();
    if !body.iter().all(u8::is_ascii_whitespace) {
        let v: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return forbidden("InvalidRequestFormat", &e.to_string()),
        };
        match v.get("events") {
            None | Some(Value::Null) => {}
            Some(Value::Array(a)) => {
                for e in a {
                    let Some(s) = e.as_str() else {
                        return forbidden("InvalidRequestFormat", "events must be strings");
                    };
                    events.push(s.to_string());
                }
            }
            Some(_) => return forbidden("InvalidRequestFormat", "events must be an array"),
        }
    }
    // "Valid strings: INVOKE, SHUTDOWN."
    if let Some(bad) = events.iter().find(|e| *e != "INVOKE" && *e != "SHUTDOWN") {
        return forbidden(
            "Extension.InvalidEventType",
            &format!("{bad}: invalid event type"),
        );
    }
    let account = header(&h, "Lambda-Extension-Accept-Feature")
        .map(|f| f.split(',').any(|x| x.trim() == "accountId"))
        .unwrap_or(false);
    let id = uuid::Uuid::new_v4().to_string();
    {
        let mut st = sh.lock();
        if st.phase != Phase::Init {
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
        if !st.launched.contains(&name) {
            return forbidden(
                "Extension.InvalidExtensionName",
                &format!(
                    "Lambda-Extension-Name {name:?} is not the file name of an extension in extensions/ (launched: {:?})",
                    st.launched
                ),
            );
        }
        if st.exts.iter().any(|e| e.name == name) {
            return forbidden(
                "Extension.InvalidExtensionState",
                "Extension with this name already registered",
            );
        }
        if st.exts.len() >= MAX_EXTENSIONS {
            return forbidden(
                "Extension.TooManyExtensions",
                &format!("Extension limit ({MAX_EXTENSIONS}) reached"),
            );
        }
        st.exts.push(Ext {
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
    sh.bump();
    let mut body = json!({
        "functionName": sh.cfg.function_name,
        "functionVersion": "$LATEST",
        "handler": sh.cfg.handler,
    });
    if account {
        body["accountId"] = Value::String(sh.cfg.account_id.clone());
    }
    with_headers(
        json_response(StatusCode::OK, body.to_string()),
        &[("Lambda-Extension-Identifier", &id)],
    )
}

/// Extensions API doc, "Next": blocks until the next event for this extension.
async fn ext_next(State(sh): State<Arc<Shared>>, h: HeaderMap) -> Response {
    let id = match ext_id(&h) {
        Ok(id) => id,
        Err((t, m)) => return forbidden(t, m),
    };
    let rx = {
        let mut st = sh.lock();
        let Some(e) = st.exts.iter_mut().find(|e| e.id == id) else {
            return unknown_ext(&id);
        };
        if e.errored {
            // Init error / Exit error: "After Lambda receives the error, no further API
            // calls succeed."
            return invalid_ext_state("Exited", "Ready", &id);
        }
        if let Some(ev) = e.pending.take() {
            e.ready = false;
            return ext_event_response(&id, ev);
        }
        let (tx, rx) = oneshot::channel();
        e.waiter = Some(tx);
        e.ready = true;
        rx
    };
    sh.bump();
    match rx.await {
        Ok(ev) => ext_event_response(&id, ev),
        Err(_) => internal_error(),
    }
}

fn ext_event_response(id: &str, ev: Vec<u8>) -> Response {
    with_headers(
        json_response(StatusCode::OK, String::from_utf8_lossy(&ev).into_owned()),
        &[("Lambda-Extension-Identifier", id)],
    )
}

/// Extensions API doc, "Init error" (`init = true`) and "Exit error".
async fn ext_error(sh: Arc<Shared>, h: HeaderMap, body: Bytes, init: bool) -> Response {
    let id = match ext_id(&h) {
        Ok(id) => id,
        Err((t, m)) => return forbidden(t, m),
    };
    let Some(error_type) = header(&h, "Lambda-Extension-Function-Error-Type") else {
        // Header "Required: yes"; RIE answers Extension.MissingHeader.
        return forbidden(
            "Extension.MissingHeader",
            "Lambda-Extension-Function-Error-Type not found",
        );
    };
    {
        let mut st = sh.lock();
        let phase = st.phase;
        let Some(e) = st.exts.iter_mut().find(|e| e.id == id) else {
            return unknown_ext(&id);
        };
        let to = if init { "InitError" } else { "ExitError" };
        if e.errored {
            return invalid_ext_state("Exited", to, &id);
        }
        // Init error: "Call it when the extension fails to initialize after it has
        // registered" — only during Init.
        if init && phase != Phase::Init {
            return invalid_ext_state("Ready", to, &id);
        }
        e.errored = true;
        e.ready = false;
        e.waiter = None;
        e.pending = None;
        let record = matches!(phase, Phase::Init | Phase::Idle | Phase::Invoking);
        if record && st.fatal.is_none() {
            st.fatal = Some(Fatal::reported(Some(error_type), &body, error_type));
        }
    }
    sh.bump();
    accepted(Some(&id))
}

async fn ext_init_error(State(sh): State<Arc<Shared>>, h: HeaderMap, body: Bytes) -> Response {
    ext_error(sh, h, body, true).await
}

async fn ext_exit_error(State(sh): State<Arc<Shared>>, h: HeaderMap, body: Bytes) -> Response {
    ext_error(sh, h, body, false).await
}

fn rt_invalid_state(msg: &str) -> Response {
    forbidden("InvalidStateTransition", msg)
}

/// Runtime API doc, "Next Invocation".
async fn rt_next(State(sh): State<Arc<Shared>>) -> Response {
    let rx = {
        let mut st = sh.lock();
        if st.rt.errored {
            return rt_invalid_state("State transition from InitError to Ready failed for runtime");
        }
        if st
            .current
            .as_ref()
            .is_some_and(|c| c.delivered && c.answer.is_none())
        {
            return rt_invalid_state(
                "State transition from Running to Ready failed for runtime. Error: the invocation has no response yet",
            );
        }
        if let Some(ev) = st.rt.pending.take() {
            st.rt.ready = false;
            if let Some(c) = st.current.as_mut() {
                c.delivered = true;
            }
            drop(st);
            return rt_event_response(&sh, ev);
        }
        let (tx, rx) = oneshot::channel();
        st.rt.waiter = Some(tx);
        st.rt.ready = true;
        rx
    };
    sh.bump();
    match rx.await {
        Ok(ev) => rt_event_response(&sh, ev),
        Err(_) => internal_error(),
    }
}

fn rt_event_response(sh: &Shared, ev: RtEvent) -> Response {
    // Runtime API doc, Next Invocation, response headers. Client-Context and
    // Cognito-Identity are only sent when set (never, for this sandbox).
    let deadline = ev.deadline_ms.to_string();
    let arn = sh.cfg.function_arn();
    with_headers(
        json_response(StatusCode::OK, String::new()),
        &[
            ("Lambda-Runtime-Aws-Request-Id", &ev.request_id),
            ("Lambda-Runtime-Deadline-Ms", &deadline),
            ("Lambda-Runtime-Invoked-Function-Arn", &arn),
            ("Lambda-Runtime-Trace-Id", &ev.trace_id),
        ],
    )
    .map(|_| axum::body::Body::from(ev.body))
}

fn invalid_request_id() -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        "Invalid request ID",
    )
}

/// Runtime API doc, "Invocation Response" / "Invocation Error".
fn rt_answer(sh: &Shared, id: &str, answer: Result<Vec<u8>, FunctionError>) -> Response {
    {
        let mut st = sh.lock();
        match st.current.as_mut() {
            Some(c) if c.request_id == id && c.delivered && c.answer.is_none() => {
                if let Some(tx) = c.answered.take() {
                    let _ = tx.send(answer.clone());
                }
                c.answer = Some(answer);
            }
            _ => return invalid_request_id(),
        }
    }
    sh.bump();
    accepted(None)
}

async fn rt_response(
    State(sh): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Response {
    rt_answer(&sh, &id, Ok(body.to_vec()))
}

async fn rt_error(
    State(sh): State<Arc<Shared>>,
    UrlPath(id): UrlPath<String>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let f = Fatal::reported(
        header(&h, "Lambda-Runtime-Function-Error-Type"),
        &body,
        "Unhandled",
    );
    rt_answer(
        &sh,
        &id,
        Err(FunctionError {
            error_type: f.error_type,
            body: f.body,
        }),
    )
}

/// Runtime API doc, "Initialization Error".
async fn rt_init_error(State(sh): State<Arc<Shared>>, h: HeaderMap, body: Bytes) -> Response {
    {
        let mut st = sh.lock();
        if st.phase != Phase::Init || st.rt.errored || st.rt.ready {
            return rt_invalid_state(
                "State transition to InitError failed for runtime: not initializing",
            );
        }
        st.rt.errored = true;
        if st.fatal.is_none() {
            st.fatal = Some(Fatal::reported(
                header(&h, "Lambda-Runtime-Function-Error-Type"),
                &body,
                "Runtime.Unknown",
            ));
        }
    }
    sh.bump();
    accepted(None)
}

fn runtime_api_router(sh: Arc<Shared>) -> Router {
    Router::new()
        .route("/2020-01-01/extension/register", post(ext_register))
        .route("/2020-01-01/extension/event/next", get(ext_next))
        .route("/2020-01-01/extension/init/error", post(ext_init_error))
        .route("/2020-01-01/extension/exit/error", post(ext_exit_error))
        .route("/2018-06-01/runtime/invocation/next", get(rt_next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(rt_response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(rt_error))
        .route("/2018-06-01/runtime/init/error", post(rt_init_error))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(sh)
}

// ---------------------------------------------------------------------------------------
// Function URL front and RIE-compatible invoke endpoint.

async fn function_url_handler(
    State((sh, port)): State<(Arc<Shared>, u16)>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large").into_response();
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    // Headers the function URL front adds before the event reaches the function.
    let trace = trace_id();
    let port_s = port.to_string();
    let ip = peer.ip().to_string();
    for (k, v) in [
        ("x-amzn-trace-id", trace.as_str()),
        ("x-forwarded-for", ip.as_str()),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-port", port_s.as_str()),
    ] {
        if let Ok(v) = HeaderValue::from_str(v) {
            parts.headers.insert(HeaderName::from_static(k), v);
        }
    }
    let ctx = UrlContext {
        account_id: "anonymous".to_string(),
        api_id: sh.api_id.clone(),
        region: sh.cfg.region.clone(),
        request_id: request_id.clone(),
        source_ip: ip,
        time_epoch_ms: epoch_ms(),
    };
    let event = function_url_event(&parts, &body, &ctx);
    // The invoke goes on after the answer (extensions finish, the environment freezes),
    // but the caller gets the answer as soon as the runtime posts it, as from Lambda.
    let (answered_tx, answered_rx) = oneshot::channel();
    let invoke = {
        let sh = sh.clone();
        let request_id = request_id.clone();
        tokio::spawn(async move {
            sh.invoke_answering(event, request_id, Some(answered_tx))
                .await
        })
    };
    let result = match answered_rx.await {
        Ok(result) => result,
        // No answer from the runtime: the invoke's own outcome says why.
        Err(_) => match invoke.await {
            Ok(out) => out.result,
            Err(_) => {
                Err(Fatal::new("Sandbox.Failure", "the invoke task failed".into()).function_error())
            }
        },
    };
    let r = match &result {
        Ok(answer) => function_url_response(answer),
        Err(_) => function_url_error_response(),
    };
    let mut resp = Response::new(axum::body::Body::from(r.body));
    *resp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut hs: Vec<(&str, &str)> = r
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    hs.push(("x-amzn-requestid", &request_id));
    with_headers(resp, &hs)
}

/// `POST /2015-03-31/functions/function/invocations` (RIE / `sam local`; Lambda Invoke
/// API: a function error is a 200 with `X-Amz-Function-Error: Unhandled`).
async fn rie_invoke(State(sh): State<Arc<Shared>>, body: Bytes) -> Response {
    let out = sh.invoke(body.to_vec()).await;
    let id = out.request_id.clone();
    match out.result {
        Ok(answer) => with_headers(
            (StatusCode::OK, answer).into_response(),
            &[
                ("Content-Type", "application/json"),
                ("X-Amzn-RequestId", &id),
                ("X-Amz-Executed-Version", "$LATEST"),
            ],
        ),
        Err(e) => with_headers(
            (StatusCode::OK, e.body).into_response(),
            &[
                ("Content-Type", "application/json"),
                ("X-Amz-Function-Error", "Unhandled"),
                ("X-Amzn-RequestId", &id),
                ("X-Amz-Executed-Version", "$LATEST"),
            ],
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Public handle.

/// A local Lambda execution environment.
pub struct Sandbox {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    function_url: Option<SocketAddr>,
    invoke_url: Option<SocketAddr>,
}

impl Sandbox {
    /// Binds the listeners and runs Init. Returns `Ok` even when Init failed (see
    /// [`Sandbox::init_outcome`]); `Err` only when the sandbox itself cannot work.
    pub async fn start(config: SandboxConfig) -> anyhow::Result<Sandbox> {
        anyhow::ensure!(
            config.layer_dir.is_dir(),
            "layer directory {} does not exist",
            config.layer_dir.display()
        );
        if let Some(t) = &config.task_dir {
            anyhow::ensure!(t.is_dir(), "task directory {} does not exist", t.display());
        }
        // Orphaned descendants of the sandbox processes are re-parented to this process
        // (instead of init), so they can still be found and reaped.
        let _ = nix::sys::prctl::set_child_subreaper(true);
        let api_listener = TcpListener::bind(config.runtime_api_addr)
            .await
            .with_context(|| format!("binding the runtime API on {}", config.runtime_api_addr))?;
        let api = api_listener.local_addr()?;
        let furl_listener = match config.function_url_addr {
            Some(a) => Some(
                TcpListener::bind(a)
                    .await
                    .with_context(|| format!("binding the function URL on {a}"))?,
            ),
            None => None,
        };
        let invoke_listener = match config.invoke_addr {
            Some(a) => Some(
                TcpListener::bind(a)
                    .await
                    .with_context(|| format!("binding the invoke endpoint on {a}"))?,
            ),
            None => None,
        };
        let now = epoch_ms();
        let shared = Arc::new(Shared {
            logs: LogSink::new(config.echo_logs),
            api,
            st: Mutex::new(St {
                gen: 0,
                phase: Phase::NeedsInit,
                closing: false,
                launched: Vec::new(),
                exts: Vec::new(),
                rt: Rt::default(),
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
            known: Mutex::new(Default::default()),
            api_id: hex_id(32),
            log_stream: format!("{}/[$LATEST]{}", slash_date(now), hex_id(32)),
            host_path: std::env::var("PATH").ok(),
            cfg: config,
        });
        let mut tasks = Vec::new();
        let router = runtime_api_router(shared.clone());
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(api_listener, router).await;
        }));
        let mut function_url = None;
        if let Some(l) = furl_listener {
            let addr = l.local_addr()?;
            function_url = Some(addr);
            let router = Router::new()
                .fallback(function_url_handler)
                .with_state((shared.clone(), addr.port()));
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(
                    l,
                    router.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await;
            }));
        }
        let mut invoke_url = None;
        if let Some(l) = invoke_listener {
            invoke_url = Some(l.local_addr()?);
            let router = Router::new()
                .route(
                    "/2015-03-31/functions/function/invocations",
                    post(rie_invoke),
                )
                .layer(DefaultBodyLimit::max(BODY_LIMIT))
                .with_state(shared.clone());
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(l, router).await;
            }));
        }
        // Reaper for orphaned, exited descendants.
        let sh = shared.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let owned: HashSet<i32> = sh.root_pids().into_iter().collect();
                procs::reap_orphans(&sh.tree(), &owned);
            }
        }));
        let sandbox = Sandbox {
            shared: shared.clone(),
            tasks,
            function_url,
            invoke_url,
        };
        {
            let _guard = shared.invoke_lock.lock().await;
            shared.run_init().await;
        }
        Ok(sandbox)
    }

    /// The outcome of the latest Init (a re-init after a reset replaces it).
    pub fn init_outcome(&self) -> InitOutcome {
        self.shared.lock().init_outcome.clone()
    }

    /// Invokes the function with `payload` (waits for a running invoke first).
    pub async fn invoke(&self, payload: Vec<u8>) -> InvokeOutcome {
        self.shared.invoke(payload).await
    }

    pub fn function_url(&self) -> Option<SocketAddr> {
        self.function_url
    }

    pub fn invoke_url(&self) -> Option<SocketAddr> {
        self.invoke_url
    }

    /// The `AWS_LAMBDA_RUNTIME_API` address.
    pub fn runtime_api(&self) -> SocketAddr {
        self.shared.api
    }

    /// Everything printed so far (process lines and platform lines), one per line.
    pub fn logs(&self) -> String {
        self.shared.logs.text()
    }

    /// Waits until a log line satisfies `pred`; false on timeout.
    pub async fn wait_for_log(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> bool {
        self.shared.logs.wait_for(pred, timeout).await
    }

    /// Every live process of the sandbox tree (including zombies not yet reaped).
    pub fn processes(&self) -> Vec<ProcessInfo> {
        self.shared.tree()
    }

    /// The Shutdown phase with reason `spindown`, then everything left is killed.
    pub async fn shutdown(self) -> ShutdownReport {
        {
            self.shared.lock().closing = true;
        }
        self.shared.bump();
        let guard = self.shared.invoke_lock.clone().lock_owned().await;
        let report = self
            .shared
            .graceful_shutdown("spindown", Phase::Closed)
            .await;
        drop(guard);
        report
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        {
            let mut st = self.shared.lock();
            st.closing = true;
            st.phase = Phase::Closed;
        }
        self.shared.kill_now();
    }
}

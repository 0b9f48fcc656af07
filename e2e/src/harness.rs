//! One test body, two harnesses: the home-made sandbox (which freezes the environment and
//! fronts a Function URL) and AWS's own Runtime Interface Emulator (the reference where
//! both implement a thing). A test takes the [`Harness`] as a parameter and drives the
//! function through [`Function`]; [`both_harnesses!`](crate::both_harnesses) makes one
//! `#[tokio::test]` per platform of it, on today's blackbox_exporter, and
//! [`on_the_layer_s_blackbox!`](crate::on_the_layer_s_blackbox) one on the older release
//! the layer directory holds in `make test`.
//!
//! RIE has no Function URL: a request is turned into the payload format 2.0 event with the
//! sandbox's own translation (the same headers a Function URL adds), posted to RIE's invoke
//! endpoint, and the answer mapped back as a Function URL maps it (a function error is a
//! 502). RIE runs Init at the first invoke, so an Init failure is read from that invoke's
//! answer, where the sandbox reports it when it starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::http::{self, Method};
use lambda_blackbox_contract::replacement::EXTENSION_COMM;
use lambda_blackbox_contract::{ListenAddress, LISTEN_ADDRESS_VAR};
use lambda_sandbox::proc_fs::ProcessInfo;
use lambda_sandbox::{
    add_front_headers, function_url_error_response, function_url_event, function_url_response,
    InitOutcome, Sandbox, SandboxConfig, ShutdownReport, UrlContext,
};
use serde_json::Value;

use crate::rie::RieFunction;
use crate::{
    free_port, init_failure, layer_dir, sid_blackbox, wrapper_script, Answer, InitFailure,
};

/// What runs the execution environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Sandbox,
    Rie,
}

/// Which blackbox_exporter the extension starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlackboxRelease {
    /// Today's release: Debian sid's 0.28 (LAMBDA_BLACKBOX_SID_BLACKBOX), given to the
    /// extension as BLACKBOX_EXPORTER_BIN.
    Newest,
    /// The one in the layer directory: in `make test`, Debian bookworm's 0.23.
    Layer,
}

/// Where a test runs: a platform and a blackbox_exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Harness {
    pub platform: Platform,
    pub blackbox: BlackboxRelease,
}

impl Harness {
    pub const SANDBOX: Harness = Harness {
        platform: Platform::Sandbox,
        blackbox: BlackboxRelease::Newest,
    };
    pub const RIE: Harness = Harness {
        platform: Platform::Rie,
        blackbox: BlackboxRelease::Newest,
    };
    pub const SANDBOX_WITH_LAYER_BLACKBOX: Harness = Harness {
        platform: Platform::Sandbox,
        blackbox: BlackboxRelease::Layer,
    };

    /// The blackbox_exporter binary this harness runs.
    pub fn blackbox_binary(&self) -> PathBuf {
        match self.blackbox {
            BlackboxRelease::Newest => sid_blackbox(),
            BlackboxRelease::Layer => layer_dir().join("bin/blackbox_exporter"),
        }
    }

    /// A stand-in for blackbox_exporter in `dir`: a script that runs `body` with this
    /// harness's binary as $REAL, so a test can delay, break or replace the start.
    pub fn wrapper_binary(&self, dir: &Path, body: &str) -> PathBuf {
        wrapper_script(dir, &self.blackbox_binary(), body)
    }
}

/// Makes `#[tokio::test]`s `sandbox::NAME` and `rie::NAME` of each `async fn NAME(Harness)`,
/// both on today's blackbox_exporter.
#[macro_export]
macro_rules! both_harnesses {
    ($($name:ident),+ $(,)?) => {
        $crate::one_harness!(sandbox, SANDBOX, $($name),+);
        $crate::one_harness!(rie, RIE, $($name),+);
    };
}

/// Makes `#[tokio::test]`s `layer_blackbox::NAME`: the sandbox with the layer's own
/// blackbox_exporter (the older release in `make test`), for the subsets the matrix keeps
/// on it (readiness, Init failures, a probe end to end).
#[macro_export]
macro_rules! on_the_layer_s_blackbox {
    ($($name:ident),+ $(,)?) => {
        $crate::one_harness!(layer_blackbox, SANDBOX_WITH_LAYER_BLACKBOX, $($name),+);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! one_harness {
    ($module:ident, $harness:ident, $($name:ident),+) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::harness::Harness::$harness).await
                }
            )+
        }
    };
}

/// The function under test, in either harness.
pub struct Function {
    pub harness: Harness,
    /// BLACKBOX_LISTEN_ADDRESS's port.
    pub blackbox_port: u16,
    front: Front,
}

enum Front {
    Sandbox(Sandbox),
    Rie(RieFunction),
}

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

/// How the environment ended: its whole log, and the processes that were there before.
pub struct Ended {
    pub logs: String,
    pub processes_before: Vec<ProcessInfo>,
}

/// A function to start: the layer `make test` built with a free loopback
/// BLACKBOX_LISTEN_ADDRESS and BLACKBOX_ALLOWED_TARGETS 127.0.0.1, unless the test says
/// otherwise.
#[must_use = "start() starts it"]
pub struct Launch {
    harness: Harness,
    layer: Option<PathBuf>,
    task: Option<PathBuf>,
    env: Vec<(String, String)>,
    echo_logs: bool,
}

impl Launch {
    /// Another layer directory: a stand-in for a part of it, or another build.
    pub fn layer(mut self, layer: &Path) -> Launch {
        self.layer = Some(layer.to_path_buf());
        self
    }

    /// A function package of its own (`task`, the function's /var/task, holding its
    /// `bootstrap`), as when the layer is attached to an existing function.
    pub fn task(mut self, task: &Path) -> Launch {
        self.task = Some(task.to_path_buf());
        self
    }

    /// The function's variables; a later one wins. AWS_LAMBDA_FUNCTION_TIMEOUT and
    /// AWS_REGION are the function's settings, as Lambda passes them.
    pub fn env(mut self, env: &[(&str, &str)]) -> Launch {
        self.env
            .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// Whether the sandbox copies the environment's log to the test's output (RIE's is
    /// only kept): off for a flood of invokes or a fleet of functions.
    pub fn echo_logs(mut self, echo: bool) -> Launch {
        self.echo_logs = echo;
        self
    }

    pub async fn start(self) -> Function {
        let Launch {
            harness,
            layer,
            task,
            mut env,
            echo_logs,
        } = self;
        let layer = layer.unwrap_or_else(layer_dir);
        let value_of = |env: &[(String, String)], name: &str| {
            env.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        if value_of(&env, "BLACKBOX_EXPORTER_BIN").is_none() {
            let blackbox = harness.blackbox_binary();
            env.push((
                "BLACKBOX_EXPORTER_BIN".into(),
                blackbox.display().to_string(),
            ));
        }
        // Loopback is refused by default; these tests probe targets they run on loopback.
        if value_of(&env, "BLACKBOX_ALLOWED_TARGETS").is_none() {
            env.insert(0, ("BLACKBOX_ALLOWED_TARGETS".into(), "127.0.0.1".into()));
        }
        let blackbox_port = match value_of(&env, LISTEN_ADDRESS_VAR) {
            Some(address) => ListenAddress::parse(&address)
                .map(|listen| listen.port())
                .unwrap_or(0),
            None => {
                let port = free_port();
                env.insert(0, (LISTEN_ADDRESS_VAR.into(), format!("127.0.0.1:{port}")));
                port
            }
        };
        let mut config = SandboxConfig::new(&layer);
        config.task_dir = task.clone();
        config.function_url_addr = Some("127.0.0.1:0".parse().unwrap());
        config.invoke_addr = Some("127.0.0.1:0".parse().unwrap());
        config.echo_logs = echo_logs;
        if let Some(seconds) = value_of(&env, "AWS_LAMBDA_FUNCTION_TIMEOUT") {
            let seconds = seconds
                .parse()
                .expect("AWS_LAMBDA_FUNCTION_TIMEOUT in seconds");
            config.function_timeout = Duration::from_secs(seconds);
        }
        if let Some(region) = value_of(&env, "AWS_REGION") {
            config.region = region;
        }
        env.retain(|(name, _)| name != "AWS_LAMBDA_FUNCTION_TIMEOUT" && name != "AWS_REGION");
        let front = match harness.platform {
            Platform::Sandbox => {
                config.env = env;
                Front::Sandbox(Sandbox::start(config).await.expect("the sandbox starts"))
            }
            Platform::Rie => {
                // The same variables, in the order the sandbox would apply them (the
                // later one wins).
                let mut vars = vec![("AWS_REGION".to_string(), config.region.clone())];
                for (name, value) in env {
                    vars.retain(|(n, _)| *n != name);
                    vars.push((name, value));
                }
                let timeout_s = config.function_timeout.as_secs().max(1) as u32;
                Front::Rie(
                    tokio::task::spawn_blocking(move || {
                        let vars: Vec<(&str, &str)> =
                            vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                        RieFunction::start(&layer, task.as_deref(), &vars, timeout_s)
                    })
                    .await
                    .expect("RIE starts"),
                )
            }
        };
        Function {
            harness,
            blackbox_port,
            front,
        }
    }
}

impl Function {
    /// The layer with `env` (see [`Launch`]).
    pub async fn start(harness: Harness, env: &[(&str, &str)]) -> Function {
        Function::launch(harness).env(env).start().await
    }

    /// A function to start with more than its variables changed.
    pub fn launch(harness: Harness) -> Launch {
        Launch {
            harness,
            layer: None,
            task: None,
            env: Vec::new(),
            echo_logs: true,
        }
    }

    /// The sandbox, for what only it does (freezing, its reports).
    pub fn sandbox(&self) -> Option<&Sandbox> {
        match &self.front {
            Front::Sandbox(sandbox) => Some(sandbox),
            Front::Rie(_) => None,
        }
    }

    /// The sandbox's Function URL, for a client of the test's own (Prometheus, a
    /// keep-alive connection); RIE has none.
    pub fn function_url(&self) -> SocketAddr {
        self.sandbox()
            .and_then(Sandbox::function_url)
            .expect("only the sandbox fronts a Function URL")
    }

    /// How Init failed. The sandbox ran Init at start; RIE runs it at the first invoke,
    /// records the platform's type in its log ("First fatal error stored in appctx"),
    /// and answers with the runtime's error document, or with a bare 502 when an
    /// extension failed (its retry of Init in the invoke trips over the extension it
    /// already registered: ErrAgentNameCollision). The extension's own type and message
    /// are then read from its log line, as a user would read them in CloudWatch.
    pub async fn init_failure(&self) -> InitFailure {
        match &self.front {
            Front::Sandbox(sandbox) => init_failure(sandbox.init_outcome()),
            Front::Rie(_) => {
                let answer = self.invoke(b"{}".to_vec()).await;
                let logs = self.logs();
                let platform_type = logs
                    .lines()
                    .find_map(|l| l.split("First fatal error stored in appctx: ").nth(1))
                    .unwrap_or_else(|| panic!("RIE recorded no Init failure:\n{logs}"))
                    .trim()
                    .to_string();
                let document = serde_json::from_str::<Value>(&answer.body).ok();
                let (reported_type, message) = match document {
                    Some(document) => {
                        let field =
                            |name: &str| document[name].as_str().unwrap_or_default().to_string();
                        (field("errorType"), field("errorMessage"))
                    }
                    None => extension_error_line(&logs)
                        .unwrap_or_else(|| panic!("{answer:?}: no extension error line:\n{logs}")),
                };
                InitFailure {
                    platform_type,
                    reported_type,
                    message,
                }
            }
        }
    }

    /// Asserts that an extension failed Init with `reported_type` and the platform
    /// recorded `Extension.InitError`; returns the extension's message.
    pub async fn extension_init_failure(&self, reported_type: &str) -> String {
        let failure = self.init_failure().await;
        assert_eq!(
            failure.platform_type,
            "Extension.InitError",
            "{failure:?}\n{}",
            self.logs()
        );
        assert_eq!(failure.reported_type, reported_type, "{failure:?}");
        failure.message
    }

    /// Asserts that Init went well (the sandbox's outcome; under RIE, Init runs at the
    /// first invoke and a failure shows in that invoke's answer).
    pub fn assert_initialized(&self) {
        if let Front::Sandbox(sandbox) = &self.front {
            assert!(
                matches!(sandbox.init_outcome(), InitOutcome::Ok { .. }),
                "{:?}\n{}",
                sandbox.init_outcome(),
                sandbox.logs()
            );
        }
    }

    /// The platform's line that ends Init.
    pub fn init_report_marker(&self) -> &'static str {
        match self.harness.platform {
            Platform::Sandbox => "INIT_REPORT",
            Platform::Rie => "INIT REPORT",
        }
    }

    /// The invoke endpoint: RIE's, or the sandbox's copy of it.
    pub fn invoke_addr(&self) -> SocketAddr {
        match &self.front {
            Front::Sandbox(sandbox) => sandbox
                .invoke_url()
                .expect("the sandbox serves the invoke endpoint"),
            Front::Rie(rie) => rie.invoke_addr,
        }
    }

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

    pub fn logs(&self) -> String {
        match &self.front {
            Front::Sandbox(sandbox) => sandbox.logs(),
            Front::Rie(rie) => rie.logs(),
        }
    }

    /// Waits until a log line satisfies `pred`; false after `timeout`.
    pub async fn wait_for_log(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        loop {
            if self.logs().lines().any(&pred) {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Every process of the environment: the extension, blackbox, the bootstrap (and RIE).
    pub fn processes(&self) -> Vec<ProcessInfo> {
        match &self.front {
            Front::Sandbox(sandbox) => sandbox.processes(),
            Front::Rie(rie) => rie.processes(),
        }
    }

    pub fn blackbox_pids(&self) -> Vec<i32> {
        crate::blackbox_pids(&self.processes())
    }

    /// AWS_LAMBDA_RUNTIME_API's port.
    pub fn runtime_api_port(&self) -> u16 {
        match &self.front {
            Front::Sandbox(sandbox) => sandbox.runtime_api().port(),
            Front::Rie(rie) => rie.runtime_api.port(),
        }
    }

    /// Waits until `count` invokes have started.
    pub async fn wait_for_invokes(&self, count: usize) {
        self.wait_for_count("START RequestId", count, "started")
            .await
    }

    /// Waits until `count` invokes have ended: the sandbox prints REPORT after it froze
    /// the environment again, RIE when the runtime asked for the next event.
    pub async fn wait_for_reports(&self, count: usize) {
        self.wait_for_count("REPORT RequestId", count, "ended")
            .await
    }

    async fn wait_for_count(&self, line: &str, count: usize, what: &str) {
        let started = Instant::now();
        while self.logs().matches(line).count() < count {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "invoke {count} has not {what} after 10 s:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Asserts that a log line holding `text` comes within `timeout`.
    pub async fn expect_log(&self, text: &str, timeout: Duration) {
        assert!(
            self.wait_for_log(|l| l.contains(text), timeout).await,
            "no line with {text:?} after {timeout:?}:\n{}",
            self.logs()
        );
    }

    /// The runtime's processes (the bootstrap).
    pub fn runtime_pids(&self) -> Vec<i32> {
        self.processes()
            .into_iter()
            .filter(|p| p.comm == "bootstrap")
            .map(|p| p.pid)
            .collect()
    }

    /// Ends the environment as its platform does when it is done with it: the sandbox's
    /// Shutdown phase (`spindown`), SIGTERM to RIE (`SandboxTerminated`, as a container
    /// stop). Asserts that the extension and blackbox ended by themselves within the 2 s
    /// Shutdown deadline: the sandbox killed nothing; under RIE (whose PID namespace takes
    /// every process with it when RIE exits) each was gone within 1.5 s of SIGTERM.
    pub async fn shutdown(self) -> Ended {
        let processes_before = self.processes();
        let logs = match self.front {
            Front::Sandbox(sandbox) => {
                let report = sandbox.shutdown().await;
                assert!(
                    report.killed.is_empty() && report.leftover.is_empty(),
                    "the sandbox had to kill {:?}, left {:?}:\n{}",
                    report.killed,
                    report.leftover,
                    report.logs
                );
                report.logs
            }
            Front::Rie(rie) => {
                let watched: Vec<ProcessInfo> = processes_before
                    .iter()
                    .filter(|p| {
                        p.comm == EXTENSION_COMM
                            || crate::blackbox_pids(&processes_before).contains(&p.pid)
                    })
                    .cloned()
                    .collect();
                let (status, logs, gone) = tokio::task::spawn_blocking(move || {
                    let gone = rie.terminate_watching(Duration::from_secs(5), &watched);
                    (gone, watched)
                })
                .await
                .map(|((status, logs, gone), watched)| {
                    (
                        status,
                        logs,
                        watched.into_iter().zip(gone).collect::<Vec<_>>(),
                    )
                })
                .expect("RIE ends");
                assert!(status.success(), "RIE exits 0 on SIGTERM: {status}\n{logs}");
                for (process, gone_after) in &gone {
                    assert!(
                        gone_after.is_some_and(|after| after < Duration::from_millis(1500)),
                        "{} ({}) did not end by itself after SIGTERM ({gone_after:?}):\n{logs}",
                        process.pid,
                        process.comm
                    );
                }
                logs
            }
        };
        Ended {
            logs,
            processes_before,
        }
    }

    /// Ends the sandbox as [`Function::shutdown`] does and returns its own report of the
    /// Shutdown phase (when each extension exited, what it had to kill), asserting
    /// nothing; the sandbox only.
    pub async fn shutdown_sandbox(self) -> ShutdownReport {
        match self.front {
            Front::Sandbox(sandbox) => sandbox.shutdown().await,
            Front::Rie(_) => panic!("only the sandbox reports its Shutdown phase"),
        }
    }
}

impl Ended {
    /// Asserts that none of the environment's processes is left (a pid reused by an
    /// unrelated process does not count: the start time tells them apart).
    pub fn assert_no_process_left(&self) {
        for before in &self.processes_before {
            let now = lambda_sandbox::proc_fs::read_process(before.pid);
            assert!(
                now.is_none_or(|p| p.start_time != before.start_time),
                "{} ({}) is left:\n{}",
                before.pid,
                before.comm,
                self.logs
            );
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

/// The extension's own report of a failure, from its log line
/// `ERROR blackbox_extension::…: MESSAGE error_type="TYPE"`: (TYPE, MESSAGE).
fn extension_error_line(logs: &str) -> Option<(String, String)> {
    logs.lines()
        .filter(|l| l.contains("ERROR blackbox_extension"))
        .find_map(|line| {
            let (head, error_type) = line.rsplit_once(" error_type=\"")?;
            let (_, message) = head.split_once(": ")?;
            Some((
                error_type.trim_end_matches('"').to_string(),
                message.to_string(),
            ))
        })
}

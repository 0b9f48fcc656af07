//! The layer's end-to-end tests (under `tests/`) and what they share: where the layer
//! is, starting it in the sandbox, targets on loopback, answers and metrics.

pub mod dns;
pub mod handler_port;
pub mod harness;
pub mod prometheus;
pub mod receiver;
pub mod recorder;
pub mod replay;
pub mod rie;

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::OriginalUri;
use axum::routing::get;
use lambda_sandbox::{InitOutcome, Sandbox, SandboxConfig};

pub fn layer_dir() -> PathBuf {
    let dir = std::env::var_os("LAMBDA_BLACKBOX_LAYER").map(PathBuf::from).expect(
        "LAMBDA_BLACKBOX_LAYER is not set: run these tests with `make test`, which builds the layer directory",
    );
    assert!(
        dir.join("extensions/blackbox-extension").is_file(),
        "{} is not a layer directory",
        dir.display()
    );
    dir
}

pub use lambda_sandbox::test_support::{free_port, TempDir};

/// A binary of the workspace (`lambda-sandbox`, `prometheus-config`): cargo puts them
/// beside the test executables' `deps/` when it builds the workspace, as `make test` does.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile_dir| profile_dir.join(name))
        .expect("the test runs from target/<profile>/deps");
    assert!(
        path.is_file(),
        "{} is not built: run the tests with `make test` (cargo test --workspace builds it)",
        path.display()
    );
    path
}

/// Debian sid's blackbox_exporter (today's release, with the grpc prober that bookworm's
/// 0.23 lacks), which `make test` unpacks (layer/scripts/debian-package-root.sh --suite sid) and names
/// in LAMBDA_BLACKBOX_SID_BLACKBOX.
pub fn sid_blackbox() -> PathBuf {
    let path = std::env::var_os("LAMBDA_BLACKBOX_SID_BLACKBOX").map(PathBuf::from).expect(
        "LAMBDA_BLACKBOX_SID_BLACKBOX is not set: run the tests with `make test`, which unpacks Debian sid's \
         blackbox_exporter (layer/scripts/debian-package-root.sh --suite sid amd64 target/debian-sid/amd64 prometheus-blackbox-exporter)",
    );
    assert!(
        path.is_file(),
        "LAMBDA_BLACKBOX_SID_BLACKBOX={}: no such file",
        path.display()
    );
    path
}

/// Runs `command` and returns what it printed; panics with its stderr when it fails.
pub fn output_of(command: &mut std::process::Command, what: &str) -> std::process::Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{what} does not start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A query value as Prometheus sends it: every byte but the unreserved ones percent-encoded.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// A real HTTP target on loopback that records what it was asked.
pub struct Target {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<String>>>,
}

pub async fn start_target() -> Target {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = axum::Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/redirect",
            get(|OriginalUri(uri): OriginalUri| async move {
                let to = uri
                    .query()
                    .and_then(|q| q.strip_prefix("to="))
                    .unwrap_or("/")
                    .to_string();
                (
                    axum::http::StatusCode::FOUND,
                    [(axum::http::header::LOCATION, to)],
                    "",
                )
            }),
        )
        .fallback(move |OriginalUri(uri): OriginalUri| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(uri.to_string());
                "ok"
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Target { addr, seen }
}

pub struct Layer {
    pub sandbox: Sandbox,
    pub blackbox_port: u16,
}

pub fn config(layer: &Path, env: &[(&str, &str)]) -> (SandboxConfig, u16) {
    let blackbox_port = free_port();
    let mut config = SandboxConfig::new(layer);
    config.function_url_addr = Some("127.0.0.1:0".parse().unwrap());
    config.echo_logs = true;
    config.env.push((
        "BLACKBOX_LISTEN_ADDRESS".into(),
        format!("127.0.0.1:{blackbox_port}"),
    ));
    // Loopback is refused by default; these tests probe targets they run on loopback.
    if !env.iter().any(|(k, _)| *k == "BLACKBOX_ALLOWED_TARGETS") {
        config
            .env
            .push(("BLACKBOX_ALLOWED_TARGETS".into(), "127.0.0.1".into()));
    }
    for (k, v) in env {
        config.env.push((k.to_string(), v.to_string()));
    }
    (config, blackbox_port)
}

/// Starts the sandbox and asserts that Init went well (the outcome and the log otherwise).
pub async fn start_initialized(config: SandboxConfig) -> Sandbox {
    let sandbox = Sandbox::start(config).await.expect("the sandbox starts");
    assert!(
        matches!(sandbox.init_outcome(), InitOutcome::Ok { .. }),
        "{:?}\n{}",
        sandbox.init_outcome(),
        sandbox.logs()
    );
    sandbox
}

pub async fn start_layer(env: &[(&str, &str)]) -> Layer {
    let (config, blackbox_port) = config(&layer_dir(), env);
    let sandbox = Sandbox::start(config).await.expect("the sandbox starts");
    Layer {
        sandbox,
        blackbox_port,
    }
}

pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
    pub elapsed: Duration,
    pub www_authenticate: String,
    pub allow: String,
}

impl Layer {
    pub async fn get(&self, path_and_query: &str, headers: &[(&str, &str)]) -> Answer {
        self.request(reqwest::Method::GET, path_and_query, headers)
            .await
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Answer {
        let function_url = self.sandbox.function_url().expect("a Function URL");
        function_url_request(function_url, method, path_and_query, headers).await
    }

    pub async fn probe(&self, target: &str, module: &str) -> Answer {
        self.get(&format!("/probe?target={target}&module={module}"), &[])
            .await
    }

    /// Waits until `count` invokes have started.
    pub async fn wait_for_invokes(&self, count: usize) {
        let started = Instant::now();
        while self.sandbox.logs().matches("START RequestId").count() < count {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no invoke {count} started"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Waits until `count` invokes have ended (their REPORT line is printed after the
    /// environment is frozen again): the Function URL answers before that, as Lambda does.
    pub async fn wait_for_reports(&self, count: usize) {
        let started = Instant::now();
        while self.sandbox.logs().matches("\nREPORT RequestId").count() < count {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "invoke {count} did not end"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    pub fn blackbox_pids(&self) -> Vec<i32> {
        blackbox_pids(&self.sandbox.processes())
    }
}

/// An HTTP request to a Function URL on `function_url`, and the answer a client gets.
pub async fn function_url_request(
    function_url: SocketAddr,
    method: reqwest::Method,
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
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let content_type = header("content-type");
    let www_authenticate = header("www-authenticate");
    let allow = header("allow");
    let body = response.text().await.unwrap_or_default();
    Answer {
        status,
        content_type,
        body,
        elapsed: started.elapsed(),
        www_authenticate,
        allow,
    }
}

/// The extension's live children: blackbox_exporter, whatever its binary is called
/// (Debian's is `prometheus-blackbox-exporter`).
pub fn blackbox_pids(processes: &[lambda_sandbox::ProcessInfo]) -> Vec<i32> {
    let extensions: Vec<i32> = processes
        .iter()
        .filter(|p| p.comm == "blackbox-extens")
        .map(|p| p.pid)
        .collect();
    processes
        .iter()
        .filter(|p| extensions.contains(&p.ppid) && p.state != 'Z')
        .map(|p| p.pid)
        .collect()
}

/// A probe that reached its target: 200, blackbox's text/plain, probe_success 1 and the
/// target's 200.
pub fn assert_probe_succeeded(answer: &Answer) {
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.content_type.starts_with("text/plain"),
        "content type {:?}",
        answer.content_type
    );
    assert_eq!(
        metric(&answer.body, "probe_success"),
        Some(1.0),
        "{}",
        answer.body
    );
    assert_eq!(metric(&answer.body, "probe_http_status_code"), Some(200.0));
}

/// A probe blackbox ran and that failed (the target, or the connect guard, refused it):
/// 200 with probe_success 0.
pub fn assert_probe_failed(answer: &Answer) {
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        metric(&answer.body, "probe_success"),
        Some(0.0),
        "{}",
        answer.body
    );
}

pub fn metric(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A failed Init as the platform records it and as the failing process reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitFailure {
    /// The platform's type: `Extension.InitError` when an extension called init/error
    /// (RIE's rapid records that, whatever the extension's own type), else the
    /// runtime's type or the platform's own (`Extension.Crash`, `Sandbox.Timedout`).
    pub platform_type: String,
    /// The type the failing process reported (the platform's when it reported none).
    pub reported_type: String,
    pub message: String,
}

/// The sandbox's Init outcome as an [`InitFailure`]; panics when Init went well.
pub fn init_failure(outcome: InitOutcome) -> InitFailure {
    match outcome {
        InitOutcome::Failed {
            error_type,
            error_message,
            body,
        } => {
            let reported_type = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|document| document["errorType"].as_str().map(str::to_string))
                .unwrap_or_else(|| error_type.clone());
            InitFailure {
                platform_type: error_type,
                reported_type,
                message: error_message,
            }
        }
        other => panic!("Init should have failed, got {other:?}"),
    }
}

/// A stand-in for blackbox_exporter: a script in `dir` that runs `body` with `real` as
/// $REAL, so a test can delay, break or replace the start.
pub fn wrapper_script(dir: &Path, real: &Path, body: &str) -> PathBuf {
    let path = dir.join("blackbox_wrapper");
    std::fs::write(
        &path,
        format!("#!/bin/sh\nREAL='{}'\n{body}\n", real.display()),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The interpreter that has awslambdaric; FAILS (not skips) when there is none.
pub fn python_with_awslambdaric() -> String {
    let out = output_of(
        std::process::Command::new("python3")
            .args(["-c", "import sys, awslambdaric; print(sys.executable)"]),
        "python3 importing awslambdaric (pip install awslambdaric)",
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A Python function's package: the handler file and a bootstrap that runs it under
/// awslambdaric, as AWS's python runtimes do.
pub fn python_task(name: &str) -> TempDir {
    let python = python_with_awslambdaric();
    let task = TempDir::new(name);
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../handler/python/blackbox_proxy.py");
    std::fs::copy(&source, task.join("blackbox_proxy.py")).expect("the Python handler");
    let bootstrap = task.join("bootstrap");
    std::fs::write(
        &bootstrap,
        format!(
            "#!/bin/sh\nexport PYTHONPATH=\"$LAMBDA_TASK_ROOT\"\nexec {python} -m awslambdaric blackbox_proxy.handler\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    task
}

/// AWS's Node.js runtime interface client (`aws-lambda-ric`) where `make test-setup`
/// builds it; FAILS (not skips) when it is not there.
pub fn node_ric() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e/ is in the workspace");
    let ric = workspace.join("target/aws-lambda-ric/node_modules/aws-lambda-ric/bin/index.mjs");
    assert!(
        ric.is_file(),
        "{} is missing: run `make test-setup` (scripts/test-setup.sh builds aws-lambda-ric there)",
        ric.display()
    );
    ric
}

/// A Node.js function's package: the handler file and a bootstrap that runs it under
/// aws-lambda-ric with the machine's node, as AWS's nodejs runtimes do.
pub fn node_task(name: &str) -> TempDir {
    let ric = node_ric();
    let out = output_of(
        std::process::Command::new("node").args(["-p", "process.execPath"]),
        "node (the Node.js handler's runtime)",
    );
    let node = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let task = TempDir::new(name);
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../handler/node/index.mjs");
    std::fs::copy(&source, task.join("index.mjs")).expect("the Node.js handler");
    let bootstrap = task.join("bootstrap");
    // The ric takes its working directory as the function's directory (LAMBDA_TASK_ROOT):
    // both harnesses start the bootstrap in the task directory.
    std::fs::write(
        &bootstrap,
        format!(
            "#!/bin/sh\nexec '{node}' '{}' index.handler\n",
            ric.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    task
}

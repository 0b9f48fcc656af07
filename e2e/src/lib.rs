//! The layer's end-to-end tests (under `tests/`) and what they share: where the layer
//! is, targets on loopback, answers and metrics; [`harness`] starts the function.

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
use std::time::Duration;

use axum::extract::OriginalUri;
use axum::routing::get;
use lambda_blackbox_contract::replacement::EXTENSION_COMM;
use lambda_sandbox::InitOutcome;

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

/// An HTTP answer as its client reads it: a Function URL's (the sandbox's own, or under
/// RIE the function's result mapped as a Function URL maps it), or an event source's
/// (API Gateway, an ALB: [`replay`]) read from the function's result.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// As sent; [`Answer::header`] finds one whatever the case of its name.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// From sending the request to having the whole answer.
    pub elapsed: Duration,
    /// The function's result the answer was read from; `None` when the sandbox's Function
    /// URL answered, which shows a client no result.
    pub raw: Option<serde_json::Value>,
}

impl Answer {
    /// The first header called `name`, whatever its case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The Content-Type, empty when there is none.
    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or_default()
    }
}

/// The extension's live children: blackbox_exporter, whatever its binary is called
/// (Debian's is `prometheus-blackbox-exporter`).
pub fn blackbox_pids(processes: &[lambda_sandbox::ProcessInfo]) -> Vec<i32> {
    let extensions: Vec<i32> = processes
        .iter()
        .filter(|p| p.comm == EXTENSION_COMM)
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
        answer.content_type().starts_with("text/plain"),
        "content type {:?}",
        answer.content_type()
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

//! The blackbox_exporter child process: start, forward its logs, tell when it is
//! ready, stop it.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout, timeout_at, Instant};

use crate::blackbox_log::{is_error_line, listening_address};
use crate::guard::{Arming, ChildSide, GuardHandle, GuardMode, PendingGuard, Unavailable};
use crate::settings::Settings;

/// How long log forwarding may take to hand over the last lines after blackbox exits.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(500);
/// Pause between attempts to reach the listener once the `Listening on` line is seen.
const SERVE_CHECK_INTERVAL: Duration = Duration::from_millis(1);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StartError {
    #[error("blackbox_exporter binary {path} {reason} (set BLACKBOX_EXPORTER_BIN or ship bin/blackbox_exporter in the layer)")]
    BinaryMissing { path: String, reason: String },
    #[error("blackbox_exporter exited ({status}) before it was ready{}", quote_line(.last_error))]
    Exited {
        status: String,
        last_error: Option<String>,
    },
    #[error("the connect guard is unavailable and BLACKBOX_CONNECT_GUARD is required: {0}")]
    GuardUnavailable(Unavailable),
    #[error("blackbox_exporter was not ready within {timeout_ms} ms (BLACKBOX_READY_TIMEOUT_MS): no \"Listening on\" line for {address} was answered{}", quote_line(.last_line))]
    NotReady {
        timeout_ms: u128,
        address: String,
        last_line: Option<String>,
    },
}

fn quote_line(line: &Option<String>) -> String {
    match line {
        Some(line) => format!("; its last log line: {line}"),
        None => String::new(),
    }
}

impl StartError {
    /// The `Lambda-Extension-Function-Error-Type` reported for this failure.
    pub fn error_type(&self) -> &'static str {
        match self {
            StartError::BinaryMissing { .. } => "Extension.BlackboxBinaryMissing",
            StartError::Exited { .. } => "Extension.BlackboxExited",
            StartError::NotReady { .. } => "Extension.BlackboxNotReady",
            StartError::GuardUnavailable(_) => "Extension.ConnectGuardUnavailable",
        }
    }
}

/// What the log forwarders learned from blackbox's output.
#[derive(Default)]
struct LogTail {
    last_error: Option<String>,
    last_line: Option<String>,
}

/// Whether blackbox runs under the connect guard, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardStatus {
    On,
    Off(String),
}

impl std::fmt::Display for GuardStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuardStatus::On => f.write_str("on"),
            GuardStatus::Off(cause) => write!(f, "off ({cause})"),
        }
    }
}

/// The guard of a blackbox that is starting.
enum GuardStart {
    /// Unguarded, for this reason.
    Off(String),
    /// Its self-test's verdict is still to come.
    Pending {
        guard: PendingGuard,
        mode: GuardMode,
    },
}

/// A running blackbox_exporter that has answered on its listen address.
pub struct BlackboxProcess {
    child: Child,
    pgid: Pid,
    forwarders: Vec<JoinHandle<()>>,
    guard: GuardStatus,
    /// Keeps the guard's thread serving this process.
    _guard_handle: Option<GuardHandle>,
}

/// A blackbox_exporter that has been started and is not known to serve yet.
pub struct StartingBlackbox {
    process: BlackboxProcess,
    guard: GuardStart,
    started: Instant,
    tail: Arc<Mutex<LogTail>>,
    listening: mpsc::UnboundedReceiver<String>,
}

impl BlackboxProcess {
    /// Starts blackbox and returns once it serves on the configured address.
    pub async fn start(settings: &Settings) -> Result<Self, StartError> {
        Self::spawn(settings).await?.ready(settings).await
    }

    /// Starts blackbox without waiting for it, so that its start-up overlaps other work
    /// (registering with the Extensions API, the runtime's own Init). Under the connect
    /// guard unless it is off; the guard's self-test runs beside blackbox's start, and
    /// [`StartingBlackbox::ready`] waits for its verdict too. In `auto` mode a guard that
    /// cannot be set up leaves blackbox unguarded, with the cause in
    /// [`BlackboxProcess::guard`].
    pub async fn spawn(settings: &Settings) -> Result<StartingBlackbox, StartError> {
        check_binary(settings)?;
        let mode = settings.connect_guard;
        if mode == GuardMode::Off {
            return Self::spawn_unguarded(settings, "BLACKBOX_CONNECT_GUARD=off".into());
        }
        match spawn_guarded(settings).await {
            Ok((child, guard)) => Self::starting(child, GuardStart::Pending { guard, mode }),
            Err(GuardedSpawn::Start(error)) => Err(error),
            Err(GuardedSpawn::Unavailable(cause)) if mode == GuardMode::Required => {
                Err(StartError::GuardUnavailable(cause))
            }
            Err(GuardedSpawn::Unavailable(cause)) => {
                Self::spawn_unguarded(settings, cause.to_string())
            }
        }
    }

    fn spawn_unguarded(settings: &Settings, cause: String) -> Result<StartingBlackbox, StartError> {
        Self::starting(spawn_command(settings, None)?, GuardStart::Off(cause))
    }

    fn starting(mut child: Child, guard: GuardStart) -> Result<StartingBlackbox, StartError> {
        let started = Instant::now();
        let pid = child.id().unwrap_or_default();
        let pgid = Pid::from_raw(pid as i32);

        let tail = Arc::new(Mutex::new(LogTail::default()));
        let (listening_tx, listening_rx) = mpsc::unbounded_channel();
        let mut forwarders = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            forwarders.push(tokio::spawn(forward_lines(
                stdout,
                tail.clone(),
                listening_tx.clone(),
            )));
        }
        if let Some(stderr) = child.stderr.take() {
            forwarders.push(tokio::spawn(forward_lines(
                stderr,
                tail.clone(),
                listening_tx,
            )));
        }
        Ok(StartingBlackbox {
            process: Self {
                child,
                pgid,
                forwarders,
                // Set by `ready` from `guard`; until the verdict, not on.
                guard: GuardStatus::Off("the guard's verdict is pending".into()),
                _guard_handle: None,
            },
            guard,
            started,
            tail,
            listening: listening_rx,
        })
    }

    pub fn pid(&self) -> i32 {
        self.pgid.as_raw()
    }

    /// Whether this process runs under the connect guard.
    pub fn guard(&self) -> &GuardStatus {
        &self.guard
    }

    /// Resolves when blackbox exits, with how it ended. Cancel-safe.
    pub async fn wait(&mut self) -> String {
        let status = self.child.wait().await;
        self.drain_logs().await;
        describe_status(status)
    }

    /// SIGTERM, then SIGKILL if blackbox is still there after `grace`; always reaps it.
    pub async fn stop(mut self, grace: Duration) -> String {
        let _ = killpg(self.pgid, Signal::SIGTERM);
        let status = match timeout(grace, self.child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                tracing::warn!(
                    grace_ms = grace.as_millis() as u64,
                    "blackbox_exporter ignored SIGTERM; sending SIGKILL"
                );
                let _ = killpg(self.pgid, Signal::SIGKILL);
                self.child.wait().await
            }
        };
        self.drain_logs().await;
        describe_status(status)
    }

    /// SIGKILL and reap, for a blackbox that cannot be trusted to stop.
    pub async fn kill(&mut self) {
        let _ = killpg(self.pgid, Signal::SIGKILL);
        let _ = self.child.wait().await;
        self.drain_logs().await;
    }

    /// Lets the forwarders copy what blackbox wrote before it exited.
    async fn drain_logs(&mut self) {
        for forwarder in self.forwarders.drain(..) {
            let _ = timeout(DRAIN_TIMEOUT, forwarder).await;
        }
    }
}

impl StartingBlackbox {
    /// Ready: the `Listening on` line for the configured address has been read and the
    /// listener answers HTTP, all within `BLACKBOX_READY_TIMEOUT_MS` of the spawn.
    pub async fn ready(self, settings: &Settings) -> Result<BlackboxProcess, StartError> {
        let StartingBlackbox {
            mut process,
            guard,
            started,
            tail,
            mut listening,
        } = self;
        let pid = process.pid();
        let outcome = timeout_at(started + settings.ready_timeout, async {
            let mut pipes_open = true;
            // Wait for the line that says the socket is bound…
            loop {
                tokio::select! {
                    status = process.child.wait() => return Err(status),
                    address = listening.recv(), if pipes_open => match address {
                        Some(address) if settings.listen_address.matches_printed(&address) => break,
                        Some(_) => {}
                        None => pipes_open = false,
                    },
                }
            }
            // …then for an answer on it: blackbox prints `Listening on` before it loads
            // the web config, and exits when that fails.
            let authority = settings.listen_address.as_str();
            tokio::select! {
                status = process.child.wait() => Err(status),
                () = wait_until_serving(authority) => Ok(()),
            }
        })
        .await;

        match outcome {
            Ok(Ok(())) => {
                tracing::info!(
                    pid,
                    address = %settings.listen_address,
                    elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "blackbox_exporter is ready"
                );
                Self::with_guard_verdict(process, guard, settings).await
            }
            Ok(Err(status)) => {
                process.drain_logs().await;
                let status = describe_status(status);
                let last_error = tail.lock().ok().and_then(|t| t.last_error.clone());
                Err(StartError::Exited { status, last_error })
            }
            Err(_elapsed) => {
                process.kill().await;
                let last_line = tail.lock().ok().and_then(|t| t.last_line.clone());
                Err(StartError::NotReady {
                    timeout_ms: settings.ready_timeout.as_millis(),
                    address: settings.listen_address.to_string(),
                    last_line,
                })
            }
        }
    }
}

impl StartingBlackbox {
    /// A ready blackbox with its guard's verdict: kept when the guard is on; else killed
    /// (it must not hold the listen port) and, in `auto` mode, started again unguarded.
    async fn with_guard_verdict(
        mut process: BlackboxProcess,
        guard: GuardStart,
        settings: &Settings,
    ) -> Result<BlackboxProcess, StartError> {
        let cause = match guard {
            GuardStart::Off(cause) => cause,
            GuardStart::Pending { guard, mode } => match guard.verdict().await {
                Ok(handle) => {
                    process.guard = GuardStatus::On;
                    process._guard_handle = Some(handle);
                    return Ok(process);
                }
                Err(cause) => {
                    process.kill().await;
                    if mode == GuardMode::Required {
                        return Err(StartError::GuardUnavailable(cause));
                    }
                    let unguarded = BlackboxProcess::spawn_unguarded(settings, cause.to_string())?;
                    return Box::pin(unguarded.ready(settings)).await;
                }
            },
        };
        process.guard = GuardStatus::Off(cause);
        Ok(process)
    }
}

/// How a guarded start failed: blackbox's own failure, or the guard's.
enum GuardedSpawn {
    Start(StartError),
    Unavailable(Unavailable),
}

async fn spawn_guarded(settings: &Settings) -> Result<(Child, PendingGuard), GuardedSpawn> {
    let listen =
        std::net::SocketAddr::new(settings.listen_address.ip(), settings.listen_address.port());
    let arming = Arming::new(settings.rules.clone(), listen).map_err(GuardedSpawn::Unavailable)?;
    let spawned = spawn_command(settings, Some(arming.child_side()));
    let process_group = spawned
        .as_ref()
        .ok()
        .and_then(Child::id)
        .map(|pid| pid as i32);
    let guard = arming.spawned(process_group);
    match spawned {
        Ok(child) => Ok((child, guard)),
        // The child reported its failure before exec failed it: the guard's cause.
        Err(error) => match guard.verdict().await {
            Err(cause) => Err(GuardedSpawn::Unavailable(cause)),
            Ok(_) => Err(GuardedSpawn::Start(error)),
        },
    }
}

/// blackbox's command: its own process group, tied to the extension's life, and under
/// the guard when `guard` is given.
fn spawn_command(settings: &Settings, guard: Option<ChildSide>) -> Result<Child, StartError> {
    let mut command = Command::new(&settings.binary);
    command
        .args(settings.blackbox_args())
        .env_clear()
        .envs(blackbox_environment(std::env::vars_os()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that stopping it reaches anything it forks and
        // no signal meant for the extension's group reaches it.
        .process_group(0)
        .kill_on_drop(true);
    // SAFETY: set_pdeathsig only calls prctl(2), which is async-signal-safe, and the
    // guard's child side makes only async-signal-safe calls on data built before the fork.
    // pdeathsig ties blackbox's life to the thread that forks it: the extension runs a
    // current-thread runtime, so that is the main thread, and a killed extension
    // leaves no orphan blackbox behind.
    // If the extension died between fork and prctl, no signal would ever come: the
    // parent check after it closes that window.
    let parent = nix::unistd::getpid();
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
            if nix::unistd::getppid() != parent {
                // No allocation between fork and exec: only the errno reaches the parent.
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            match &guard {
                Some(guard) => guard.enter(),
                None => Ok(()),
            }
        });
    }
    command.spawn().map_err(|e| StartError::BinaryMissing {
        path: settings.binary.display().to_string(),
        reason: format!("cannot be executed: {e}"),
    })
}

fn check_binary(settings: &Settings) -> Result<(), StartError> {
    let missing = |reason: &str| StartError::BinaryMissing {
        path: settings.binary.display().to_string(),
        reason: reason.to_string(),
    };
    let metadata = std::fs::metadata(&settings.binary).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => missing("does not exist"),
        _ => missing(&format!("cannot be read: {e}")),
    })?;
    if !metadata.is_file() {
        return Err(missing("is not a file"));
    }
    if metadata.permissions().mode() & 0o111 == 0 {
        return Err(missing("is not executable"));
    }
    Ok(())
}

fn describe_status(status: std::io::Result<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => match Signal::try_from(signal) {
                Ok(signal) => format!("killed by {signal}"),
                Err(_) => format!("killed by signal {signal}"),
            },
            _ => status.to_string(),
        },
        Err(e) => format!("status unknown: {e}"),
    }
}

/// Any HTTP answer proves blackbox serves; a refused or dropped connection means it
/// does not yet (or is exiting, which the caller sees through `wait`).
async fn wait_until_serving(authority: &str) {
    loop {
        if answers_http(authority).await {
            return;
        }
        sleep(SERVE_CHECK_INTERVAL).await;
    }
}

async fn answers_http(authority: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(authority).await else {
        return false;
    };
    let request = format!("GET /-/healthy HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).await.is_ok() && &head == b"HTTP/"
}

/// Copies every line unchanged to the extension's stderr (Lambda ships it to
/// CloudWatch) and keeps reading whatever happens, so a full pipe never stalls blackbox.
async fn forward_lines(
    pipe: impl AsyncRead + Unpin,
    tail: Arc<Mutex<LogTail>>,
    listening: mpsc::UnboundedSender<String>,
) {
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::with_capacity(512);
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        {
            let mut stderr = std::io::stderr().lock();
            let _ = stderr.write_all(&buf);
            if buf.last() != Some(&b'\n') {
                let _ = stderr.write_all(b"\n");
            }
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        if let Some(address) = listening_address(line) {
            let _ = listening.send(address);
        }
        if let Ok(mut tail) = tail.lock() {
            if is_error_line(line) {
                tail.last_error = Some(line.to_string());
            }
            tail.last_line = Some(line.to_string());
        }
    }
}

/// The environment blackbox starts with: the function's, less every `BLACKBOX_*`
/// variable (the layer's own settings, the bearer token among them: blackbox reads none)
/// and every credential Lambda gives the function, which no prober uses: the role's keys,
/// the metadata API's token, and any other `AWS_*` token, secret or key. A process that
/// can read `/proc/<pid>/environ` of blackbox, or a config that expands variables, sees none.
pub fn blackbox_environment(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(OsString, OsString)> {
    vars.into_iter()
        .filter(|(name, _)| {
            let name = name.to_string_lossy();
            !name.starts_with("BLACKBOX_") && !is_credential(&name)
        })
        .collect()
}

fn is_credential(name: &str) -> bool {
    let Some(aws) = name.strip_prefix("AWS_") else {
        return false;
    };
    aws.ends_with("_TOKEN")
        || aws.ends_with("_KEY")
        || aws.ends_with("_KEY_ID")
        || aws.contains("SECRET")
        || aws.contains("AUTHORIZATION")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blackbox_gets_the_environment_without_our_settings_and_credentials() {
        let vars = [
            ("PATH", "/usr/bin"),
            ("TZ", ":UTC"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_LAMBDA_FUNCTION_NAME", "probe"),
            ("BLACKBOX_AUTH_TOKEN", "s3cret"),
            ("BLACKBOX_AUTH_TOKEN_FILE", "/var/task/token"),
            ("BLACKBOX_ALLOWED_TARGETS", "*"),
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "session"),
            ("AWS_LAMBDA_METADATA_TOKEN", "metadata-token"),
            ("AWS_LAMBDA_METADATA_API", "169.254.100.1:9002"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container"),
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("HTTPS_PROXY", "http://proxy.internal:3128"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let kept: Vec<String> = blackbox_environment(vars)
            .into_iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            kept,
            [
                "PATH",
                "TZ",
                "AWS_REGION",
                "AWS_LAMBDA_FUNCTION_NAME",
                "AWS_LAMBDA_METADATA_API",
                "AWS_LAMBDA_RUNTIME_API",
                "HTTPS_PROXY"
            ]
        );
    }
}

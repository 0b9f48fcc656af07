//! The environment's processes: spawning the extensions and the runtime, noticing their
//! exits, freezing and thawing the tree, measuring its memory, killing what is left.

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::{Environment, Fatal, Phase, ProcessKind, RootProcess};
use crate::config::{process_env, ProcessRole};
use crate::proc_fs::{self, ProcessInfo};

/// An exit status in the words the Lambda service uses in its error messages.
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

pub(super) fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Every executable file in `<layer>/extensions`, sorted by name.
pub(super) fn list_extensions(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(String, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| is_executable_file(&e.path()))
        .filter_map(|e| e.file_name().to_str().map(|n| (n.to_string(), e.path())))
        .collect();
    found.sort();
    found
}

/// ETXTBSY: another thread of a (test) process forked while the script was still open
/// for writing.
const TEXT_FILE_BUSY: i32 = 26;

impl Environment {
    fn root_pids(&self) -> Vec<i32> {
        self.lock().roots.iter().map(|r| r.pid).collect()
    }

    /// Every live process of the environment (including zombies not yet reaped).
    pub(crate) fn tree(&self) -> Vec<ProcessInfo> {
        let roots = self.root_pids();
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        proc_fs::tree(&roots, &mut known)
    }

    /// Reaps descendants that were re-parented to this process and have exited.
    pub(crate) fn reap_orphans(&self) {
        let owned: HashSet<i32> = self.root_pids().into_iter().collect();
        proc_fs::reap_orphans(&self.tree(), &owned);
    }

    /// Lifecycle doc: "Lambda freezes the execution environment when the runtime and each
    /// extension have completed and there are no pending events." Every process of the
    /// sandbox tree gets SIGSTOP; waits (briefly) until /proc shows them stopped.
    pub(super) fn freeze(&self) {
        if !self.config.freeze {
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
            proc_fs::signal_each(&fresh, Signal::SIGSTOP);
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

    /// Whether a process of this environment has died and is not reaped yet (a zombie, or
    /// already gone): its exit is about to be recorded by the task that waits for it.
    pub(super) fn exit_pending(&self) -> bool {
        let state = self.lock();
        state
            .roots
            .iter()
            .filter(|r| r.generation == state.generation && r.exited.is_none())
            .any(|r| proc_fs::read_process(r.pid).is_none_or(|p| matches!(p.state, 'Z' | 'X')))
    }

    pub(super) fn thaw(&self) {
        let pids: Vec<i32> = self
            .tree()
            .into_iter()
            .filter(|p| !matches!(p.state, 'Z' | 'X'))
            .map(|p| p.pid)
            .collect();
        proc_fs::signal_each(&pids, Signal::SIGCONT);
    }

    /// Max Memory Used: the sum of `VmHWM` (per-process peak RSS) over every live process
    /// of the sandbox tree. An upper bound of the simultaneous peak (peaks of different
    /// processes may not coincide); processes that already exited are not counted.
    pub(super) fn max_memory_mb(&self) -> u64 {
        let kib: u64 = self
            .tree()
            .iter()
            .filter_map(|p| proc_fs::vm_hwm_kib(p.pid))
            .sum();
        kib.div_ceil(1024)
    }

    pub(super) fn spawn_process(
        self: &Arc<Self>,
        path: &Path,
        name: &str,
        kind: ProcessKind,
        generation: u64,
    ) -> std::io::Result<i32> {
        let role = match kind {
            ProcessKind::Extension => ProcessRole::Extension,
            ProcessKind::Runtime => ProcessRole::Runtime,
        };
        let variables = process_env(
            &self.config,
            self.runtime_api,
            role,
            &self.log_stream,
            self.host_path.as_deref(),
        );
        let mut attempt = 0;
        let mut child = loop {
            let mut command = tokio::process::Command::new(path);
            command
                .env_clear()
                .envs(variables.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .current_dir(self.config.work_dir())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            // SAFETY: the closure runs between fork and exec and only calls setsid(2),
            // which is async-signal-safe. A new session makes every descendant findable
            // by its session id (see proc_fs.rs), even if it moves to another process group.
            unsafe {
                command.pre_exec(|| {
                    nix::unistd::setsid()
                        .map(|_| ())
                        .map_err(std::io::Error::from)
                });
            }
            match command.spawn() {
                Ok(child) => break child,
                Err(e) if e.raw_os_error() == Some(TEXT_FILE_BUSY) && attempt < 50 => {
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
        if let Some(stdout) = child.stdout.take() {
            let environment = self.clone();
            tokio::spawn(async move { environment.logs.pump(stdout).await });
        }
        if let Some(stderr) = child.stderr.take() {
            let environment = self.clone();
            tokio::spawn(async move { environment.logs.pump(stderr).await });
        }
        self.lock().roots.push(RootProcess {
            pid,
            name: name.to_string(),
            kind,
            generation,
            exited: None,
        });
        let environment = self.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            environment.on_exit(pid, &status);
        });
        Ok(pid)
    }

    /// A spawned process exited (and was reaped by tokio).
    fn on_exit(&self, pid: i32, status: &std::io::Result<ExitStatus>) {
        let description = describe(status);
        {
            let mut state = self.lock();
            let (generation, phase, closing) = (state.generation, state.phase, state.closing);
            let request = state.current.as_ref().map(|c| c.request_id.clone());
            let Some(root) = state
                .roots
                .iter_mut()
                .find(|r| r.pid == pid && r.exited.is_none())
            else {
                return;
            };
            root.exited = Some(Instant::now());
            let (kind, name, root_generation) = (root.kind, root.name.clone(), root.generation);
            let live = matches!(phase, Phase::Init | Phase::Idle | Phase::Invoking);
            if root_generation == generation && live && !closing && state.fatal.is_none() {
                // A process that exits outside the Shutdown phase fails the phase it is in
                // (error types as the Lambda service reports them).
                state.fatal = Some(match kind {
                    ProcessKind::Extension => Fatal::new(
                        "Extension.Crash",
                        format!("Extension {name} exited unexpectedly: {description}"),
                    ),
                    ProcessKind::Runtime => {
                        let prefix = request
                            .map(|r| format!("RequestId: {r} "))
                            .unwrap_or_default();
                        Fatal::new(
                            "Runtime.ExitError",
                            format!("{prefix}Error: Runtime exited with error: {description}"),
                        )
                    }
                });
            }
        }
        self.bump();
    }

    /// SIGKILLs the whole tree until nothing is left (reaping orphans); returns
    /// (killed pids, leftover pids).
    pub(super) async fn kill_all(&self) -> (Vec<i32>, Vec<i32>) {
        let mut killed: Vec<i32> = Vec::new();
        let until = Instant::now() + Duration::from_secs(3);
        loop {
            let owned: HashSet<i32> = self.root_pids().into_iter().collect();
            let tree = self.tree();
            proc_fs::reap_orphans(&tree, &owned);
            if tree.is_empty() || Instant::now() > until {
                break;
            }
            let live: Vec<i32> = tree
                .iter()
                .filter(|p| !matches!(p.state, 'Z' | 'X'))
                .map(|p| p.pid)
                .collect();
            for pid in proc_fs::signal_each(&live, Signal::SIGKILL) {
                if !killed.contains(&pid) {
                    killed.push(pid);
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let leftover = self.tree().iter().map(|p| p.pid).collect();
        (killed, leftover)
    }

    /// SIGKILLs the tree without waiting on the runtime (the handle is being dropped).
    pub(crate) fn kill_now(&self) {
        let pids: Vec<i32> = self.tree().iter().map(|p| p.pid).collect();
        proc_fs::signal_each(&pids, Signal::SIGKILL);
        let owned: HashSet<i32> = self.root_pids().into_iter().collect();
        for _ in 0..20 {
            let tree = self.tree();
            proc_fs::reap_orphans(&tree, &owned);
            if tree.iter().all(|p| owned.contains(&p.pid)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

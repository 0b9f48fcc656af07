//! The Shutdown phase (Extensions API doc, "Shutdown phase"), and the reset after a failed
//! invoke, which "behaves like a Shutdown event".

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::json;

use super::{Environment, Phase, ProcessKind, RuntimeState};
use crate::outcomes::ShutdownReport;
use crate::proc_fs;
use crate::util::epoch_ms;

/// Extensions API doc, Shutdown phase: "2000 ms – a function with one or more
/// registered external extensions".
const SHUTDOWN_LIMIT: Duration = Duration::from_millis(2000);
/// Extensions API doc, Shutdown phase: "Lambda reserves up to 300 ms ... for the runtime
/// process to perform a graceful shutdown".
const RUNTIME_SHUTDOWN: Duration = Duration::from_millis(300);

impl Environment {
    /// The Shutdown phase with reason `spindown` once the running invoke is over; the
    /// environment is closed after it.
    pub(crate) async fn shut_down(self: &Arc<Self>) -> ShutdownReport {
        self.mark_closing();
        let _one_phase_at_a_time = self.invoke_lock.clone().lock_owned().await;
        self.graceful_shutdown("spindown", Phase::Closed).await
    }

    /// SIGTERM to the runtime (up to 300 ms), then the Shutdown event to every extension
    /// registered for it, wait for the extension processes until the 2000 ms deadline,
    /// SIGKILL what is left. `final_phase` is `NeedsInit` for a reset.
    pub(super) async fn graceful_shutdown(
        self: &Arc<Self>,
        reason: &str,
        final_phase: Phase,
    ) -> ShutdownReport {
        let start = Instant::now();
        let deadline = start + SHUTDOWN_LIMIT;
        let deadline_ms = epoch_ms() + SHUTDOWN_LIMIT.as_millis() as u64;
        let (generation, runtime_pid, previous) = {
            let mut state = self.lock();
            let previous = state.phase;
            state.phase = Phase::Resetting;
            let generation = state.generation;
            let runtime = state
                .roots
                .iter()
                .find(|r| {
                    r.generation == generation
                        && r.kind == ProcessKind::Runtime
                        && r.exited.is_none()
                })
                .map(|r| r.pid);
            (generation, runtime, previous)
        };
        self.bump();
        let alive = matches!(previous, Phase::Idle | Phase::Invoking | Phase::Init);
        if alive {
            // Thaw first: a stopped process cannot handle SIGTERM or read an event.
            self.thaw();
            if let Some(pid) = runtime_pid {
                // "Lambda terminates the runtime, alerts the extensions to let them stop
                // cleanly" — the runtime first.
                proc_fs::signal_each(&[pid], Signal::SIGTERM);
                self.wait_until(start + RUNTIME_SHUTDOWN, |state| {
                    state
                        .roots
                        .iter()
                        .any(|r| r.pid == pid && r.exited.is_some())
                })
                .await;
            }
            {
                let event = json!({
                    "eventType": "SHUTDOWN",
                    "shutdownReason": reason,
                    "deadlineMs": deadline_ms,
                })
                .to_string()
                .into_bytes();
                let mut state = self.lock();
                for extension in state
                    .extensions
                    .iter_mut()
                    .filter(|e| e.shutdown && !e.errored)
                {
                    extension.deliver(event.clone());
                }
            }
            self.bump();
            // "If the runtime or an extension does not respond to the Shutdown event within
            // the limit, Lambda terminates the process using a SIGKILL signal."
            self.wait_until(deadline, |state| {
                state
                    .roots
                    .iter()
                    .filter(|r| r.generation == generation && r.kind == ProcessKind::Extension)
                    .all(|r| r.exited.is_some())
            })
            .await;
        }
        let extensions: Vec<(String, Option<Instant>)> = self
            .lock()
            .roots
            .iter()
            .filter(|r| r.generation == generation && r.kind == ProcessKind::Extension)
            .map(|r| (r.name.clone(), r.exited))
            .collect();
        let (killed, leftover) = self.kill_all().await;
        {
            let mut state = self.lock();
            state.phase = if final_phase == Phase::NeedsInit && state.closing {
                Phase::Closed
            } else {
                final_phase
            };
            state.extensions.clear();
            state.runtime = RuntimeState::default();
            state.current = None;
            // Forget roots that are gone, so their pids (which may be reused) no longer
            // define the sandbox tree.
            state.roots.retain(|r| r.exited.is_none());
        }
        self.bump();
        ShutdownReport {
            reason: reason.to_string(),
            deadline,
            extensions,
            killed,
            leftover,
            logs: self.logs().text(),
        }
    }
}

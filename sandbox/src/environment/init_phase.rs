//! The Init phase (Extensions API doc, "Init phase"; lifecycle doc, "Init phase"): start
//! every extension, wait for their registration, start the runtime, wait until all of
//! them call Next — within the Init limit.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::processes::{is_executable_file, list_extensions};
use super::{ms, Environment, EnvironmentState, Fatal, Phase, ProcessKind, RuntimeState};
use crate::outcomes::InitOutcome;

/// How an Init that did not succeed is reported in INIT_REPORT.
#[derive(Clone, Copy, PartialEq, Eq)]
enum InitFailure {
    Error,
    Timeout,
}

impl Environment {
    /// The first Init, before any invoke can start.
    pub(crate) async fn initialize(self: &Arc<Self>) {
        let _one_phase_at_a_time = self.invoke_lock.lock().await;
        self.run_init().await;
    }

    fn pick_bootstrap(&self) -> Option<PathBuf> {
        self.bootstrap_candidates()
            .into_iter()
            .find(|p| is_executable_file(p))
    }

    /// `<task>/bootstrap`, then `<layer>/bootstrap` (`/var/task`, then `/opt`).
    fn bootstrap_candidates(&self) -> Vec<PathBuf> {
        let task = self.config.task_dir.as_ref().map(|t| t.join("bootstrap"));
        task.into_iter()
            .chain([self.config.layer_dir.join("bootstrap")])
            .collect()
    }

    pub(super) async fn run_init(self: &Arc<Self>) -> InitOutcome {
        let t0 = Instant::now();
        let deadline = t0 + self.config.init_timeout;
        self.platform(format!(
            "INIT_START Runtime Version: provided:sandbox\tRuntime Version ARN: arn:aws:lambda:{}::runtime:sandbox",
            self.config.region
        ));
        let extensions = list_extensions(&self.config.layer_dir.join("extensions"));
        let generation = {
            let mut state = self.lock();
            state.generation += 1;
            state.phase = Phase::Init;
            state.extensions.clear();
            state.runtime = RuntimeState::default();
            state.fatal = None;
            state.current = None;
            state.launched = extensions.iter().map(|(n, _)| n.clone()).collect();
            state.generation
        };
        self.bump();

        // Extension init: start every extension, wait until each has registered.
        for (name, path) in &extensions {
            if let Err(e) = self.spawn_process(path, name, ProcessKind::Extension, generation) {
                let fatal = Fatal::new(
                    "Extension.LaunchError",
                    format!("Extension {name} could not be launched: {e}"),
                );
                return self.fail_init(t0, fatal, InitFailure::Error).await;
            }
        }
        // Extensions API doc, Init phase: "After each extension registers with Lambda,
        // Lambda starts the Runtime init phase."
        let registered = self
            .wait_until(deadline, |state| {
                state.fatal.is_some()
                    || state.closing
                    || state
                        .launched
                        .iter()
                        .all(|n| state.extensions.iter().any(|e| &e.name == n))
            })
            .await;
        if let Some(failed) = self.init_check(t0, registered).await {
            return failed;
        }

        // Runtime init.
        let Some(bootstrap) = self.pick_bootstrap() else {
            let tried: Vec<String> = self
                .bootstrap_candidates()
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            let fatal = Fatal::new(
                "Runtime.InvalidEntrypoint",
                format!("Couldn't find valid bootstrap(s): {tried:?}"),
            );
            return self.fail_init(t0, fatal, InitFailure::Error).await;
        };
        if let Err(e) =
            self.spawn_process(&bootstrap, "bootstrap", ProcessKind::Runtime, generation)
        {
            let fatal = Fatal::new(
                "Runtime.InvalidEntrypoint",
                format!("{}: {e}", bootstrap.display()),
            );
            return self.fail_init(t0, fatal, InitFailure::Error).await;
        }
        // Extensions API doc, Init phase: "The Init phase completes after the runtime and
        // each registered extension indicate completion by sending a Next API request."
        let done = self
            .wait_until(deadline, |state| {
                state.fatal.is_some()
                    || state.closing
                    || (state.runtime.ready && state.extensions.iter().all(|e| e.ready))
            })
            .await;
        if let Some(failed) = self.init_check(t0, done).await {
            return failed;
        }
        let duration = t0.elapsed();
        let registrations = {
            let mut state = self.lock();
            state.phase = Phase::Idle;
            state.init_outcome = InitOutcome::Ok { duration };
            state.report_init = Some(duration);
            registrations(&state)
        };
        self.bump();
        // Extensions API doc, Failure handling / Extension logs: "Lambda also generates an
        // additional log event for each extension during Init."
        for (name, events) in registrations {
            self.platform(format!(
                "EXTENSION\tName: {name}\tState: Ready\tEvents: [{events}]"
            ));
        }
        self.freeze();
        self.platform(format!(
            "INIT_REPORT Init Duration: {:.2} ms\tPhase: init\tStatus: success",
            ms(duration)
        ));
        InitOutcome::Ok { duration }
    }

    /// After a wait: fails Init when something reported an error, the sandbox is closing
    /// or the wait ran out of time (`reached` false).
    async fn init_check(self: &Arc<Self>, t0: Instant, reached: bool) -> Option<InitOutcome> {
        let (fatal, closing) = {
            let state = self.lock();
            (state.fatal.clone(), state.closing)
        };
        if let Some(fatal) = fatal {
            return Some(self.fail_init(t0, fatal, InitFailure::Error).await);
        }
        if closing {
            let fatal = Fatal::new("Sandbox.Closed", "the sandbox is shutting down".into());
            return Some(self.fail_init(t0, fatal, InitFailure::Error).await);
        }
        if !reached {
            // Lifecycle doc, Init phase: "The Init phase is limited to 10 seconds." Lambda
            // reports a timed-out phase as `Sandbox.Timedout` (INIT_REPORT Status: timeout).
            let fatal = Fatal::new(
                "Sandbox.Timedout",
                format!(
                    "Init phase timed out after {:.2} seconds",
                    self.config.init_timeout.as_secs_f64()
                ),
            );
            return Some(self.fail_init(t0, fatal, InitFailure::Timeout).await);
        }
        None
    }

    /// Init failed: record it, SIGKILL every process, print INIT_REPORT.
    async fn fail_init(
        self: &Arc<Self>,
        t0: Instant,
        fatal: Fatal,
        failure: InitFailure,
    ) -> InitOutcome {
        let outcome = InitOutcome::Failed {
            error_type: fatal.error_type.clone(),
            error_message: fatal.message.clone(),
            body: fatal.body.clone(),
        };
        {
            let mut state = self.lock();
            state.phase = Phase::InitFailed;
            state.fatal = Some(fatal.clone());
            state.init_outcome = outcome.clone();
            state.report_init = Some(t0.elapsed());
        }
        self.bump();
        self.kill_all().await;
        {
            let mut state = self.lock();
            state.extensions.clear();
            state.runtime = RuntimeState::default();
        }
        self.bump();
        let status = match failure {
            InitFailure::Timeout => "\tStatus: timeout".to_string(),
            InitFailure::Error => fatal.report_status(),
        };
        self.platform(format!(
            "INIT_REPORT Init Duration: {:.2} ms\tPhase: init{status}",
            ms(t0.elapsed())
        ));
        outcome
    }
}

/// (name, "INVOKE,SHUTDOWN") of each registered extension, for the EXTENSION log lines.
fn registrations(state: &EnvironmentState) -> Vec<(String, String)> {
    state
        .extensions
        .iter()
        .map(|e| {
            let mut events = Vec::new();
            if e.invoke {
                events.push("INVOKE");
            }
            if e.shutdown {
                events.push("SHUTDOWN");
            }
            (e.name.clone(), events.join(","))
        })
        .collect()
}

//! The Invoke phase (Extensions API doc, "Invoke phase"): thaw, hand the event to the
//! runtime and to each extension registered for INVOKE, wait until all of them call
//! Next again within the function timeout, report, freeze — or reset after a failure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::{oneshot, OwnedMutexGuard};

use super::{ms, CurrentInvoke, Environment, Fatal, InvocationEvent, Phase};
use crate::outcomes::{FunctionError, InitOutcome, InvokeOutcome};
use crate::util::{epoch_ms, trace_id};

/// Whether an invoke can be delivered, decided before its START line.
enum Admission {
    Deliver,
    /// Failed without a process being told: the environment is closed or Init failed.
    Refused(Fatal),
    /// An error was reported while the environment was idle (exit/error, a crash): this
    /// invoke fails with it and the environment is reset.
    FailedWhileIdle(Fatal),
}

/// How a delivered invoke ended.
struct Ending {
    result: Result<Vec<u8>, FunctionError>,
    /// The tail of the REPORT line.
    status: String,
    reset: Option<&'static str>,
    freeze: bool,
}

impl Environment {
    pub(crate) async fn invoke(self: &Arc<Self>, payload: Vec<u8>) -> InvokeOutcome {
        self.invoke_answering(payload, uuid::Uuid::new_v4().to_string(), None)
            .await
    }

    /// One invoke. Serialized: one invoke at a time per execution environment, as Lambda
    /// does. `answered` learns the function's answer as soon as the runtime posts it,
    /// before the Invoke phase ends.
    pub(crate) async fn invoke_answering(
        self: &Arc<Self>,
        payload: Vec<u8>,
        request_id: String,
        answered: Option<oneshot::Sender<Result<Vec<u8>, FunctionError>>>,
    ) -> InvokeOutcome {
        let guard = self.invoke_lock.clone().lock_owned().await;
        let start = Instant::now();
        match self.admit().await {
            Admission::Deliver => {}
            Admission::Refused(fatal) => {
                let init = self.lock().report_init.take();
                return self.fail_undelivered(request_id, start, &fatal, 0, init);
            }
            Admission::FailedWhileIdle(fatal) => {
                let memory = self.max_memory_mb();
                let outcome = self.fail_undelivered(request_id, start, &fatal, memory, None);
                self.spawn_reset(guard, "failure");
                return outcome;
            }
        }

        let start = Instant::now();
        let deadline = start + self.config.function_timeout;
        self.platform(format!("START RequestId: {request_id} Version: $LATEST"));
        self.deliver(&request_id, payload, answered);
        // "The Invoke phase ends after the runtime and all extensions signal that they
        // are done by sending a Next API request." Duration limit: the function timeout
        // "limits the duration of the entire Invoke phase".
        let finished = self
            .wait_until(deadline, |state| {
                state.fatal.is_some()
                    || state.closing
                    || (state.current.as_ref().is_some_and(|c| c.answer.is_some())
                        && state.runtime.ready
                        && state
                            .extensions
                            .iter()
                            .filter(|e| e.invoke && !e.errored)
                            .all(|e| e.ready))
            })
            .await;
        let duration = start.elapsed();
        let memory = self.max_memory_mb();
        let ending = self.ending(&request_id, finished);
        let init = self.lock().report_init.take();
        if ending.freeze {
            self.freeze();
        }
        self.report(&request_id, duration, memory, init, &ending.status);
        if let Some(reason) = ending.reset {
            // Extensions API doc, Failure handling: "If there is a failure (such as a
            // function timeout or runtime error) during Invoke, the Lambda service performs
            // a reset. The reset behaves like a Shutdown event ... If this environment is
            // used for a new invocation, the extension and runtime are re-initialized".
            self.spawn_reset(guard, reason);
        }
        InvokeOutcome {
            request_id,
            result: ending.result,
            duration,
            max_memory_used_mb: memory,
        }
    }

    async fn admit(self: &Arc<Self>) -> Admission {
        let phase = self.lock().phase;
        match phase {
            Phase::Closed | Phase::Resetting => Admission::Refused(Fatal::new(
                "Sandbox.Closed",
                "the sandbox has been shut down".into(),
            )),
            // The sandbox does not retry a failed Init: every invoke returns the Init error.
            Phase::InitFailed => Admission::Refused(self.recorded_fatal()),
            Phase::NeedsInit => match self.run_init().await {
                InitOutcome::Ok { .. } => Admission::Deliver,
                InitOutcome::Failed { .. } => Admission::Refused(self.recorded_fatal()),
            },
            Phase::Idle | Phase::Init | Phase::Invoking => {
                // A process that died while the environment was frozen fails this invoke,
                // as Lambda sees it gone at the thaw: wait for its exit to be recorded
                // rather than race the task that reaps it.
                if self.exit_pending() {
                    self.wait_until(Instant::now() + Duration::from_secs(1), |state| {
                        state.fatal.is_some()
                    })
                    .await;
                }
                let fatal = self.lock().fatal.clone();
                match fatal {
                    Some(fatal) => Admission::FailedWhileIdle(fatal),
                    None => Admission::Deliver,
                }
            }
        }
    }

    /// START and REPORT for an invoke that no process saw.
    fn fail_undelivered(
        &self,
        request_id: String,
        start: Instant,
        fatal: &Fatal,
        memory_mb: u64,
        init: Option<Duration>,
    ) -> InvokeOutcome {
        self.platform(format!("START RequestId: {request_id} Version: $LATEST"));
        self.report(
            &request_id,
            start.elapsed(),
            memory_mb,
            init,
            &fatal.report_status(),
        );
        InvokeOutcome {
            request_id,
            result: Err(fatal.function_error()),
            duration: start.elapsed(),
            max_memory_used_mb: memory_mb,
        }
    }

    /// Thaws the environment and hands the event to the runtime and to each extension
    /// registered for INVOKE.
    fn deliver(
        &self,
        request_id: &str,
        payload: Vec<u8>,
        answered: Option<oneshot::Sender<Result<Vec<u8>, FunctionError>>>,
    ) {
        let deadline_ms = epoch_ms() + self.config.function_timeout.as_millis() as u64;
        let trace = trace_id();
        // Extensions API doc, Invoke phase: event payload sent to extensions.
        let extension_event = json!({
            "eventType": "INVOKE",
            "deadlineMs": deadline_ms,
            "requestId": request_id,
            "invokedFunctionArn": self.config.function_arn(),
            "tracing": {"type": "X-Amzn-Trace-Id", "value": trace},
        })
        .to_string()
        .into_bytes();
        // Thaw right before the event is delivered.
        self.thaw();
        {
            let mut state = self.lock();
            state.phase = Phase::Invoking;
            state.current = Some(CurrentInvoke {
                request_id: request_id.to_string(),
                delivered: false,
                answer: None,
                answered,
            });
            // "Lambda sends an Invoke event to the runtime and to each extension that is
            // registered for the Invoke event."
            for extension in state
                .extensions
                .iter_mut()
                .filter(|e| e.invoke && !e.errored)
            {
                extension.deliver(extension_event.clone());
            }
            let event = InvocationEvent {
                request_id: request_id.to_string(),
                deadline_ms,
                trace_id: trace,
                body: payload,
            };
            let undelivered = match state.runtime.waiter.take() {
                Some(waiter) => waiter.send(event).err(),
                None => Some(event),
            };
            state.runtime.ready = false;
            match undelivered {
                None => {
                    if let Some(current) = state.current.as_mut() {
                        current.delivered = true;
                    }
                }
                Some(event) => state.runtime.pending = Some(event),
            }
        }
        self.bump();
    }

    /// The result of a delivered invoke once its wait ended (`finished` false: timed out).
    fn ending(&self, request_id: &str, finished: bool) -> Ending {
        let mut state = self.lock();
        let answer = state.current.take().and_then(|c| c.answer);
        if let Some(fatal) = state.fatal.clone() {
            return Ending {
                result: Err(fatal.function_error()),
                status: fatal.report_status(),
                reset: Some("failure"),
                freeze: false,
            };
        }
        if state.closing {
            let fatal = Fatal::new("Sandbox.Closed", "the sandbox is shutting down".into());
            return Ending {
                result: Err(fatal.function_error()),
                status: String::new(),
                reset: None,
                freeze: false,
            };
        }
        if !finished {
            let fatal = Fatal::new(
                "Sandbox.Timedout",
                format!(
                    "RequestId: {request_id} Error: Task timed out after {:.2} seconds",
                    self.config.function_timeout.as_secs_f64()
                ),
            );
            return Ending {
                result: Err(fatal.function_error()),
                status: "\tStatus: timeout".to_string(),
                reset: Some("timeout"),
                freeze: false,
            };
        }
        state.phase = Phase::Idle;
        let result = answer.unwrap_or_else(|| {
            Err(Fatal::new("Sandbox.Failure", "no answer".into()).function_error())
        });
        Ending {
            result,
            status: String::new(),
            reset: None,
            freeze: true,
        }
    }

    /// END and REPORT lines (lifecycle doc, "Invoke phase" logging).
    fn report(
        &self,
        request_id: &str,
        duration: Duration,
        memory_mb: u64,
        init: Option<Duration>,
        status: &str,
    ) {
        self.platform(format!("END RequestId: {request_id}"));
        let init = init
            .map(|d| format!("\tInit Duration: {:.2} ms", ms(d)))
            .unwrap_or_default();
        self.platform(format!(
            "REPORT RequestId: {request_id}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {memory_mb} MB{init}{status}",
            ms(duration),
            (duration.as_micros().div_ceil(1000)).max(1),
            self.config.memory_mb,
        ));
    }

    /// Resets the environment in the background while still holding the invoke lock, so
    /// the caller gets its answer at once and the next invoke waits for the reset.
    fn spawn_reset(self: &Arc<Self>, guard: OwnedMutexGuard<()>, reason: &'static str) {
        let environment = self.clone();
        tokio::spawn(async move {
            let _guard = guard;
            let report = environment
                .graceful_shutdown(reason, Phase::NeedsInit)
                .await;
            if !report.leftover.is_empty() {
                environment.platform(format!(
                    "lambda-sandbox: processes left after reset: {:?}",
                    report.leftover
                ));
            }
        });
    }
}

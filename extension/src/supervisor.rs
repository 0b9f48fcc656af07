//! Keeps blackbox_exporter running after Init: restarts it when it dies, backs off
//! when it keeps dying, and stops it on SHUTDOWN.
//!
//! Lambda freezes the whole execution environment between invokes, so nothing here
//! runs on a timer of its own: a death is noticed when the process exit is delivered,
//! which for a blackbox killed while frozen is right after the thaw, as the invoke starts.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{sleep, Instant};

use crate::blackbox::{BlackboxProcess, StartError};
use crate::settings::Settings;

/// A restart counts as failed when blackbox does not come up, or dies again within
/// this long of being restarted: a crash loop, not a one-off crash.
const HEALTHY_UPTIME: Duration = Duration::from_secs(1);
/// After this many failed restarts in a row the extension gives up.
pub const MAX_FAILED_RESTARTS: u32 = 5;

/// Asks the supervisor to stop blackbox; `grace` is how long SIGTERM gets before SIGKILL.
#[derive(Debug)]
pub struct StopRequest {
    pub grace: Duration,
    pub done: tokio::sync::oneshot::Sender<()>,
}

#[derive(Debug, thiserror::Error)]
#[error("blackbox_exporter could not be kept running: {failures} restarts in a row failed; the last: {last}")]
pub struct GaveUp {
    pub failures: u32,
    pub last: String,
}

/// The delay before restart number `failures + 1`: none for the first, so that the
/// invoke that finds blackbox dead is served, then doubling from 100 ms (capped at 1.6 s;
/// with [`MAX_FAILED_RESTARTS`] the last wait is 800 ms).
pub fn restart_delay(failures: u32) -> Duration {
    match failures {
        0 => Duration::ZERO,
        n => Duration::from_millis(100 << (n - 1).min(4)),
    }
}

/// `replace` fires when the handler found blackbox not answering (SIGUSR1): blackbox is
/// killed, and restarted like any blackbox that died.
pub async fn supervise(
    settings: Settings,
    mut process: BlackboxProcess,
    mut stop: mpsc::Receiver<StopRequest>,
    mut replace: tokio::signal::unix::Signal,
) -> Result<(), GaveUp> {
    let mut failures = 0u32;
    let mut ready_at = Instant::now();
    let mut restarted = false;
    loop {
        let exit = tokio::select! {
            exit = process.wait() => exit,
            Some(()) = replace.recv() => {
                tracing::warn!(pid = process.pid(), "the handler found blackbox_exporter not answering; replacing it");
                process.kill().await;
                "killed by SIGKILL: it did not answer in time".to_string()
            }
            request = stop.recv() => {
                let status = match request {
                    Some(StopRequest { grace, done }) => {
                        let status = process.stop(grace).await;
                        let _ = done.send(());
                        status
                    }
                    None => process.stop(Duration::ZERO).await,
                };
                tracing::info!(status, "blackbox_exporter stopped");
                return Ok(());
            }
        };
        // Only a restart can fail: the first death after Init, however early, is a one-off
        // and is restarted at once.
        if restarted && ready_at.elapsed() < HEALTHY_UPTIME {
            failures += 1;
        } else {
            failures = 0;
        }
        tracing::warn!(
            pid = process.pid(),
            exit,
            "blackbox_exporter died; restarting it"
        );
        let mut last = exit;
        loop {
            if failures >= MAX_FAILED_RESTARTS {
                return Err(GaveUp { failures, last });
            }
            let delay = restart_delay(failures);
            let attempt = async {
                sleep(delay).await;
                BlackboxProcess::start(&settings).await
            };
            tokio::pin!(attempt);
            let attempt = loop {
                tokio::select! {
                    attempt = &mut attempt => break attempt,
                    request = stop.recv() => {
                        if let Some(StopRequest { done, .. }) = request {
                            let _ = done.send(());
                        }
                        return Ok(());
                    }
                    // Asked while a new blackbox is on its way: the request was about the
                    // old one, and must not kill the new one once it is up.
                    Some(()) = replace.recv() => {}
                }
            };
            match attempt {
                Ok(new_process) => {
                    process = new_process;
                    ready_at = Instant::now();
                    restarted = true;
                    break;
                }
                Err(error) => {
                    failures += 1;
                    tracing::error!(
                        failures,
                        error_type = error.error_type(),
                        %error,
                        "restarting blackbox_exporter failed"
                    );
                    last = describe(&error);
                }
            }
        }
    }
}

fn describe(error: &StartError) -> String {
    format!("{} {error}", error.error_type())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_back_off_after_the_first() {
        let delays: Vec<u64> = (0..7)
            .map(|n| restart_delay(n).as_millis() as u64)
            .collect();
        assert_eq!(delays, [0, 100, 200, 400, 800, 1600, 1600]);
    }
}

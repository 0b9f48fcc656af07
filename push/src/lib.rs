//! Push mode (probe on a schedule, remote-write the results): an invocation that is not an
//! HTTP event — an EventBridge Scheduler input or a `Scheduled Event` — runs its probes and
//! writes the series Prometheus would have stored had it scraped them. The invocation fails
//! only when the write failed, so that Lambda's retries of an asynchronous invoke and its
//! dead-letter queue see exactly the runs whose results are lost.

mod exposition;
mod probes;
mod remote_write;
pub mod settings;
mod sigv4;
mod writer;

use std::time::{Duration, Instant};

use lambda_blackbox_contract::targets_file::Target;
use serde::Serialize;

pub use settings::{PushSettings, RemoteWriteAuth};

use lambda_blackbox_probe::modules::DEFAULT_MODULE;
use lambda_blackbox_probe::{BlackboxClient, ProbeSettings};
use probes::{Problem, Verdict};
use remote_write::{request_bodies, MAX_REQUEST_BYTES};
use writer::RemoteWriter;

/// Kept for the push out of the time left: a quarter of it, from 1 s to 10 s.
const MIN_PUSH_TIME: Duration = Duration::from_secs(1);
const MAX_PUSH_TIME: Duration = Duration::from_secs(10);
/// EventBridge Scheduler's finest rate: the time one invocation's rounds share.
const SCHEDULE_INTERVAL: Duration = Duration::from_secs(60);

/// Push mode as configured: its settings and the client that writes.
pub struct PushMode {
    pub settings: PushSettings,
    writer: RemoteWriter,
}

impl PushMode {
    pub fn new(settings: PushSettings) -> Result<Self, std::io::Error> {
        let writer = RemoteWriter::new(&settings)?;
        Ok(Self { settings, writer })
    }
}

/// What a push run did; the invocation's answer. With BLACKBOX_PUSH_EVERY, the sums over its
/// rounds (`targets` counts each round's; a target that failed in two rounds is listed twice).
#[derive(Debug, Default, Serialize)]
pub struct RunSummary {
    pub rounds: usize,
    pub targets: usize,
    pub succeeded: usize,
    pub failed: Vec<Problem>,
    pub refused: Vec<Problem>,
    pub not_run: Vec<Problem>,
    pub samples: usize,
    pub samples_written: usize,
    pub requests: usize,
    pub requests_written: usize,
    /// Attempts beyond the first, over all requests.
    pub retries: u32,
    /// Why some samples were not written; `None` when all were.
    pub write_error: Option<String>,
}

impl RunSummary {
    fn absorb(&mut self, round: RunSummary) {
        self.rounds += round.rounds;
        self.targets += round.targets;
        self.succeeded += round.succeeded;
        self.failed.extend(round.failed);
        self.refused.extend(round.refused);
        self.not_run.extend(round.not_run);
        self.samples += round.samples;
        self.samples_written += round.samples_written;
        self.requests += round.requests;
        self.requests_written += round.requests_written;
        self.retries += round.retries;
        if self.write_error.is_none() {
            self.write_error = round.write_error;
        }
    }
}

/// What a push run probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushRun {
    /// The event's own list.
    Probes(Vec<Target>),
    /// No list: the targets file.
    TargetsFile,
}

/// A push run that could not be done, or whose write failed: the invocation's error.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("this invocation is a push run, but push mode is off: set BLACKBOX_REMOTE_WRITE_URL (and BLACKBOX_REMOTE_WRITE_AUTH)")]
    NotConfigured,
    #[error("the push run's event is wrong: {0}")]
    InvalidEvent(String),
    #[error("the event lists no probes and BLACKBOX_PUSH_TARGETS_FILE is not set")]
    NoTargets,
    #[error("remote write failed: {reason}; summary: {summary}")]
    WriteFailed { reason: String, summary: String },
}

/// The same target and module twice would write two samples of one series at one
/// timestamp, which Mimir and Amazon Managed Service for Prometheus refuse with a 400.
pub fn refuse_twice(
    probes: Vec<Target>,
    name: impl Fn(usize) -> String,
) -> Result<Vec<Target>, String> {
    let module = |t: &Target| {
        t.module
            .clone()
            .unwrap_or_else(|| DEFAULT_MODULE.to_string())
    };
    for (i, probe) in probes.iter().enumerate() {
        if let Some(first) = probes[..i]
            .iter()
            .position(|p| p.target == probe.target && module(p) == module(probe))
        {
            return Err(format!(
                "{}: {} with module {} is listed already, as {}",
                name(i),
                probe.target,
                module(probe),
                name(first)
            ));
        }
    }
    Ok(probes)
}

/// How the time left is spent: probes until the first instant, the push until the second.
pub fn time_split(left: Duration, now: Instant) -> (Instant, Instant) {
    let push = (left / 4).clamp(MIN_PUSH_TIME, MAX_PUSH_TIME).min(left);
    (now + (left - push), now + left)
}

/// One push run: its probes, then their series written.
pub async fn run(
    probe: &ProbeSettings,
    blackbox: &BlackboxClient,
    push: Option<&PushMode>,
    run: Result<PushRun, String>,
    left: Duration,
) -> Result<RunSummary, PushError> {
    let push = push.ok_or(PushError::NotConfigured)?;
    let targets: &[Target] = match &run {
        Err(reason) => return Err(PushError::InvalidEvent(reason.clone())),
        Ok(PushRun::Probes(list)) => list,
        Ok(PushRun::TargetsFile) => push
            .settings
            .targets_file
            .as_deref()
            .ok_or(PushError::NoTargets)?,
    };
    let summary = match push.settings.every {
        None => round(probe, blackbox, push, targets, left).await,
        Some(every) => rounds(probe, blackbox, push, targets, left, every).await,
    };
    match summary.write_error.clone() {
        None => Ok(summary),
        Some(reason) => Err(PushError::WriteFailed {
            reason,
            summary: serde_json::to_string(&summary).unwrap_or_default(),
        }),
    }
}

/// BLACKBOX_PUSH_EVERY: a round at each `every` of the minute the schedule gave this
/// invocation, as many as fit in it and in the invocation's time.
async fn rounds(
    probe: &ProbeSettings,
    blackbox: &BlackboxClient,
    push: &PushMode,
    targets: &[Target],
    left: Duration,
    every: Duration,
) -> RunSummary {
    let start = Instant::now();
    let end = start + left.min(SCHEDULE_INTERVAL);
    let mut total = RunSummary::default();
    for k in 0.. {
        let round_start = start + every * k;
        if k > 0 && round_start + every > end {
            break;
        }
        tokio::time::sleep_until(round_start.into()).await;
        let budget = every.min(end.saturating_duration_since(Instant::now()));
        let one = round(probe, blackbox, push, targets, budget).await;
        total.absorb(one);
    }
    total
}

/// One round: the probes, then their series written.
async fn round(
    probe: &ProbeSettings,
    blackbox: &BlackboxClient,
    push: &PushMode,
    targets: &[Target],
    left: Duration,
) -> RunSummary {
    let (probes_until, push_until) = time_split(left, Instant::now());
    let probed = probes::probe_all(probe, blackbox, &push.settings, targets, probes_until).await;

    let mut summary = RunSummary {
        targets: targets.len(),
        rounds: 1,
        ..RunSummary::default()
    };
    let mut series = Vec::new();
    let timed_out = probed.iter().any(|p| p.timed_out);
    for one in probed {
        let problem = |reason: String| Problem {
            target: one.target.clone(),
            module: one.module.clone(),
            reason,
        };
        match one.verdict {
            Verdict::Succeeded => summary.succeeded += 1,
            Verdict::Failed(reason) => summary.failed.push(problem(reason)),
            Verdict::Refused(reason) => summary.refused.push(problem(reason)),
            Verdict::NotRun(reason) => summary.not_run.push(problem(reason)),
        }
        series.extend(one.series);
    }
    summary.samples = series.iter().map(|s| s.samples.len()).sum();

    let bodies = request_bodies(series, MAX_REQUEST_BYTES);
    summary.requests = bodies.len();
    let mut errors = Vec::new();
    for body in &bodies {
        match push.writer.write(&body.bytes, push_until).await {
            Ok(written) => {
                summary.requests_written += 1;
                summary.samples_written += body.samples;
                summary.retries += written.attempts - 1;
            }
            Err(error) => {
                summary.retries += error.attempts().saturating_sub(1);
                errors.push(error.to_string());
            }
        }
    }
    if let Some(first) = errors.first() {
        summary.write_error = Some(match errors.len() {
            1 => first.clone(),
            n => format!("{n} of {} requests: {first}", bodies.len()),
        });
    }
    tracing::info!(
        targets = summary.targets,
        succeeded = summary.succeeded,
        failed = summary.failed.len(),
        refused = summary.refused.len(),
        not_run = summary.not_run.len(),
        samples_written = summary.samples_written,
        requests = summary.requests,
        retries = summary.retries,
        "push run done"
    );
    // As a scrape does after a timeout: a hung blackbox is replaced for the next round.
    if timed_out {
        blackbox
            .replace_if_hung(push_until.saturating_duration_since(Instant::now()))
            .await;
    }
    for problem in summary.refused.iter().chain(&summary.not_run) {
        tracing::warn!(
            target = problem.target,
            module = problem.module,
            "{}",
            problem.reason
        );
    }
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_push_keeps_a_quarter_of_the_time_within_bounds() {
        let now = Instant::now();
        for (left_s, probe_s) in [(3.0, 2.0), (30.0, 22.5), (60.0, 50.0), (0.5, 0.0)] {
            let (probes, push) = time_split(Duration::from_secs_f64(left_s), now);
            assert_eq!((probes - now).as_secs_f64(), probe_s, "{left_s} s left");
            assert_eq!((push - now).as_secs_f64(), left_s);
        }
    }
}

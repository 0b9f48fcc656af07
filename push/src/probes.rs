//! The probes of one push run: each target through the same target policy as a scrape, then
//! through blackbox with the time left for probing (blackbox cuts it to the module's own
//! timeout), at most `concurrency` at once; each probe's series as a scrape would store them.

use std::time::{Duration, Instant, SystemTime};

use futures_util::stream::{self, StreamExt};
use http::header::ACCEPT;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use lambda_blackbox_contract::targets_file::Target;
use lambda_blackbox_probe::admission::{admit_target, check_resolved};
use lambda_blackbox_probe::modules::DEFAULT_MODULE;
use lambda_blackbox_probe::{BlackboxClient, BlackboxError, ProbeSettings};
use serde::Serialize;

use super::exposition::{is_protobuf_exposition, PROTOBUF_ACCEPT};
use super::remote_write::{probe_series, up_series, TimeSeries};
use super::settings::PushSettings;

/// A probe is not started with less time than this before the push: blackbox takes half a
/// second off the timeout it is sent, and would fall back to the module's whole timeout.
const MIN_PROBE_TIME: Duration = Duration::from_secs(1);

/// What became of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// probe_success 1.
    Succeeded,
    /// probe_success 0, or no answer from blackbox (`up` 0): why.
    Failed(String),
    /// The target policy refused it (`up` 0, as a refused scrape): why.
    Refused(String),
    /// Not probed: too little time was left before the push (`up` 0, as a scrape that
    /// timed out, so that a prober short of time shows).
    NotRun(String),
}

/// A target's verdict and the series written for it.
#[derive(Debug, Clone)]
pub struct Probed {
    pub target: String,
    pub module: String,
    pub verdict: Verdict,
    pub series: Vec<TimeSeries>,
    /// blackbox did not answer in time: it may be hung.
    pub timed_out: bool,
}

/// A target and module with the reason it did not succeed, as the summary lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub target: String,
    pub module: String,
    pub reason: String,
}

/// Probes every target, at most `push.concurrency` at once, none started later than it
/// could finish by `until`; the results in the order of `targets`.
pub async fn probe_all(
    probe: &ProbeSettings,
    blackbox: &BlackboxClient,
    push: &PushSettings,
    targets: &[Target],
    until: Instant,
) -> Vec<Probed> {
    // Unordered: a slot is free as soon as its probe ends, so a hanging target holds one
    // slot, not the whole queue behind it.
    let mut done: Vec<(usize, Probed)> = stream::iter(targets.iter().enumerate())
        .map(
            |(i, target)| async move { (i, probe_one(probe, blackbox, push, target, until).await) },
        )
        .buffer_unordered(push.concurrency)
        .collect()
        .await;
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, probed)| probed).collect()
}

/// `job`, `instance`, `module` and `region`, then BLACKBOX_PUSH_LABELS: the labels the
/// fleet's scrape config gives a target.
pub fn target_labels(push: &PushSettings, target: &str, module: &str) -> Vec<(String, String)> {
    let mut labels = vec![
        ("job".to_string(), push.job.clone()),
        ("instance".to_string(), target.to_string()),
        ("module".to_string(), module.to_string()),
        ("region".to_string(), push.region.clone()),
    ];
    labels.extend(push.labels.iter().cloned());
    labels
}

fn millis(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

async fn probe_one(
    probe: &ProbeSettings,
    blackbox: &BlackboxClient,
    push: &PushSettings,
    target: &Target,
    until: Instant,
) -> Probed {
    let module = target
        .module
        .clone()
        .unwrap_or_else(|| DEFAULT_MODULE.to_string());
    let labels = target_labels(push, &target.target, &module);
    let clock = Instant::now();
    let timestamp = millis(SystemTime::now());
    let probed = |verdict: Verdict, series: Vec<TimeSeries>| Probed {
        target: target.target.clone(),
        module: module.clone(),
        verdict,
        series,
        timed_out: false,
    };
    let not_up = |elapsed: Duration| up_series(&labels, false, timestamp, elapsed.as_secs_f64());

    let left = until.saturating_duration_since(clock);
    if left < MIN_PROBE_TIME {
        return probed(
            Verdict::NotRun(format!(
                "not probed: {:.1} s was left before the push; raise the function's timeout or BLACKBOX_PUSH_CONCURRENCY",
                left.as_secs_f64()
            )),
            not_up(Duration::ZERO),
        );
    }
    let readings = match admit_target(probe, &target.target, Some(&module)) {
        Ok(readings) => readings,
        Err(refusal) => {
            return probed(
                Verdict::Refused(refusal.into_reason()),
                not_up(clock.elapsed()),
            )
        }
    };
    if let Err(refusal) = check_resolved(probe, &readings, left).await {
        return probed(
            Verdict::Refused(refusal.into_reason()),
            not_up(clock.elapsed()),
        );
    }

    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("target", &target.target)
        .append_pair("module", &module)
        .finish();
    let left = until.saturating_duration_since(Instant::now());
    let mut headers = HeaderMap::new();
    headers.insert(ACCEPT, HeaderValue::from_static(PROTOBUF_ACCEPT));
    let answer = blackbox
        .forward(&Method::GET, &format!("/probe?{query}"), &headers, left)
        .await;
    let elapsed = clock.elapsed();
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => {
            let timed_out = matches!(error, BlackboxError::Timeout(_));
            let mut failed = probed(Verdict::Failed(error.to_string()), not_up(elapsed));
            failed.timed_out = timed_out;
            return failed;
        }
    };
    let content_type = answer
        .content_type
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if answer.status != StatusCode::OK {
        let text = String::from_utf8_lossy(&answer.body);
        let first_line = text.lines().next().unwrap_or_default().trim().to_string();
        return probed(
            Verdict::Failed(format!(
                "blackbox_exporter answered {}: {first_line}",
                answer.status.as_u16()
            )),
            not_up(elapsed),
        );
    }
    if !is_protobuf_exposition(&content_type) {
        return probed(
            Verdict::Failed(format!(
                "blackbox_exporter answered in {content_type:?}, not the protobuf exposition format it was asked for"
            )),
            not_up(elapsed),
        );
    }
    match probe_series(&answer.body, &labels, timestamp, elapsed.as_secs_f64()) {
        Ok(series) => {
            let success = series.iter().find(|s| {
                s.labels
                    .iter()
                    .any(|l| l.name == "__name__" && l.value == "probe_success")
            });
            let verdict = match success.map(|s| s.samples[0].value) {
                Some(1.0) => Verdict::Succeeded,
                Some(_) => Verdict::Failed("probe_success 0".into()),
                None => Verdict::Failed("blackbox_exporter's answer has no probe_success".into()),
            };
            probed(verdict, series)
        }
        Err(reason) => probed(Verdict::Failed(reason), not_up(elapsed)),
    }
}

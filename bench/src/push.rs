//! Push mode as EventBridge runs it: invocations whose Scheduler input lists 1, 10 and 100
//! loopback targets, each run remote-writing to a receiver on loopback that takes the
//! request (204) as Prometheus does. Measured: the sandbox's REPORT `Duration` (what Lambda
//! bills), its `Max Memory Used`, and the handler's peak RSS after the largest runs.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use lambda_sandbox::Sandbox;
use serde::Serialize;

use crate::measure::{last_max_memory, report_durations, vm_hwm_kib, Bench, Function};
use crate::stats::{summarize, Summary};

pub const TARGET_COUNTS: [usize; 3] = [1, 10, 100];

#[derive(Debug, Default, Serialize)]
pub struct PushRuns {
    /// REPORT Duration (ms) per run, by the number of targets.
    pub duration_ms: BTreeMap<usize, Summary>,
    /// The last run's Max Memory Used (MB), by the number of targets.
    pub max_memory_used_mb: BTreeMap<usize, u64>,
    /// The handler's VmHWM after every run (KiB).
    pub handler_peak_rss_kib: Option<u64>,
}

async fn receiver() -> anyhow::Result<std::net::SocketAddr> {
    let app = axum::Router::new().fallback(|| async { axum::http::StatusCode::NO_CONTENT });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

pub async fn push_runs(bench: &Bench, runs: usize) -> anyhow::Result<PushRuns> {
    let target = crate::measure::local_target().await?;
    let receiver = receiver().await?;
    let url = format!("http://{receiver}/api/v1/write");
    let (mut config, _) = bench.config(Function::Ours, false);
    config.env.extend([
        ("BLACKBOX_REMOTE_WRITE_URL".to_string(), url),
        ("BLACKBOX_REMOTE_WRITE_AUTH".to_string(), "none".to_string()),
    ]);
    config.invoke_addr = Some(([127, 0, 0, 1], 0).into());
    config.function_timeout = Duration::from_secs(30);
    let sandbox = Sandbox::start(config).await?;
    let invoke = format!(
        "http://{}/2015-03-31/functions/function/invocations",
        sandbox.invoke_url().context("the invoke endpoint")?
    );
    let client = reqwest::Client::new();
    let mut out = PushRuns {
        duration_ms: BTreeMap::new(),
        max_memory_used_mb: BTreeMap::new(),
        handler_peak_rss_kib: None,
    };
    for count in TARGET_COUNTS {
        let probes: Vec<serde_json::Value> = (0..count)
            .map(|i| serde_json::json!({"target": format!("http://{target}/t{i}"), "module": "http_2xx"}))
            .collect();
        let event = serde_json::json!({ "probes": probes }).to_string();
        let before = report_durations(&sandbox.logs()).len();
        // Two runs first, not measured: the connections and blackbox's first probes.
        for round in 0..runs + 2 {
            let answer = client.post(&invoke).body(event.clone()).send().await?;
            let text = answer.text().await?;
            let summary: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("a push run's answer: {text}"))?;
            if summary["succeeded"] != count || !summary["write_error"].is_null() {
                bail!("push run of {count} targets (round {round}): {text}");
            }
        }
        let durations = report_durations(&sandbox.logs());
        let measured = &durations[(before + 2).min(durations.len())..];
        if measured.is_empty() {
            bail!("no REPORT lines for the push runs of {count} targets");
        }
        out.duration_ms.insert(count, summarize(measured));
        if let Some(mb) = last_max_memory(&sandbox.logs()) {
            out.max_memory_used_mb.insert(count, mb);
        }
    }
    out.handler_peak_rss_kib = sandbox
        .processes()
        .iter()
        .find(|p| p.comm == "bootstrap")
        .and_then(|p| vm_hwm_kib(p.pid));
    sandbox.shutdown().await;
    Ok(out)
}

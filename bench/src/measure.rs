//! The measurements: cold starts, warm probes, memory, taken side by side.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use lambda_sandbox::test_support::free_port;
use lambda_sandbox::{InitOutcome, Sandbox, SandboxConfig};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::layers::Layers;

/// The functions the bench runs in the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// The layer: extension, blackbox (under the connect guard), handler.
    Ours,
    /// The same layer with `BLACKBOX_CONNECT_GUARD=off`: what the guard costs.
    OursUnguarded,
    /// A runtime that answers at once: the sandbox's own cost.
    Trivial,
    /// The same runtime and an extension that only registers: the sandbox's cost of
    /// an Init with one extension.
    TrivialExt,
    /// bash: blackbox in the background, `sleep 0.1`, curl loop.
    Sleep,
    /// AWS Lambda Web Adapter with blackbox as the web app.
    Adapter,
    /// Our layer with another build's two binaries (`--baseline`): what a change costs.
    Baseline,
}

impl Function {
    pub fn key(self) -> &'static str {
        match self {
            Function::Ours => "ours",
            Function::OursUnguarded => "ours_unguarded",
            Function::Trivial => "trivial",
            Function::TrivialExt => "trivial_ext",
            Function::Sleep => "sleep",
            Function::Adapter => "adapter",
            Function::Baseline => "baseline",
        }
    }
}

pub struct Bench {
    pub layers: Layers,
    pub token: String,
}

/// A started function: the sandbox and where its blackbox listens (if it has one).
pub struct Running {
    pub function: Function,
    pub sandbox: Sandbox,
    pub blackbox: Option<SocketAddr>,
}

impl Bench {
    pub fn has(&self, f: Function) -> bool {
        match f {
            Function::Adapter => self.layers.adapter.is_some(),
            Function::Baseline => self.layers.baseline.is_some(),
            _ => true,
        }
    }

    pub fn config(&self, f: Function, freeze: bool) -> (SandboxConfig, Option<SocketAddr>) {
        let port = free_port();
        let bb_addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let layer = match f {
            Function::Ours | Function::OursUnguarded => &self.layers.ours,
            Function::Trivial => &self.layers.trivial,
            Function::TrivialExt => &self.layers.trivial_ext,
            Function::Sleep => &self.layers.sleep,
            Function::Adapter => self.layers.adapter.as_ref().expect("the adapter layer"),
            Function::Baseline => self.layers.baseline.as_ref().expect("the baseline layer"),
        };
        let mut c = SandboxConfig::new(layer);
        c.function_url_addr = Some(([127, 0, 0, 1], 0).into());
        c.echo_logs = std::env::var_os("BENCH_ECHO").is_some();
        c.freeze = freeze;
        let env: Vec<(&str, String)> = match f {
            Function::Ours | Function::OursUnguarded | Function::Baseline => vec![
                ("BLACKBOX_LISTEN_ADDRESS", bb_addr.to_string()),
                ("BLACKBOX_ALLOWED_TARGETS", "127.0.0.1".into()),
                ("BLACKBOX_AUTH_TOKEN", self.token.clone()),
                (
                    "BLACKBOX_CONNECT_GUARD",
                    if f != Function::OursUnguarded {
                        "required"
                    } else {
                        "off"
                    }
                    .into(),
                ),
            ],
            Function::Trivial | Function::TrivialExt => vec![],
            Function::Sleep => vec![("BLACKBOX_LISTEN_ADDRESS", bb_addr.to_string())],
            Function::Adapter => vec![
                ("AWS_LWA_PORT", port.to_string()),
                ("AWS_LWA_READINESS_CHECK_PATH", "/-/healthy".into()),
            ],
        };
        c.env = env.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let has_blackbox = !matches!(f, Function::Trivial | Function::TrivialExt);
        (c, has_blackbox.then_some(bb_addr))
    }

    /// Starts `f` in a new sandbox; Init must succeed.
    pub async fn start(&self, f: Function, freeze: bool) -> anyhow::Result<(Running, f64)> {
        let (config, blackbox) = self.config(f, freeze);
        let sandbox = Sandbox::start(config).await?;
        match sandbox.init_outcome() {
            InitOutcome::Ok { duration } => Ok((
                Running {
                    function: f,
                    sandbox,
                    blackbox,
                },
                duration.as_secs_f64() * 1e3,
            )),
            InitOutcome::Failed {
                error_type,
                error_message,
                ..
            } => {
                let logs = sandbox.logs();
                sandbox.shutdown().await;
                bail!(
                    "{}: Init failed: {error_type}: {error_message}\n{logs}",
                    f.key()
                )
            }
        }
    }
}

/// blackbox_exporter alone: exec → its `Listening on` line for the address, in ms.
pub async fn blackbox_alone(layer: &Path) -> anyhow::Result<f64> {
    let addr = format!("127.0.0.1:{}", free_port());
    let started = Instant::now();
    let mut child = tokio::process::Command::new(layer.join("bin/blackbox_exporter"))
        .arg(format!(
            "--config.file={}",
            layer.join("blackbox/blackbox.yml").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting blackbox_exporter")?;
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let ready = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(line) = lines.next_line().await? {
            if line.contains("Listening on") && line.contains(&addr) {
                return Ok(started.elapsed());
            }
        }
        Err(anyhow!("blackbox_exporter exited before `Listening on`"))
    })
    .await
    .map_err(|_| anyhow!("no `Listening on` from blackbox_exporter within 10 s"))??;
    child.kill().await?;
    Ok(ready.as_secs_f64() * 1e3)
}

/// Cold-start series, one sample of each variant a round, the order rotated every round.
#[derive(Debug, Default, Serialize)]
pub struct Cold {
    pub samples: BTreeMap<String, Vec<f64>>,
}

pub async fn cold_starts(bench: &Bench, rounds: usize) -> anyhow::Result<Cold> {
    #[derive(Clone, Copy)]
    enum V {
        Alone,
        F(Function),
    }
    let mut variants = vec![V::Alone];
    for f in [
        Function::Ours,
        Function::OursUnguarded,
        Function::Trivial,
        Function::TrivialExt,
        Function::Adapter,
        Function::Sleep,
        Function::Baseline,
    ] {
        if bench.has(f) {
            variants.push(V::F(f));
        }
    }
    let mut cold = Cold::default();
    // Round 0 warms the page cache and is thrown away.
    for round in 0..=rounds {
        let order: Vec<V> = crate::stats::round_order(round, variants.len())
            .into_iter()
            .map(|i| variants[i])
            .collect();
        for v in order {
            let (key, ms) = match v {
                V::Alone => ("blackbox", blackbox_alone(&bench.layers.ours).await?),
                V::F(f) => {
                    let (running, ms) = bench.start(f, true).await?;
                    running.sandbox.shutdown().await;
                    (f.key(), ms)
                }
            };
            if round > 0 {
                cold.samples.entry(key.to_string()).or_default().push(ms);
            }
        }
        eprintln!("bench: cold start round {round}/{rounds}");
    }
    Ok(cold)
}

/// One warm series: a name, the URL it GETs, and what a good answer contains.
struct Series {
    key: &'static str,
    url: String,
    expect: &'static str,
    client: reqwest::Client,
    samples: Vec<f64>,
    errors: usize,
    first_error: Option<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Warm {
    pub samples: BTreeMap<String, Vec<f64>>,
    pub errors: BTreeMap<String, usize>,
    pub first_errors: BTreeMap<String, String>,
    /// `Duration` of the sandbox's REPORT lines over the measured invokes, per function.
    pub report_durations: BTreeMap<String, Vec<f64>>,
    /// Peak RSS (VmHWM, KiB) of each process of each function after the warm run.
    pub memory_kib: BTreeMap<String, BTreeMap<String, u64>>,
    /// The last REPORT line's `Max Memory Used` (MB) of each function.
    pub max_memory_used_mb: BTreeMap<String, u64>,
}

pub fn report_durations(logs: &str) -> Vec<f64> {
    logs.lines()
        .filter(|l| l.starts_with("REPORT RequestId:"))
        .filter_map(|l| {
            l.split('\t')
                .find_map(|f| f.trim().strip_prefix("Duration: "))
                .and_then(|v| v.trim_end_matches(" ms").parse().ok())
        })
        .collect()
}

pub fn last_max_memory(logs: &str) -> Option<u64> {
    logs.lines()
        .rev()
        .filter(|l| l.starts_with("REPORT RequestId:"))
        .find_map(|l| {
            l.split('\t')
                .find_map(|f| f.trim().strip_prefix("Max Memory Used: "))
                .and_then(|v| v.trim_end_matches(" MB").parse().ok())
        })
}

pub fn vm_hwm_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// What each process of a function is, from its `comm` (15 characters at most).
fn role(f: Function, comm: &str) -> String {
    match (f, comm) {
        (_, c) if c.starts_with("blackbox_export") => "blackbox_exporter".into(),
        (Function::Ours | Function::OursUnguarded | Function::Baseline, c)
            if c.starts_with("blackbox-extens") =>
        {
            "extension".into()
        }
        (Function::Ours | Function::OursUnguarded | Function::Baseline, "bootstrap") => {
            "handler".into()
        }
        (Function::Adapter, "lambda-adapter") => "lambda-adapter".into(),
        (Function::Sleep, "bootstrap") => "bash runtime".into(),
        (Function::Trivial | Function::TrivialExt, "bootstrap") => "trivial runtime".into(),
        (_, c) => c.to_string(),
    }
}

pub async fn local_target() -> anyhow::Result<SocketAddr> {
    let app = axum::Router::new().fallback(|| async { "ok\n" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

pub async fn warm_probes(bench: &Bench, probes: usize, warmup: usize) -> anyhow::Result<Warm> {
    let target = local_target().await?;
    // Prometheus URL-encodes the target; so does the bench.
    let query = format!(
        "/probe?target=http%3A%2F%2F127.0.0.1%3A{}%2F&module=http_2xx",
        target.port()
    );

    let mut running: Vec<(&'static str, Running)> = Vec::new();
    for (key, f, freeze) in [
        ("ours", Function::Ours, false),
        ("ours_unguarded", Function::OursUnguarded, false),
        ("ours_frozen", Function::Ours, true),
        ("trivial", Function::Trivial, false),
        ("adapter", Function::Adapter, false),
        ("sleep", Function::Sleep, false),
        ("baseline", Function::Baseline, false),
    ] {
        if bench.has(f) {
            running.push((key, bench.start(f, freeze).await?.0));
        }
    }

    let client = || {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("an HTTP client")
    };
    let mut series: Vec<Series> = Vec::new();
    for (key, r) in &running {
        let furl = r.sandbox.function_url().expect("a Function URL");
        series.push(Series {
            key,
            url: format!("http://{furl}{query}"),
            expect: if r.function == Function::Trivial {
                "ok"
            } else {
                "probe_success 1"
            },
            client: client(),
            samples: Vec::new(),
            errors: 0,
            first_error: None,
        });
        if *key == "ours" {
            series.push(Series {
                key: "direct",
                url: format!("http://{}{query}", r.blackbox.expect("blackbox address")),
                expect: "probe_success 1",
                client: client(),
                samples: Vec::new(),
                errors: 0,
                first_error: None,
            });
        }
    }

    let auth = format!("Bearer {}", bench.token);
    let mut report_lines_before = BTreeMap::new();
    let total = warmup + probes;
    for round in 0..total {
        if round == warmup {
            for (key, r) in &running {
                report_lines_before.insert(*key, report_durations(&r.sandbox.logs()).len());
            }
        }
        for k in crate::stats::round_order(round, series.len()) {
            let s = &mut series[k];
            let started = Instant::now();
            let outcome = async {
                let resp = s
                    .client
                    .get(&s.url)
                    .header("authorization", &auth)
                    .header("x-prometheus-scrape-timeout-seconds", "10")
                    .send()
                    .await?;
                let status = resp.status();
                let body = resp.text().await?;
                anyhow::Ok((status, body))
            }
            .await;
            let ms = started.elapsed().as_secs_f64() * 1e3;
            let good = match &outcome {
                Ok((status, body)) => {
                    status.is_success() && body.lines().any(|l| l.trim() == s.expect)
                }
                Err(_) => false,
            };
            if round < warmup {
                if !good && round == 0 {
                    bail!(
                        "{}: the first probe failed: {}",
                        s.key,
                        match outcome {
                            Ok((status, body)) => format!("{status}: {body}"),
                            Err(e) => format!("{e:#}"),
                        }
                    );
                }
                continue;
            }
            if good {
                s.samples.push(ms);
            } else {
                s.errors += 1;
                if s.first_error.is_none() {
                    s.first_error = Some(match outcome {
                        Ok((status, body)) => {
                            format!("{status}: {}", body.chars().take(200).collect::<String>())
                        }
                        Err(e) => format!("{e:#}"),
                    });
                }
            }
        }
        if (round + 1) % 250 == 0 {
            eprintln!("bench: warm round {}/{total}", round + 1);
        }
    }

    let mut warm = Warm::default();
    for s in series {
        warm.samples.insert(s.key.to_string(), s.samples);
        warm.errors.insert(s.key.to_string(), s.errors);
        if let Some(e) = s.first_error {
            warm.first_errors.insert(s.key.to_string(), e);
        }
    }
    for (key, r) in running {
        let logs = r.sandbox.logs();
        let durations = report_durations(&logs);
        let skip = report_lines_before.get(key).copied().unwrap_or(0);
        warm.report_durations.insert(
            key.to_string(),
            durations[skip.min(durations.len())..].to_vec(),
        );
        if let Some(mb) = last_max_memory(&logs) {
            warm.max_memory_used_mb.insert(key.to_string(), mb);
        }
        let mut mem = BTreeMap::new();
        for p in r.sandbox.processes() {
            if matches!(p.state, 'Z' | 'X') {
                continue;
            }
            if let Some(kib) = vm_hwm_kib(p.pid) {
                let name = role(r.function, &p.comm);
                *mem.entry(name).or_insert(0) += kib;
            }
        }
        warm.memory_kib.insert(key.to_string(), mem);
        r.sandbox.shutdown().await;
    }
    Ok(warm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_are_parsed() {
        let logs = "START RequestId: a Version: $LATEST\n\
            REPORT RequestId: a\tDuration: 1.25 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 31 MB\n\
            REPORT RequestId: b\tDuration: 0.75 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 32 MB\tInit Duration: 9.00 ms\n";
        assert_eq!(report_durations(logs), vec![1.25, 0.75]);
        assert_eq!(last_max_memory(logs), Some(32));
    }

    #[test]
    fn processes_are_named_by_role() {
        assert_eq!(role(Function::Ours, "blackbox-extens"), "extension");
        assert_eq!(role(Function::Ours, "bootstrap"), "handler");
        assert_eq!(
            role(Function::Adapter, "blackbox_export"),
            "blackbox_exporter"
        );
        assert_eq!(role(Function::Sleep, "curl"), "curl");
    }
}

//! The soak: 10,000 probes of a local HTTP target through the sandbox's Function URL,
//! one at a time as Lambda serves them. Every probe must succeed, and between a
//! warm-up point and the end the extension's and the handler's resident memory
//! (VmRSS) must grow by less than 1 MiB and their open file descriptors must stay
//! flat. Minutes long, so `#[ignore]`d: `make soak` runs it. SOAK_PROBES and
//! SOAK_WARMUP change the counts.
#![cfg(feature = "layer")]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use lambda_blackbox_e2e::harness::{Function, Harness};
use lambda_blackbox_e2e::*;
use lambda_sandbox::proc_fs::{parse_status_kib, read_process};

/// Growth of VmRSS allowed between the warm-up point and the end.
const RSS_GROWTH_LIMIT_KIB: i64 = 1024;
/// How many failures are described in full.
const FAILURES_SHOWN: usize = 5;

use lambda_blackbox_contract::replacement::EXTENSION_COMM;
const HANDLER_COMM: &str = "bootstrap";
const BLACKBOX_COMM: &str = "blackbox_export";

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// One process's figures at one point of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    pid: i32,
    start_time: u64,
    rss_kib: i64,
    /// The anonymous part of VmRSS (heap, stacks): where a leak shows.
    anon_kib: i64,
    fds: i64,
}

fn sample(pid: i32) -> Option<Sample> {
    let info = read_process(pid)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib = parse_status_kib(&status, "VmRSS:")? as i64;
    let anon_kib = parse_status_kib(&status, "RssAnon:")? as i64;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as i64;
    Some(Sample {
        pid,
        start_time: info.start_time,
        rss_kib,
        anon_kib,
        fds,
    })
}

/// The extension, the handler and blackbox, each by its /proc name.
fn find(function: &Function, comm: &str) -> Option<i32> {
    let pids: Vec<i32> = function
        .processes()
        .into_iter()
        .filter(|p| p.comm == comm && p.state != 'Z')
        .map(|p| p.pid)
        .collect();
    assert!(
        pids.len() <= 1,
        "more than one {comm} process in the sandbox: {pids:?}"
    );
    pids.first().copied()
}

/// Waits until every process is stopped (the sandbox freezes them once the invoke has
/// ended), so nothing is measured while it is still finishing the last request.
async fn wait_until_frozen(pids: &[i32]) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(2) {
        if pids
            .iter()
            .all(|pid| read_process(*pid).is_some_and(|p| p.state == 'T'))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

struct Watched {
    name: &'static str,
    comm: &'static str,
    /// Held to the bounds; blackbox is only reported (Go's heap is not ours to bound).
    bounded: bool,
    pid: i32,
    warm: Option<Sample>,
    trend: Vec<(usize, Sample)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "minutes long: run with `make soak`"]
async fn ten_thousand_probes_no_failure_no_growth() {
    let probes = env_count("SOAK_PROBES", 10_000);
    let warmup = env_count("SOAK_WARMUP", 200).min(probes);
    let report_every = (probes / 10).max(1);

    let target = start_target().await;
    // The layer's own blackbox_exporter: BLACKBOX_COMM is its name.
    let function = Function::launch(Harness::SANDBOX_WITH_LAYER_BLACKBOX)
        // Four log lines an invoke would flood the output; a failed soak quotes the log's end.
        .echo_logs(false)
        .start()
        .await;
    function.assert_initialized();
    let url = format!(
        "http://{}/probe?target=http%3A%2F%2F{}%2Fsoak&module=http_2xx",
        function.function_url(),
        target.addr
    );
    // One connection to the Function URL, kept alive, as a Prometheus server would.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let mut watched: Vec<Watched> = [
        ("extension", EXTENSION_COMM, true),
        ("handler", HANDLER_COMM, true),
        ("blackbox_exporter", BLACKBOX_COMM, false),
    ]
    .into_iter()
    .map(|(name, comm, bounded)| Watched {
        name,
        comm,
        bounded,
        pid: find(&function, comm).unwrap_or_else(|| panic!("no {comm} process")),
        warm: None,
        trend: Vec::new(),
    })
    .collect();
    let pids: Vec<i32> = watched.iter().map(|w| w.pid).collect();

    let mut failures = 0usize;
    let mut failures_shown = String::new();
    let mut latencies: Vec<Duration> = Vec::with_capacity(probes);
    let mut measured_from: Option<Instant> = None;
    let started = Instant::now();

    for n in 1..=probes {
        let sent = Instant::now();
        let outcome = match client.get(&url).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.text().await.unwrap_or_default();
                match (status, metric(&body, "probe_success")) {
                    (200, Some(1.0)) => Ok(()),
                    _ => Err(format!("status {status}: {}", body.trim())),
                }
            }
            Err(e) => Err(format!("no answer: {e}")),
        };
        latencies.push(sent.elapsed());
        if let Err(why) = outcome {
            failures += 1;
            if failures <= FAILURES_SHOWN {
                let _ = writeln!(failures_shown, "  probe {n}: {why}");
            }
        }

        if n == warmup || n % report_every == 0 || n == probes {
            wait_until_frozen(&pids).await;
            for w in &mut watched {
                let s = sample(w.pid).unwrap_or_else(|| {
                    panic!(
                        "{} (pid {}) is gone after probe {n}\n{}",
                        w.name,
                        w.pid,
                        function.logs()
                    )
                });
                if n == warmup {
                    w.warm = Some(s);
                }
                w.trend.push((n, s));
            }
            if n == warmup {
                measured_from = Some(Instant::now());
            }
        }
    }
    let elapsed = started.elapsed();
    let measured = measured_from.map(|t| t.elapsed());

    // The processes must be the ones that started: a restart would reset the figures.
    for w in &watched {
        assert_eq!(
            find(&function, w.comm),
            Some(w.pid),
            "{} was replaced during the soak",
            w.name
        );
    }

    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let mut report = String::new();
    let _ = writeln!(
        report,
        "soak: {probes} probes (http_2xx of a loopback target through the Function URL, concurrency 1)"
    );
    let _ = writeln!(
        report,
        "  failures: {failures}\n  time: {:.1} s, {:.0} probes/s ({:.0} probes/s after the warm-up)\n  latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        elapsed.as_secs_f64(),
        probes as f64 / elapsed.as_secs_f64(),
        measured
            .map(|m| (probes - warmup) as f64 / m.as_secs_f64().max(1e-9))
            .unwrap_or(0.0),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    let _ = writeln!(
        report,
        "  {:<18} {:>7} {:>12} {:>12} {:>9} {:>9} {:>9} {:>9}",
        "process", "pid", "RSS warm KiB", "RSS end KiB", "growth", "fds warm", "fds end", "bounded"
    );
    let mut broken = Vec::new();
    for w in &watched {
        let warm = w.warm.expect("a warm-up sample");
        let end = w.trend.last().expect("an end sample").1;
        let growth = end.rss_kib - warm.rss_kib;
        let _ = writeln!(
            report,
            "  {:<18} {:>7} {:>12} {:>12} {:>+9} {:>9} {:>9} {:>9}",
            w.name,
            w.pid,
            warm.rss_kib,
            end.rss_kib,
            growth,
            warm.fds,
            end.fds,
            if w.bounded { "yes" } else { "no" }
        );
        assert_eq!(warm.start_time, end.start_time, "{} was replaced", w.name);
        if w.bounded {
            if growth >= RSS_GROWTH_LIMIT_KIB {
                broken.push(format!(
                    "{} RSS grew by {growth} KiB (limit: under {RSS_GROWTH_LIMIT_KIB} KiB)",
                    w.name
                ));
            }
            if end.fds != warm.fds {
                broken.push(format!(
                    "{} open fds went from {} to {}",
                    w.name, warm.fds, end.fds
                ));
            }
        }
    }
    let _ = writeln!(
        report,
        "  trend (after probe: VmRSS KiB / RssAnon KiB / fds):"
    );
    for w in &watched {
        let points: Vec<String> = w
            .trend
            .iter()
            .map(|(n, s)| format!("{n}: {}/{}/{}", s.rss_kib, s.anon_kib, s.fds))
            .collect();
        let _ = writeln!(report, "    {:<18} {}", w.name, points.join("  "));
    }
    if failures > 0 {
        let _ = write!(report, "  first failures:\n{failures_shown}");
        broken.push(format!("{failures} of {probes} probes failed"));
    }
    if !broken.is_empty() {
        let logs = function.logs();
        let tail: Vec<&str> = logs.lines().rev().take(30).collect();
        let _ = writeln!(report, "  the sandbox log's last lines:");
        for line in tail.into_iter().rev() {
            let _ = writeln!(report, "    {line}");
        }
    }
    println!("{report}");

    let shutdown = function.shutdown_sandbox().await;
    assert!(
        broken.is_empty(),
        "the soak broke its bounds (figures above):\n  {}\nshutdown: {shutdown:?}",
        broken.join("\n  ")
    );
}

//! A real Prometheus (Debian's `prometheus`) scrapes the real layer — extension,
//! blackbox_exporter, handler — in the local Lambda sandbox, through the scrape config
//! that `prometheus-config` writes: the multi-target pattern, the Function URL as
//! `__address__`, a bearer token from `credentials_file`, `region` and `instance` labels,
//! and Prometheus' `X-Prometheus-Scrape-Timeout-Seconds` reaching blackbox; each target
//! probed with its own module on both major versions (2.x lets a job's `params` replace a
//! target's module, 3.x does not), in a static list and a `file_sd` file. Then every
//! query of the Grafana dashboard runs against that Prometheus.
//!
//! `make test` builds the layer directory and points `LAMBDA_BLACKBOX_LAYER` at it.
//! Prometheus must be installed (`apt-get install prometheus`; `.ci/run` does it): a
//! missing one fails this test, it is not skipped.
#![cfg(feature = "layer")]

use lambda_blackbox_e2e::harness::{Function, Harness};
use lambda_blackbox_e2e::prometheus::{
    dashboard_queries, prometheus_bin, series, sid_prometheus, Prometheus,
};
use lambda_blackbox_e2e::{free_port, start_target, workspace_binary, TempDir};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

const REGION: &str = "local-1";
/// The issue's bound: Prometheus shows both results within 30 s.
const WITHIN: Duration = Duration::from_secs(30);

fn value_for(answer: &Value, instance: &str) -> Option<f64> {
    series(answer)
        .into_iter()
        .find(|(l, _)| l.get("instance").and_then(Value::as_str) == Some(instance))
        .map(|(_, v)| v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_2_scrapes_the_layer_by_region_and_the_dashboard_queries_run() {
    let binary = prometheus_bin();
    assert_major_version(&binary, "2.");
    scrapes_by_region_and_the_dashboard_queries_run(&binary, Targets::Static).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_2_reads_each_targets_module_from_the_file_sd_file() {
    let binary = prometheus_bin();
    assert_major_version(&binary, "2.");
    scrapes_by_region_and_the_dashboard_queries_run(&binary, Targets::FileSd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_3_scrapes_the_layer_by_region_and_the_dashboard_queries_run() {
    let binary = sid_prometheus();
    assert_major_version(&binary, "3.");
    scrapes_by_region_and_the_dashboard_queries_run(&binary, Targets::FileSd).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_3_reads_each_targets_module_from_the_static_list() {
    let binary = sid_prometheus();
    assert_major_version(&binary, "3.");
    scrapes_by_region_and_the_dashboard_queries_run(&binary, Targets::Static).await;
}

/// Where the generated config lists the targets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Targets {
    Static,
    FileSd,
}

fn assert_major_version(binary: &Path, major: &str) {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .expect("prometheus --version");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(&format!("version {major}")),
        "{}: {text}",
        binary.display()
    );
}

async fn scrapes_by_region_and_the_dashboard_queries_run(prometheus: &Path, form: Targets) {
    let started = Instant::now();
    let dir = TempDir::new("prometheus-e2e");
    let target = start_target().await.addr;
    let live = format!("http://{target}/");
    // A port that completes TCP handshakes (the kernel's backlog) and never answers HTTP:
    // tcp_connect succeeds there, http_2xx could not. The HTTP target read with the tls
    // module fails its handshake, where http_2xx would succeed.
    let raw_tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = raw_tcp.local_addr().unwrap().to_string();
    let tls = target.to_string();
    let slow = format!("http://{target}/slow");
    let dead = format!("http://127.0.0.1:{}/", free_port());
    let token = format!("e2e-token-{}", std::process::id());

    // The layer, with the auth setting (loopback targets allowed, as `Function` does).
    let function = Function::launch(Harness::SANDBOX_WITH_LAYER_BLACKBOX)
        .env(&[("BLACKBOX_AUTH_TOKEN", &token)])
        .echo_logs(std::env::var_os("SANDBOX_ECHO").is_some())
        .start()
        .await;
    function.assert_initialized();
    let furl = function.function_url();
    // The auth setting is on: without the token the Function URL refuses the probe, so
    // Prometheus' successful scrapes below carried it.
    let refused = reqwest::get(format!("http://{furl}/probe?target={live}&module=http_2xx"))
        .await
        .expect("the Function URL answers");
    assert_eq!(refused.status().as_u16(), 401, "a probe without the token");

    // The scrape config, written by the generator from a region → URL map.
    let d = dir.path();
    std::fs::write(d.join("token"), &token).unwrap();
    std::fs::write(
        d.join("urls.json"),
        format!(r#"{{"{REGION}": "http://{furl}/"}}"#),
    )
    .unwrap();
    std::fs::write(
        d.join("targets.txt"),
        format!(
            "# up, down, and slower than the scrape timeout\n{live}\n{dead}\n{slow}\n\
             # each with its own module\n{tcp} tcp_connect\n{tls} tls\n"
        ),
    )
    .unwrap();
    let mut generate = Command::new(workspace_binary("prometheus-config"));
    generate
        .arg("--urls")
        .arg(d.join("urls.json"))
        .arg("--targets")
        .arg(d.join("targets.txt"))
        .arg("--token-file")
        .arg(d.join("token"))
        .args(["--scrape-interval", "1s", "--scrape-timeout", "1s"])
        .args(["--tls-interval", "1s"])
        .arg("--out")
        .arg(d.join("prometheus.yml"));
    if form == Targets::FileSd {
        generate.args(["--file-sd", "targets.json"]);
    }
    let generated = generate.output().expect("run prometheus-config");
    assert!(
        generated.status.success(),
        "prometheus-config failed: {}",
        String::from_utf8_lossy(&generated.stderr)
    );

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut prometheus = Prometheus::start(prometheus, &d.join("prometheus.yml"), d);
    prometheus.wait_ready(&client).await;
    let prom_started = Instant::now();

    // probe_success 1 for the live target, 0 for the dead one, with the labels the
    // config promises; the slow one is 0 too, and only because blackbox got the scrape
    // timeout: without it the handler would give up at 1 s and the scrape would fail,
    // leaving no probe_success for it at all. The tcp_connect target succeeds and the tls
    // one fails: each was probed with its own module, in its own job.
    let expected = |instance: &str| -> (&str, &str) {
        if instance == tcp {
            ("tcp_connect", "lambda-blackbox-local-1")
        } else if instance == tls {
            ("tls", "lambda-blackbox-tls-local-1")
        } else {
            ("http_2xx", "lambda-blackbox-local-1")
        }
    };
    let want_labels = |labels: &serde_json::Map<String, Value>| {
        let instance = labels.get("instance").and_then(Value::as_str).unwrap_or("");
        let (module, job) = expected(instance);
        labels.get("region").and_then(Value::as_str) == Some(REGION)
            && labels.get("module").and_then(Value::as_str) == Some(module)
            && labels.get("job").and_then(Value::as_str) == Some(job)
    };
    let mut last: Value;
    loop {
        let (status, answer) = prometheus.query(&client, "probe_success").await;
        assert_eq!(status, 200, "{answer}");
        let ok = value_for(&answer, &live) == Some(1.0)
            && value_for(&answer, &dead) == Some(0.0)
            && value_for(&answer, &slow) == Some(0.0)
            && value_for(&answer, &tcp) == Some(1.0)
            && value_for(&answer, &tls) == Some(0.0)
            && series(&answer).iter().all(|(l, _)| want_labels(l));
        last = answer;
        if ok {
            break;
        }
        if prom_started.elapsed() > WITHIN {
            panic!(
                "after {WITHIN:?} Prometheus has probe_success {last}\n\ntargets: {}\n\nprometheus log:\n{}\n\nsandbox log:\n{}",
                prometheus.targets(&client).await,
                prometheus.log(),
                function.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(series(&last).len(), 5, "{last}");
    eprintln!(
        "probe_success 1 and 0 in Prometheus {:?} after it was ready",
        prom_started.elapsed()
    );
    // Neither non-HTTP target was probed by the http prober.
    let (_, codes) = prometheus.query(&client, "probe_http_status_code").await;
    assert_eq!(value_for(&codes, &tcp), None, "{codes}");
    assert_eq!(value_for(&codes, &tls), None, "{codes}");
    assert_eq!(value_for(&codes, &live), Some(200.0), "{codes}");

    // blackbox ended the slow probe within the scrape timeout (1 s, less its 0.5 s offset).
    let (_, durations) = prometheus.query(&client, "probe_duration_seconds").await;
    let slow_duration = value_for(&durations, &slow).expect("probe_duration_seconds of /slow");
    assert!(
        slow_duration < 0.95,
        "the slow probe took {slow_duration} s: the scrape timeout did not reach blackbox"
    );
    // Every scrape went through the Function URL with the token: `up` is 1 for all three.
    let (_, up) = prometheus.query(&client, "up").await;
    for t in [&live, &dead, &slow, &tcp, &tls] {
        assert_eq!(value_for(&up, t), Some(1.0), "up of {t}: {up}");
    }

    // Every dashboard query parses and runs; the by-region ones see this region.
    for (title, expr) in dashboard_queries() {
        let (status, answer) = prometheus.query(&client, &expr).await;
        assert!(
            status == 200 && answer["status"] == "success",
            "dashboard panel {title:?}: {expr:?} → {status} {answer}"
        );
        if expr.starts_with("avg by (region) (probe_success") {
            let regions: Vec<_> = series(&answer)
                .into_iter()
                .filter_map(|(l, _)| l.get("region").cloned())
                .collect();
            assert_eq!(regions, vec![Value::from(REGION)], "{title}: {answer}");
        }
    }
    // The check can fail: a query with a syntax error is refused.
    let (status, answer) = prometheus
        .query(&client, "avg by (region (probe_success)")
        .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errorType"], "bad_data", "{answer}");

    drop(prometheus);
    function.shutdown().await.assert_no_process_left();
    eprintln!("prometheus e2e took {:?}", started.elapsed());
}

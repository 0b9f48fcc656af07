//! The fleet's alerts end to end: three sandboxes as three regions (`AWS_REGION` each, a
//! Function URL each), a real Prometheus (Debian sid's 3.5) with the config
//! `prometheus-config` writes (targets as a file_sd file, `rule_files`) and the shipped rules
//! with their `for:` durations shortened for the test only, and targets on loopback. Through
//! `/api/v1/alerts`: a target down everywhere is BlackboxTargetDown; a target one region's
//! function refuses is BlackboxTargetDownInRegion for that region and no BlackboxTargetDown;
//! a stopped sandbox is LambdaBlackboxProbeFunctionDown for its region and no target alert.
//! Every query of the Grafana dashboard runs against that Prometheus.
#![cfg(feature = "layer")]

use std::path::Path;
use std::time::{Duration, Instant};

use lambda_blackbox_e2e::harness::{Function, Harness};
use lambda_blackbox_e2e::prometheus::{dashboard_queries, series, sid_prometheus, Prometheus};
use lambda_blackbox_e2e::{free_port, output_of, start_target, workspace_binary, TempDir};
use serde_json::Value;

const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];
const WITHIN: Duration = Duration::from_secs(60);

async fn start_region(region: &str, allowed: &str) -> Function {
    let function = Function::launch(Harness::SANDBOX_WITH_LAYER_BLACKBOX)
        .env(&[
            ("AWS_REGION", region),
            ("BLACKBOX_ALLOWED_TARGETS", allowed),
        ])
        .echo_logs(false)
        .start()
        .await;
    function.assert_initialized();
    function
}

/// The shipped rules with every `for:` at 2 s, so that the test waits seconds, not minutes;
/// for push mode also the stopped-push windows (1 h → 1 m, 10 m → 5 s).
fn shortened_rules(to: &Path) {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/prometheus/lambda-blackbox.rules.yml");
    let text = std::fs::read_to_string(rules).expect("the rules file");
    let short: Vec<String> = text
        .lines()
        .map(|line| match line.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}for: 2s", &line[..line.len() - line.trim_start().len()]),
            None => line.replace("[1h]", "[1m]").replace("[10m]", "[5s]"),
        })
        .collect();
    assert!(short.iter().filter(|l| l.ends_with("for: 2s")).count() >= 4);
    std::fs::write(to, short.join("\n") + "\n").unwrap();
}

/// The firing alerts as (alertname, region, instance).
async fn firing(
    prometheus: &Prometheus,
    client: &reqwest::Client,
) -> Vec<(String, String, String)> {
    let text = client
        .get(prometheus.url("/api/v1/alerts"))
        .send()
        .await
        .expect("prometheus answers")
        .text()
        .await
        .unwrap_or_default();
    let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let label = |a: &Value, k: &str| a["labels"][k].as_str().unwrap_or_default().to_string();
    answer["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["state"] == "firing")
        .map(|a| {
            (
                label(a, "alertname"),
                label(a, "region"),
                label(a, "instance"),
            )
        })
        .collect()
}

async fn wait_for(
    prometheus: &Prometheus,
    client: &reqwest::Client,
    what: &str,
    done: impl Fn(&[(String, String, String)]) -> bool,
) -> Vec<(String, String, String)> {
    let until = Instant::now() + WITHIN;
    loop {
        let alerts = firing(prometheus, client).await;
        if done(&alerts) {
            return alerts;
        }
        assert!(
            Instant::now() < until,
            "{what}: not within {WITHIN:?}; firing: {alerts:?}\n{}",
            prometheus.targets(client).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The first verdicts both modes wait for: the down target is down everywhere, the target
/// one region refuses is down from that region only.
fn first_verdicts(alerts: &[(String, String, String)], down: &str, refused: &str) -> bool {
    alerts
        .iter()
        .any(|(n, _, i)| n == "BlackboxTargetDown" && i == down)
        && has(
            alerts,
            "BlackboxTargetDownInRegion",
            "ap-southeast-2",
            refused,
        )
}

/// Beside the first verdicts: no target-wide alert for the refused target, none at all for
/// the up target, and no prober alert.
fn assert_nothing_else(alerts: &[(String, String, String)], refused: &str, up: &str) {
    assert!(
        !alerts
            .iter()
            .any(|(n, _, i)| n == "BlackboxTargetDown" && i == refused),
        "refused in one region is not down everywhere: {alerts:?}"
    );
    assert!(
        !alerts.iter().any(|(_, _, i)| i == up),
        "the up target has no alert: {alerts:?}"
    );
    assert!(
        !alerts
            .iter()
            .any(|(n, _, _)| n.starts_with("LambdaBlackbox")),
        "no prober alert: {alerts:?}"
    );
}

/// Every dashboard query answers; the panels named in `with_data` return series.
async fn assert_dashboard_answers(
    prometheus: &Prometheus,
    client: &reqwest::Client,
    with_data: &[&str],
) {
    for (title, expr) in dashboard_queries() {
        let (status, answer) = prometheus.query(client, &expr).await;
        assert!(
            status == 200 && answer["status"] == "success",
            "dashboard panel {title:?}: {expr:?} → {status} {answer}"
        );
        if with_data.contains(&title.as_str()) {
            assert!(!series(&answer).is_empty(), "{title}: {expr} → {answer}");
        }
    }
}

/// (region, value) for every region, sorted by region.
fn by_region(value: impl Fn(&str) -> f64) -> Vec<(String, f64)> {
    let mut all: Vec<(String, f64)> = REGIONS.iter().map(|r| (r.to_string(), value(r))).collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// The "Function down by region" panel's answer: (region, value), sorted by region.
async fn function_down(prometheus: &Prometheus, client: &reqwest::Client) -> Vec<(String, f64)> {
    let (_, expr) = dashboard_queries()
        .into_iter()
        .find(|(title, _)| title == "Function down by region")
        .expect("the panel");
    let (_, answer) = prometheus.query(client, &expr).await;
    let mut by_region: Vec<(String, f64)> = series(&answer)
        .into_iter()
        .map(|(labels, value)| (labels["region"].as_str().unwrap().to_string(), value))
        .collect();
    by_region.sort_by(|a, b| a.0.cmp(&b.0));
    by_region
}

fn has(alerts: &[(String, String, String)], name: &str, region: &str, instance: &str) -> bool {
    alerts
        .iter()
        .any(|(n, r, i)| n == name && r == region && i == instance)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rules_tell_down_everywhere_from_one_region_and_from_a_broken_prober() {
    let up = start_target().await;
    let refused_in_one = start_target().await;
    let down = format!("http://127.0.0.1:{}/", free_port());
    let up_url = format!("http://{}/", up.addr);
    let refused_url = format!("http://{}/", refused_in_one.addr);
    // The last region's function admits only the up and the down target.
    let narrow = format!(
        "{},{}",
        up.addr,
        down.trim_start_matches("http://").trim_end_matches('/')
    );
    let mut regions = Vec::new();
    for (i, region) in REGIONS.iter().enumerate() {
        let allowed = if i == 2 { narrow.as_str() } else { "127.0.0.1" };
        regions.push(Some(start_region(region, allowed).await));
    }

    let dir = TempDir::new("fleet-alerts");
    let d = dir.path();
    let urls: serde_json::Map<String, Value> = REGIONS
        .iter()
        .zip(&regions)
        .map(|(r, s)| {
            let url = format!("http://{}/", s.as_ref().unwrap().function_url());
            (r.to_string(), Value::String(url))
        })
        .collect();
    std::fs::write(d.join("urls.json"), Value::Object(urls).to_string()).unwrap();
    std::fs::write(
        d.join("targets.txt"),
        format!("{up_url}\n{refused_url}\n{down}\n"),
    )
    .unwrap();
    shortened_rules(&d.join("rules.yml"));
    output_of(
        std::process::Command::new(workspace_binary("prometheus-config"))
            .arg("--urls")
            .arg(d.join("urls.json"))
            .arg("--targets")
            .arg(d.join("targets.txt"))
            .args([
                "--no-auth",
                "--scrape-interval",
                "1s",
                "--scrape-timeout",
                "1s",
            ])
            .args(["--file-sd", "targets.json"])
            .arg("--rules")
            .arg(d.join("rules.yml"))
            .arg("--out")
            .arg(d.join("generated.yml")),
        "prometheus-config",
    );
    // The evaluation interval of the test only; the rest is the generated file as it is.
    let generated = std::fs::read_to_string(d.join("generated.yml")).unwrap();
    std::fs::write(
        d.join("prometheus.yml"),
        format!("global:\n  evaluation_interval: 1s\n{generated}"),
    )
    .unwrap();

    let client = reqwest::Client::new();
    let mut prometheus = Prometheus::start(&sid_prometheus(), &d.join("prometheus.yml"), d);
    prometheus.wait_ready(&client).await;

    let alerts = wait_for(&prometheus, &client, "the first verdicts", |a| {
        first_verdicts(a, &down, &refused_url)
    })
    .await;
    assert_nothing_else(&alerts, &refused_url, &up_url);
    // Every dashboard query runs against this Prometheus; the fleet panels see the fleet.
    assert_dashboard_answers(
        &prometheus,
        &client,
        &["Regions that see the target down", "Firing alerts"],
    )
    .await;
    // The region that refuses a target (403, a failed scrape) has a working function.
    assert_eq!(
        function_down(&prometheus, &client).await,
        by_region(|_| 0.0)
    );

    // One region's prober stops: its alert, and no target alert because of it.
    regions[0].take().unwrap().shutdown().await;
    let alerts = wait_for(&prometheus, &client, "the stopped region", |a| {
        a.iter()
            .any(|(n, r, _)| n == "LambdaBlackboxProbeFunctionDown" && r == REGIONS[0])
    })
    .await;
    // Held a few evaluations longer than the alerts' `for:`.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let later = firing(&prometheus, &client).await;
    for alerts in [&alerts, &later] {
        assert!(
            !alerts.iter().any(|(_, _, i)| *i == up_url),
            "a stopped prober made the up target alert: {alerts:?}"
        );
        assert!(
            !alerts
                .iter()
                .any(|(n, r, _)| n.starts_with("BlackboxTarget") && r == REGIONS[0]),
            "a stopped prober judged a target: {alerts:?}"
        );
    }
    assert!(
        later
            .iter()
            .any(|(n, _, i)| n == "BlackboxTargetDown" && *i == down),
        "the down target stays down from the other regions: {later:?}"
    );
    assert_eq!(
        function_down(&prometheus, &client).await,
        by_region(|region| if region == REGIONS[0] { 1.0 } else { 0.0 })
    );
    assert!(
        !prometheus.log().contains("level=ERROR"),
        "{}",
        prometheus.log()
    );
}

/// Each region's function invoked as its schedule would, once a round, then the alerts
/// looked at, until `done` holds.
async fn push_until(
    regions: &[Option<Function>],
    event: &[u8],
    prometheus: &Prometheus,
    client: &reqwest::Client,
    what: &str,
    done: impl Fn(&[(String, String, String)]) -> bool,
) -> Vec<(String, String, String)> {
    let until = Instant::now() + WITHIN;
    loop {
        for function in regions.iter().flatten() {
            let answer = function.invoke(event.to_vec()).await;
            assert!(answer.result().is_ok(), "{what}: {}", answer.body);
        }
        let alerts = firing(prometheus, client).await;
        if done(&alerts) {
            return alerts;
        }
        assert!(
            Instant::now() < until,
            "{what}: not within {WITHIN:?}; firing: {alerts:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The same fleet in push mode: each region's function writes into one Prometheus's
/// remote-write receiver (job lambda-blackbox for all), and the same rules, unchanged but for
/// their durations, tell the same things apart; a region whose pushes stop is
/// LambdaBlackboxPushStopped, and its old verdicts age out without a target alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_mode_fires_the_same_alerts() {
    let dir = TempDir::new("fleet-push");
    let d = dir.path();
    shortened_rules(&d.join("rules.yml"));
    let client = reqwest::Client::new();
    // A lookback as short as the test's windows, so that a stopped region's last samples
    // age out in seconds as they would in minutes.
    let mut prometheus = Prometheus::start_receiver(
        &sid_prometheus(),
        d,
        Some(&d.join("rules.yml")),
        &["--query.lookback-delta=5s"],
    );
    prometheus.wait_ready(&client).await;

    let up = start_target().await;
    let refused_in_one = start_target().await;
    let down = format!("http://127.0.0.1:{}/", free_port());
    let up_url = format!("http://{}/", up.addr);
    let refused_url = format!("http://{}/", refused_in_one.addr);
    let narrow = format!(
        "{},{}",
        up.addr,
        down.trim_start_matches("http://").trim_end_matches('/')
    );
    let url = prometheus.url("/api/v1/write");
    let mut regions = Vec::new();
    for (i, region) in REGIONS.iter().enumerate() {
        let allowed = if i == 2 { narrow.as_str() } else { "127.0.0.1" };
        let function = Function::start(
            Harness::SANDBOX,
            &[
                ("AWS_REGION", region),
                ("BLACKBOX_ALLOWED_TARGETS", allowed),
                ("BLACKBOX_REMOTE_WRITE_URL", &url),
                ("BLACKBOX_REMOTE_WRITE_AUTH", "none"),
            ],
        )
        .await;
        function.assert_initialized();
        regions.push(Some(function));
    }
    let event = serde_json::json!({"probes": [
        {"target": up_url}, {"target": refused_url}, {"target": down}
    ]})
    .to_string()
    .into_bytes();

    let alerts = push_until(
        &regions,
        &event,
        &prometheus,
        &client,
        "the first verdicts",
        |a| first_verdicts(a, &down, &refused_url),
    )
    .await;
    assert_nothing_else(&alerts, &refused_url, &up_url);
    assert_dashboard_answers(&prometheus, &client, &["Regions that see the target down"]).await;

    // us-east-1's pushes stop.
    regions[0].take().unwrap().shutdown().await;
    let alerts = push_until(
        &regions,
        &event,
        &prometheus,
        &client,
        "the stopped region",
        |a| {
            a.iter()
                .any(|(n, r, _)| n == "LambdaBlackboxPushStopped" && r == REGIONS[0])
        },
    )
    .await;
    for (n, r, i) in &alerts {
        assert!(
            !(n.starts_with("BlackboxTarget") && r == REGIONS[0]) && *i != up_url,
            "a stopped region judged a target: {alerts:?}"
        );
    }
    assert!(
        alerts
            .iter()
            .any(|(n, _, i)| n == "BlackboxTargetDown" && *i == down),
        "the down target stays down from the other regions: {alerts:?}"
    );
    assert!(
        !prometheus.log().contains("level=ERROR"),
        "{}",
        prometheus.log()
    );
}

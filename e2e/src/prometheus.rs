//! A real Prometheus for the end-to-end tests: Debian's (2.x, on the PATH or PROMETHEUS_BIN)
//! or Debian sid's 3.5 (LAMBDA_BLACKBOX_SID_PROMETHEUS), started on a loopback port and
//! asked through its HTTP API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::free_port;

pub fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

pub fn prometheus_bin() -> PathBuf {
    std::env::var_os("PROMETHEUS_BIN")
        .map(PathBuf::from)
        .or_else(|| find_on_path("prometheus"))
        .unwrap_or_else(|| {
            panic!(
                "prometheus is not installed: `apt-get install prometheus` (.ci/run does), \
                 or set PROMETHEUS_BIN"
            )
        })
}

/// Prometheus, killed and reaped when dropped — on success and on a failed assertion.
pub struct Prometheus {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Prometheus {
    pub fn start(binary: &Path, config: &Path, dir: &Path) -> Prometheus {
        Prometheus::start_with(binary, config, dir, &[])
    }

    /// Prometheus that scrapes nothing and takes remote-write on `/api/v1/write`
    /// (`--web.enable-remote-write-receiver`), with `rules` evaluated every second if given,
    /// and `extra` flags.
    pub fn start_receiver(
        binary: &Path,
        dir: &Path,
        rules: Option<&Path>,
        extra: &[&str],
    ) -> Prometheus {
        let config = dir.join("receiver.yml");
        let mut text = String::from("global:\n  evaluation_interval: 1s\n");
        if let Some(rules) = rules {
            text.push_str(&format!("rule_files:\n  - {}\n", rules.display()));
        }
        std::fs::write(&config, text).expect("receiver.yml");
        let mut flags = vec!["--web.enable-remote-write-receiver"];
        flags.extend_from_slice(extra);
        Prometheus::start_with(binary, &config, dir, &flags)
    }

    pub fn start_with(binary: &Path, config: &Path, dir: &Path, extra: &[&str]) -> Prometheus {
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let log = dir.join("prometheus.log");
        let log_file = std::fs::File::create(&log).expect("prometheus.log");
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log fd"))
            .stderr(log_file)
            .spawn()
            .expect("start prometheus");
        Prometheus { child, addr, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn wait_ready(&mut self, client: &reqwest::Client) {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "prometheus exited ({status}) before it was ready:\n{}",
                    self.log()
                );
            }
            let ready = client.get(self.url("/-/ready")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(
                Instant::now() < until,
                "prometheus not ready within 20 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `/api/v1/query`: the HTTP status and the parsed answer.
    pub async fn query(&self, client: &reqwest::Client, promql: &str) -> (u16, Value) {
        let url = url::Url::parse_with_params(&self.url("/api/v1/query"), [("query", promql)])
            .expect("query URL");
        let resp = client.get(url).send().await.expect("prometheus answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let v = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("query {promql:?}: not JSON ({e}): {text}"));
        (status, v)
    }

    pub async fn targets(&self, client: &reqwest::Client) -> String {
        match client.get(self.url("/api/v1/targets")).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => e.to_string(),
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `(labels, value)` of each series of an instant-vector answer.
pub fn series(answer: &Value) -> Vec<(serde_json::Map<String, Value>, f64)> {
    answer["data"]["result"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|s| {
                    let labels = s["metric"].as_object()?.clone();
                    let value = s["value"][1].as_str()?.parse().ok()?;
                    Some((labels, value))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Debian sid's Prometheus 3.5 (the LTS users run; 3.x fails a scrape whose Content-Type
/// is missing or unknown), which `make test` unpacks and names in LAMBDA_BLACKBOX_SID_PROMETHEUS.
pub fn sid_prometheus() -> PathBuf {
    let path = std::env::var_os("LAMBDA_BLACKBOX_SID_PROMETHEUS").map(PathBuf::from).expect(
        "LAMBDA_BLACKBOX_SID_PROMETHEUS is not set: run the tests with `make test`, which unpacks Debian sid's \
         prometheus (layer/scripts/debian-package-root.sh --suite sid amd64 target/debian-sid/amd64 prometheus)",
    );
    assert!(path.is_file(), "{}: no such file", path.display());
    path
}

/// Every PromQL query of the dashboard, Grafana's variables replaced as Grafana does
/// for "All" (`.*`) and its interval variables by fixed ranges. The template variables'
/// `label_values(SELECTOR, LABEL)` contribute their selector.
pub fn dashboard_queries() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/lambda-blackbox.json");
    let text = std::fs::read_to_string(&path).expect("the dashboard JSON");
    let dash: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut out = Vec::new();
    fn panels(v: &Value, out: &mut Vec<(String, String)>) {
        for p in v.as_array().into_iter().flatten() {
            let title = p["title"].as_str().unwrap_or("?").to_string();
            for t in p["targets"].as_array().into_iter().flatten() {
                if let Some(e) = t["expr"].as_str() {
                    out.push((title.clone(), e.to_string()));
                }
            }
            panels(&p["panels"], out);
        }
    }
    panels(&dash["panels"], &mut out);
    for v in dash["templating"]["list"].as_array().into_iter().flatten() {
        let q = v["query"]["query"].as_str().or_else(|| v["query"].as_str());
        if v["type"] == "query" {
            let q = q.expect("a query variable has a query");
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|r| r.rsplit_once(','))
                .map(|(sel, _)| sel.to_string())
                .unwrap_or_else(|| {
                    panic!("variable query {q:?} is not label_values(SELECTOR, LABEL)")
                });
            out.push((format!("variable {}", v["name"]), inner));
        }
    }
    assert!(out.len() >= 6, "the dashboard has too few queries: {out:?}");
    out.into_iter()
        .map(|(title, e)| {
            let e = e
                .replace("${region}", ".*")
                .replace("$region", ".*")
                .replace("${instance}", ".*")
                .replace("$instance", ".*")
                .replace("$__rate_interval", "1m")
                .replace("$__interval", "15s")
                .replace("$__range", "1h");
            assert!(!e.contains('$'), "{title}: a variable is left in {e:?}");
            (title, e)
        })
        .collect()
}

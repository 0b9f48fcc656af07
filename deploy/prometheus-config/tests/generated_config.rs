//! `prometheus-config` end to end as a user runs it, and its output checked by
//! Prometheus' own `promtool check config` (Debian's `prometheus` package; a missing
//! promtool fails these tests, it does not skip them).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lambda_sandbox::test_support::TempDir;

fn promtool() -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("promtool"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("promtool is not installed: `apt-get install prometheus` (.ci/run does)")
        })
}

const URLS: &str = r#"{
  "us-east-1": "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws/",
  "eu-central-1": "https://bcdefghijklmnopqrstuvwxyz0123456.lambda-url.eu-central-1.on.aws/",
  "ap-southeast-2": "https://cdefghijklmnopqrstuvwxyz01234567.lambda-url.ap-southeast-2.on.aws/"
}"#;

const TARGETS: &str = "# what to probe from every region\n\
https://example.com\n\
https://example.org/health http_2xx\n\
example.com:443 tls\n\
example.net:22 tcp_connect\n";

fn generate(dir: &Path, extra: &[&str]) -> Output {
    generate_from(dir, URLS, extra)
}

/// `prometheus-config` with `urls` as its --urls file (a region map or a CDK outputs file).
fn generate_from(dir: &Path, urls: &str, extra: &[&str]) -> Output {
    std::fs::write(dir.join("urls.json"), urls).unwrap();
    std::fs::write(dir.join("targets.txt"), TARGETS).unwrap();
    Command::new(env!("CARGO_BIN_EXE_prometheus-config"))
        .arg("--urls")
        .arg(dir.join("urls.json"))
        .arg("--targets")
        .arg(dir.join("targets.txt"))
        .args(extra)
        .output()
        .expect("run prometheus-config")
}

fn check_config(path: &Path) -> Output {
    Command::new(promtool())
        .args(["check", "config"])
        .arg(path)
        .output()
        .expect("run promtool")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
#[cfg_attr(
    not(feature = "promtool"),
    ignore = "needs promtool: run it with `make test`"
)]
fn promtool_accepts_the_generated_multi_region_config() {
    let dir = TempDir::new("promcfg");
    let d = dir.path();
    let token = d.join("token");
    std::fs::write(&token, "s3cret").unwrap();
    let out = d.join("scrape.yml");
    let gen = generate(
        d,
        &[
            "--token-file",
            token.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(gen.status.success(), "{}", text(&gen));
    let yaml = std::fs::read_to_string(&out).unwrap();
    for region in ["us-east-1", "eu-central-1", "ap-southeast-2"] {
        assert!(
            yaml.contains(&format!("job_name: \"lambda-blackbox-{region}\"")),
            "{yaml}"
        );
        assert!(yaml.contains(&format!("region: \"{region}\"")), "{yaml}");
        assert!(
            yaml.contains(&format!(".lambda-url.{region}.on.aws:443\"")),
            "{yaml}"
        );
    }
    let check = check_config(&out);
    assert!(
        check.status.success(),
        "promtool:\n{}\n{yaml}",
        text(&check)
    );
    assert!(text(&check).contains("SUCCESS"), "{}", text(&check));
}

/// The CDK fleet's outputs file in, the targets as a file_sd file and the many-region rules
/// out: promtool checks the config (with the rule file and its own rules check) as Prometheus
/// would load it.
#[test]
#[cfg_attr(
    not(feature = "promtool"),
    ignore = "needs promtool: run it with `make test`"
)]
fn the_cdk_outputs_file_becomes_jobs_a_file_sd_file_and_the_rules() {
    let dir = TempDir::new("promcfg-fleet");
    let d = dir.path();
    const FLEET: &str = r#"{
  "LambdaBlackbox-us-east-1": {"FunctionUrl": "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws/", "Region": "us-east-1"},
  "LambdaBlackbox-eu-west-1": {"FunctionUrl": "https://bcdefghijklmnopqrstuvwxyz0123456.lambda-url.eu-west-1.on.aws/", "Region": "eu-west-1"},
  "LambdaBlackbox-ap-southeast-2": {"FunctionUrl": "https://cdefghijklmnopqrstuvwxyz01234567.lambda-url.ap-southeast-2.on.aws/", "Region": "ap-southeast-2"}
}"#;
    let token = d.join("token");
    std::fs::write(&token, "s3cret").unwrap();
    let rules =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../prometheus/lambda-blackbox.rules.yml");
    let (out, sd) = (d.join("prometheus.yml"), d.join("targets.json"));
    let gen = generate_from(
        d,
        FLEET,
        &[
            "--token-file",
            token.to_str().unwrap(),
            // Relative to --out's directory, as Prometheus resolves it.
            "--file-sd",
            "targets.json",
            "--rules",
            rules.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(gen.status.success(), "{}", text(&gen));
    let yaml = std::fs::read_to_string(&out).unwrap();
    for region in ["us-east-1", "eu-west-1", "ap-southeast-2"] {
        assert!(
            yaml.contains(&format!("job_name: \"lambda-blackbox-{region}\"")),
            "{yaml}"
        );
        assert!(
            yaml.contains(&format!("replacement: \"{region}\"")),
            "{yaml}"
        );
    }
    let targets: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sd).unwrap()).unwrap();
    assert_eq!(targets.as_array().map(Vec::len), Some(3), "{targets}");
    let check = check_config(&out);
    assert!(
        check.status.success(),
        "promtool:\n{}\n{yaml}",
        text(&check)
    );
    let said = text(&check);
    assert!(
        said.contains("SUCCESS: 12 rules found"),
        "the rules were checked: {said}"
    );
}

#[test]
#[cfg_attr(
    not(feature = "promtool"),
    ignore = "needs promtool: run it with `make test`"
)]
fn the_targets_file_is_written_beside_the_config_or_refused() {
    let dir = TempDir::new("promcfg-file-sd");
    let d = dir.path();
    let conf = d.join("conf");
    std::fs::create_dir(&conf).unwrap();
    let out = conf.join("prometheus.yml");
    let gen = generate(
        d,
        &[
            "--no-auth",
            "--file-sd",
            "targets.json",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(gen.status.success(), "{}", text(&gen));
    assert!(conf.join("targets.json").is_file(), "{}", text(&gen));
    assert!(!d.join("targets.json").exists());
    let check = check_config(&out);
    assert!(check.status.success(), "{}", text(&check));

    let absolute = generate(
        d,
        &[
            "--file-sd",
            "/etc/prometheus/t.json",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(absolute.status.code(), Some(2), "{}", text(&absolute));
    assert!(
        text(&absolute).contains("\"/etc/prometheus/t.json\" is absolute"),
        "{}",
        text(&absolute)
    );
    assert!(!Path::new("/etc/prometheus/t.json").exists());
    let no_out = generate(d, &["--file-sd", "targets.json"]);
    assert_eq!(no_out.status.code(), Some(2), "{}", text(&no_out));
    assert!(
        text(&no_out).contains("--file-sd needs --out"),
        "{}",
        text(&no_out)
    );
}

#[test]
#[cfg_attr(
    not(feature = "promtool"),
    ignore = "needs promtool: run it with `make test`"
)]
fn promtool_refuses_the_config_when_the_token_file_is_missing() {
    // The check above can fail: promtool verifies the credentials file exists.
    let dir = TempDir::new("promcfg-missing");
    let d = dir.path();
    let out = d.join("scrape.yml");
    let missing = d.join("no-such-token");
    let gen = generate(
        d,
        &[
            "--token-file",
            missing.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(gen.status.success(), "{}", text(&gen));
    let check = check_config(&out);
    assert!(!check.status.success(), "{}", text(&check));
    assert!(text(&check).contains("no-such-token"), "{}", text(&check));
}

#[test]
#[cfg_attr(
    not(feature = "promtool"),
    ignore = "needs promtool: run it with `make test`"
)]
fn without_auth_the_config_is_valid_and_has_no_authorization() {
    let dir = TempDir::new("promcfg-noauth");
    let d = dir.path();
    let out = d.join("scrape.yml");
    let gen = generate(d, &["--no-auth", "--out", out.to_str().unwrap()]);
    assert!(gen.status.success(), "{}", text(&gen));
    assert!(!std::fs::read_to_string(&out)
        .unwrap()
        .contains("authorization"));
    let check = check_config(&out);
    assert!(check.status.success(), "{}", text(&check));
}

#[test]
fn bad_input_is_refused_naming_the_file() {
    let dir = TempDir::new("promcfg-bad");
    let d = dir.path();
    std::fs::write(d.join("bad.json"), r#"{"us-east-1": "ftp://x/"}"#).unwrap();
    std::fs::write(d.join("targets.txt"), TARGETS).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_prometheus-config"))
        .arg("--urls")
        .arg(d.join("bad.json"))
        .arg("--targets")
        .arg(d.join("targets.txt"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o);
    assert!(
        err.contains("bad.json: region us-east-1: \"ftp://x/\" is not an http(s) URL"),
        "{err}"
    );
}

#[test]
fn every_dashboard_query_filters_by_region_and_target() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../grafana/lambda-blackbox.json");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut metrics = Vec::new();
    for p in dash["panels"].as_array().unwrap() {
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "panel {} has no query", p["title"]);
        for t in targets {
            let e = t["expr"].as_str().unwrap();
            // The firing alerts panel lists the fleet's alerts; the target-wide ones have
            // no region.
            if e.starts_with("ALERTS{") {
                continue;
            }
            assert!(e.contains("region=~\"$region\""), "{}: {e}", p["title"]);
            // Scrape jobs are lambda-blackbox-<region>; push mode writes job lambda-blackbox.
            assert!(
                e.contains("job=~\"lambda-blackbox.*\""),
                "{}: {e}",
                p["title"]
            );
            for m in [
                "probe_success",
                "probe_http_duration_seconds",
                "probe_ssl_earliest_cert_expiry",
            ] {
                if e.contains(m) {
                    metrics.push(m);
                }
            }
        }
    }
    for m in [
        "probe_success",
        "probe_http_duration_seconds",
        "probe_ssl_earliest_cert_expiry",
    ] {
        assert!(metrics.contains(&m), "no panel uses {m}");
    }
    assert!(dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["targets"][0]["expr"]
            .as_str()
            .unwrap()
            .contains("by (region, phase) (probe_http_duration_seconds")));
}

/// Grafana's import asks for each `__inputs` entry and puts the chosen data source wherever
/// `${NAME}` stands; a reference to anything else would stay unresolved.
#[test]
fn the_dashboard_imports_with_a_prometheus_data_source_input() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../grafana/lambda-blackbox.json");
    let text = std::fs::read_to_string(path).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    let inputs = dash["__inputs"].as_array().expect("__inputs");
    assert_eq!(inputs.len(), 1, "{inputs:?}");
    assert_eq!(inputs[0]["type"], "datasource");
    assert_eq!(inputs[0]["pluginId"], "prometheus");
    let input = format!("${{{}}}", inputs[0]["name"].as_str().unwrap());
    let variables: Vec<&str> = dash["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    // Every ${…} is the input or a variable of the dashboard.
    for reference in text.split("${").skip(1) {
        let name = reference.split('}').next().unwrap();
        assert!(
            format!("${{{name}}}") == input || variables.contains(&name),
            "${{{name}}} is neither an input nor a variable"
        );
    }
    let datasource = dash["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["type"] == "datasource")
        .expect("a data source variable");
    assert_eq!(datasource["current"]["value"], input.as_str());
    for panel in dash["panels"].as_array().unwrap() {
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
    }
}

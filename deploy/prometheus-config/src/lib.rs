//! The Prometheus config for lambda-blackbox deployed in many regions: per region one
//! scrape job, and one slower job for certificate checks, the multi-target pattern
//! (`/probe?target=…&module=…`), and `region`, `instance` and `module` labels on every
//! series; the targets in a `file_sd` file all jobs share, and the rules file named in
//! `rule_files`.
//!
//! Each target's module travels as its own `__param_module` label and no job sets
//! `params: module`: Prometheus 2.x lets a job's `params` replace a target's
//! `__param_module`, 3.x does the opposite, so a job-level module would mean two
//! different things.

mod inputs;
mod render;

pub use inputs::{is_name, parse_targets, parse_urls, Region, Target};
pub use render::{render, render_file_sd};

/// What the generated config needs besides the regions and targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Module for targets that do not name one.
    pub module: String,
    pub scrape_interval: String,
    pub scrape_timeout: String,
    /// `authorization.credentials_file` (the function's `BLACKBOX_AUTH_TOKEN`); `None`
    /// writes no authorization (a function without the auth setting).
    pub token_file: Option<String>,
    /// Jobs are named `<prefix>-<region>` and `<prefix>-tls-<region>`.
    pub job_prefix: String,
    /// Modules whose targets go to the `-tls-` job (certificates change slowly).
    pub tls_modules: Vec<String>,
    /// That job's scrape interval.
    pub tls_interval: String,
    /// The `file_sd` file the jobs read their targets from, relative to the config file
    /// (as Prometheus reads it); `None` lists the targets in each job.
    pub file_sd: Option<String>,
    /// Written as `rule_files`.
    pub rule_files: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            module: "http_2xx".into(),
            scrape_interval: "15s".into(),
            scrape_timeout: "10s".into(),
            token_file: Some(DEFAULT_TOKEN_FILE.into()),
            job_prefix: "lambda-blackbox".into(),
            tls_modules: vec!["tls".into()],
            tls_interval: "5m".into(),
            file_sd: None,
            rule_files: Vec::new(),
        }
    }
}

pub const DEFAULT_TOKEN_FILE: &str = "/etc/prometheus/lambda-blackbox.token";

#[cfg(test)]
mod tests {
    use super::*;
    use render::q;

    const URLS: &str = r#"{
        "us-east-1": "https://abc123.lambda-url.us-east-1.on.aws/",
        "eu-west-1": {"url": "https://def456.lambda-url.eu-west-1.on.aws"},
        "local": "http://127.0.0.1:9000/stage/"
    }"#;

    #[test]
    fn urls_take_a_map_or_a_list() {
        let r = parse_urls(URLS).unwrap();
        let names: Vec<&str> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["eu-west-1", "local", "us-east-1"]);
        let list = parse_urls(
            r#"[{"region": "ap-south-1", "url": "https://x.lambda-url.ap-south-1.on.aws/"}]"#,
        )
        .unwrap();
        assert_eq!(list[0].name, "ap-south-1");
        assert_eq!(
            list[0].url.host_str(),
            Some("x.lambda-url.ap-south-1.on.aws")
        );
    }

    #[test]
    fn bad_urls_are_refused_with_the_region() {
        for (json, want) in [
            (
                r#"{"us-east-1": "ftp://x/"}"#,
                "region us-east-1: \"ftp://x/\" is not an http(s) URL",
            ),
            (r#"{"us-east-1": "https://x/?a=1"}"#, "has a query"),
            (r#"{"us east": "https://x/"}"#, "only letters"),
            (r#"{"us-east-1": 3}"#, "is not a URL"),
            (r#"{}"#, "no regions"),
            (r#"[1]"#, "no \"region\""),
            ("nope", "not JSON"),
        ] {
            let e = parse_urls(json).unwrap_err();
            assert!(e.contains(want), "{json}: {e}");
        }
    }

    #[test]
    fn per_region_a_probe_job_and_a_slower_certificate_job_with_labels() {
        let regions = parse_urls(URLS).unwrap();
        let targets =
            parse_targets("https://example.com\nexample.com:443 tls\nhttps://b.example\n").unwrap();
        let y = render(&regions, &targets, &Options::default()).unwrap();
        assert_eq!(y.matches("  - job_name: ").count(), 6);
        assert!(y.contains("  - job_name: \"lambda-blackbox-us-east-1\"\n    scheme: https\n    metrics_path: \"/probe\"\n    scrape_interval: 15s\n"), "{y}");
        assert!(y.contains("  - job_name: \"lambda-blackbox-tls-us-east-1\"\n    scheme: https\n    metrics_path: \"/probe\"\n    scrape_interval: 5m\n"), "{y}");
        assert!(
            y.contains("replacement: \"abc123.lambda-url.us-east-1.on.aws:443\""),
            "{y}"
        );
        assert!(y.contains("replacement: \"127.0.0.1:9000\""), "{y}");
        assert!(y.contains("metrics_path: \"/stage/probe\""), "{y}");
        assert!(y.contains(
            "      - targets: [\"https://example.com\", \"https://b.example\"]\n        labels:\n          region: \"us-east-1\"\n          __param_module: \"http_2xx\"\n"
        ), "{y}");
        assert!(y.contains("    scrape_interval: 5m\n    scrape_timeout: 10s\n    authorization:\n      type: Bearer\n      credentials_file: \"/etc/prometheus/lambda-blackbox.token\"\n    static_configs:\n      - targets: [\"example.com:443\"]\n        labels:\n          region: \"us-east-1\"\n          __param_module: \"tls\"\n"), "{y}");
        // Prometheus 2.x would let a job's module replace every target's own.
        assert!(!y.contains("params:"), "{y}");
        let no_auth = Options {
            token_file: None,
            ..Options::default()
        };
        assert!(!render(&regions, &targets, &no_auth)
            .unwrap()
            .contains("authorization"));
    }

    #[test]
    fn a_static_list_gets_only_the_jobs_it_has_targets_for() {
        let regions =
            parse_urls(r#"{"us-east-1": "https://a.lambda-url.us-east-1.on.aws/"}"#).unwrap();
        let only_http = parse_targets("https://example.com\n").unwrap();
        let y = render(&regions, &only_http, &Options::default()).unwrap();
        assert_eq!(y.matches("  - job_name: ").count(), 1, "{y}");
        let only_tls = parse_targets("example.com:443 tls\n").unwrap();
        let y = render(&regions, &only_tls, &Options::default()).unwrap();
        assert_eq!(y.matches("  - job_name: ").count(), 1, "{y}");
        assert!(y.contains("lambda-blackbox-tls-us-east-1"), "{y}");
        let none = Options {
            tls_modules: Vec::new(),
            ..Options::default()
        };
        let y = render(&regions, &only_tls, &none).unwrap();
        assert!(!y.contains("-tls-"), "{y}");
        assert!(y.contains("scrape_interval: 15s"), "{y}");
    }

    #[test]
    fn intervals_are_checked() {
        let r = parse_urls(URLS).unwrap();
        let t = parse_targets("x\n").unwrap();
        let o = |i: &str, to: &str| Options {
            scrape_interval: i.into(),
            scrape_timeout: to.into(),
            ..Options::default()
        };
        assert!(render(&r, &t, &o("1s", "1s")).is_ok());
        assert!(render(&r, &t, &o("1m", "500ms")).is_ok());
        assert_eq!(
            render(&r, &t, &o("10s", "15s")).unwrap_err(),
            "the scrape timeout 15s is longer than the scrape interval 10s"
        );
        let slow_tls = Options {
            tls_interval: "5s".into(),
            ..Options::default()
        };
        assert_eq!(
            render(&r, &t, &slow_tls).unwrap_err(),
            "the scrape timeout 10s is longer than the TLS interval 5s"
        );
        assert!(render(&r, &t, &o("soon", "1s"))
            .unwrap_err()
            .contains("scrape interval"));
    }

    #[test]
    fn the_cdk_fleet_outputs_file_is_read_by_stack() {
        let outputs = r#"{
            "LambdaBlackbox-us-east-1": {"FunctionUrl": "https://a.lambda-url.us-east-1.on.aws/", "LayerArn": "arn:x"},
            "LambdaBlackbox-eu-west-1": {"FunctionUrl": "https://b.lambda-url.eu-west-1.on.aws/", "Region": "eu-west-1"},
            "Custom": {"FunctionUrl": "https://c.lambda-url.ap-south-1.on.aws/", "Region": "ap-south-1"}
        }"#;
        let regions = parse_urls(outputs).unwrap();
        let names: Vec<&str> = regions.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["ap-south-1", "eu-west-1", "us-east-1"]);
        assert_eq!(
            regions[2].url.as_str(),
            "https://a.lambda-url.us-east-1.on.aws/"
        );
    }

    #[test]
    fn with_file_sd_every_job_reads_one_targets_file_and_labels_its_region() {
        let regions = parse_urls(URLS).unwrap();
        let targets = parse_targets("https://example.com\nexample.com:443 tls\n").unwrap();
        let opts = Options {
            file_sd: Some("lambda-blackbox-targets.json".into()),
            rule_files: vec!["/etc/prometheus/lambda-blackbox.rules.yml".into()],
            ..Options::default()
        };
        let y = render(&regions, &targets, &opts).unwrap();
        assert!(
            y.contains(
                "rule_files:\n  - \"/etc/prometheus/lambda-blackbox.rules.yml\"\nscrape_configs:\n"
            ),
            "{y}"
        );
        assert_eq!(
            y.matches("      - files: [\"lambda-blackbox-targets.json\"]")
                .count(),
            6
        );
        // A target the file lists without a module gets the default; each job keeps its
        // own modules' targets.
        let relabel = |action: &str| {
            format!(
                "      - target_label: region\n        replacement: \"us-east-1\"\n\
                 \x20     - source_labels: [__param_module]\n        regex: \"\"\n        target_label: __param_module\n        replacement: \"http_2xx\"\n\
                 \x20     - source_labels: [__param_module]\n        regex: \"tls\"\n        action: {action}\n"
            )
        };
        assert_eq!(y.matches(&relabel("drop")).count(), 1, "{y}");
        assert_eq!(y.matches(&relabel("keep")).count(), 1, "{y}");
        assert!(!y.contains("static_configs"), "{y}");
        assert!(!y.contains("params:"), "{y}");
        let sd: serde_json::Value = serde_json::from_str(&render_file_sd(&targets, &opts)).unwrap();
        assert_eq!(
            sd,
            serde_json::json!([
                {"targets": ["https://example.com"], "labels": {"__param_module": "http_2xx"}},
                {"targets": ["example.com:443"], "labels": {"__param_module": "tls"}}
            ])
        );
    }

    #[test]
    fn an_absolute_file_sd_path_is_refused() {
        let opts = Options {
            file_sd: Some("/etc/prometheus/targets.json".into()),
            ..Options::default()
        };
        assert_eq!(
            render(
                &parse_urls(URLS).unwrap(),
                &parse_targets("x\n").unwrap(),
                &opts
            )
            .unwrap_err(),
            "the file_sd file \"/etc/prometheus/targets.json\" is absolute: give it relative to \
             the config file, where it is written and where Prometheus reads it"
        );
    }

    #[test]
    fn module_names_are_matched_exactly_in_relabel_regexes() {
        assert_eq!(
            render::alternatives(&["tls".into(), "tls.v2".into()]),
            "tls|tls\\.v2"
        );
    }

    #[test]
    fn quoting_keeps_yaml_safe() {
        assert_eq!(q("a\"b: #c"), "\"a\\\"b: #c\"");
    }
}

//! The Prometheus config for lambda-blackbox deployed in many regions: one scrape job per
//! region, the multi-target pattern (`/probe?target=…&module=…`), and `region`,
//! `instance` and `module` labels on every series; the targets in a `file_sd` file all
//! jobs share, and the rules file named in `rule_files`.

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
    /// Jobs are named `<prefix>-<region>`.
    pub job_prefix: String,
    /// The `file_sd` file the jobs read their targets from (as Prometheus sees the path);
    /// `None` lists the targets in each job.
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
    fn one_job_per_region_with_region_instance_and_module_labels() {
        let regions = parse_urls(URLS).unwrap();
        let targets =
            parse_targets("https://example.com\nexample.com:443 tls\nhttps://b.example\n").unwrap();
        let y = render(&regions, &targets, &Options::default()).unwrap();
        assert_eq!(y.matches("  - job_name: ").count(), 3);
        assert!(y.contains("  - job_name: \"lambda-blackbox-us-east-1\"\n    scheme: https\n    metrics_path: \"/probe\"\n"), "{y}");
        assert!(
            y.contains("replacement: \"abc123.lambda-url.us-east-1.on.aws:443\""),
            "{y}"
        );
        assert!(y.contains("replacement: \"127.0.0.1:9000\""), "{y}");
        assert!(y.contains("metrics_path: \"/stage/probe\""), "{y}");
        assert!(y.contains(
            "      - targets: [\"https://example.com\", \"https://b.example\"]\n        labels:\n          region: \"us-east-1\"\n          __param_module: \"http_2xx\"\n"
        ), "{y}");
        assert!(y.contains("      - targets: [\"example.com:443\"]\n        labels:\n          region: \"us-east-1\"\n          __param_module: \"tls\"\n"), "{y}");
        assert!(y.contains("credentials_file: \"/etc/prometheus/lambda-blackbox.token\""));
        let no_auth = Options {
            token_file: None,
            ..Options::default()
        };
        assert!(!render(&regions, &targets, &no_auth)
            .unwrap()
            .contains("authorization"));
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
        assert!(render(&r, &t, &o("10s", "15s"))
            .unwrap_err()
            .contains("longer than"));
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
            file_sd: Some("/etc/prometheus/lambda-blackbox-targets.json".into()),
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
            y.matches("      - files: [\"/etc/prometheus/lambda-blackbox-targets.json\"]")
                .count(),
            3
        );
        assert!(
            y.contains("      - target_label: region\n        replacement: \"us-east-1\"\n"),
            "{y}"
        );
        assert!(!y.contains("static_configs"), "{y}");
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
    fn quoting_keeps_yaml_safe() {
        assert_eq!(q("a\"b: #c"), "\"a\\\"b: #c\"");
    }
}

//! The Prometheus scrape config for lambda-blackbox deployed in many regions: one job
//! per region, the multi-target pattern (`/probe?target=…&module=…`), and `region` and
//! `instance` labels on every series.

use std::fmt::Write as _;

use url::Url;

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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            module: "http_2xx".into(),
            scrape_interval: "15s".into(),
            scrape_timeout: "10s".into(),
            token_file: Some(DEFAULT_TOKEN_FILE.into()),
            job_prefix: "lambda-blackbox".into(),
        }
    }
}

pub const DEFAULT_TOKEN_FILE: &str = "/etc/prometheus/lambda-blackbox.token";

/// A region and its Function URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    pub url: Url,
}

/// One line of the targets file: `TARGET [MODULE]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub target: String,
    pub module: Option<String>,
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn function_url(region: &str, value: &serde_json::Value) -> Result<Region, String> {
    let text = match value {
        serde_json::Value::String(s) => s.as_str(),
        serde_json::Value::Object(o) => ["url", "functionUrl", "FunctionUrl", "function_url"]
            .iter()
            .find_map(|k| o.get(*k).and_then(|v| v.as_str()))
            .ok_or_else(|| format!("region {region:?}: no \"url\" in {value}"))?,
        other => return Err(format!("region {region:?}: {other} is not a URL")),
    };
    if !is_name(region) {
        return Err(format!(
            "region {region:?}: only letters, digits, '-', '_' and '.' are allowed"
        ));
    }
    let url = Url::parse(text.trim()).map_err(|e| format!("region {region}: {text:?}: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(format!("region {region}: {text:?} is not an http(s) URL"));
    }
    if url.host_str().is_none() {
        return Err(format!("region {region}: {text:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "region {region}: {text:?} has a query or fragment; give the Function URL itself"
        ));
    }
    Ok(Region {
        name: region.to_string(),
        url,
    })
}

/// The region → Function URL map: `{"us-east-1": "https://….lambda-url.us-east-1.on.aws/"}`
/// (a value may also be an object with a `url` key), or a list of `{"region", "url"}`.
pub fn parse_urls(json: &str) -> Result<Vec<Region>, String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let regions = match &v {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| function_url(k, v))
            .collect::<Result<Vec<_>, _>>()?,
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| {
                let region = item
                    .get("region")
                    .and_then(|r| r.as_str())
                    .ok_or_else(|| format!("{item}: no \"region\""))?;
                function_url(region, item)
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return Err("expected an object of region → Function URL".into()),
    };
    if regions.is_empty() {
        return Err("no regions".into());
    }
    let mut names: Vec<&str> = regions.iter().map(|r| r.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("region {} is listed twice", w[0]));
    }
    Ok(regions)
}

/// The targets file: one `TARGET [MODULE]` a line; blank lines and `#` comments skipped.
pub fn parse_targets(text: &str) -> Result<Vec<Target>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let target = words.next().unwrap_or_default().to_string();
        let module = words.next().map(str::to_string);
        if words.next().is_some() {
            return Err(format!(
                "line {}: expected TARGET [MODULE], got {line:?}",
                n + 1
            ));
        }
        if let Some(m) = &module {
            if !is_name(m) {
                return Err(format!("line {}: {m:?} is not a module name", n + 1));
            }
        }
        out.push(Target { target, module });
    }
    if out.is_empty() {
        return Err("no targets".into());
    }
    Ok(out)
}

/// Milliseconds of a simple Prometheus duration (`500ms`, `15s`, `1m`, `1h`).
fn duration_ms(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let k = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    Some(n * k).filter(|&v| v > 0)
}

/// A YAML double-quoted scalar (JSON's string syntax is valid YAML).
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// The scrape config, one job per region.
pub fn render(regions: &[Region], targets: &[Target], opts: &Options) -> Result<String, String> {
    let interval = duration_ms(&opts.scrape_interval).ok_or_else(|| {
        format!(
            "scrape interval {:?}: use e.g. 15s or 1m",
            opts.scrape_interval
        )
    })?;
    let timeout = duration_ms(&opts.scrape_timeout)
        .ok_or_else(|| format!("scrape timeout {:?}: use e.g. 10s", opts.scrape_timeout))?;
    if timeout > interval {
        return Err(format!(
            "the scrape timeout {} is longer than the interval {}",
            opts.scrape_timeout, opts.scrape_interval
        ));
    }
    if !is_name(&opts.module) || !is_name(&opts.job_prefix) {
        return Err("the module and job prefix take letters, digits, '-', '_' and '.'".into());
    }
    // Targets grouped by module, in first-seen order.
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for t in targets {
        let m = t.module.clone().unwrap_or_else(|| opts.module.clone());
        match groups.iter_mut().find(|(g, _)| *g == m) {
            Some((_, list)) => list.push(&t.target),
            None => groups.push((m, vec![&t.target])),
        }
    }

    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Written by `make prometheus-config` (lambda-blackbox): one job per region. Each\n\
         # target is probed through the region's Function URL (/probe?target=…&module=…);\n\
         # every series carries `region` (where the probe ran), `instance` (the target)\n\
         # and `module`. Merge `scrape_configs` into prometheus.yml, or load it with\n\
         # `scrape_config_files` (Prometheus ≥ 2.43)."
    );
    let _ = writeln!(y, "scrape_configs:");
    for r in regions {
        let url = &r.url;
        let host = url.host_str().expect("checked in parse_urls");
        let host = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let port = url.port_or_known_default().unwrap_or(443);
        let path = format!("{}/probe", url.path().trim_end_matches('/'));
        let _ = writeln!(
            y,
            "  - job_name: {}",
            q(&format!("{}-{}", opts.job_prefix, r.name))
        );
        let _ = writeln!(y, "    scheme: {}", url.scheme());
        let _ = writeln!(y, "    metrics_path: {}", q(&path));
        let _ = writeln!(y, "    scrape_interval: {}", opts.scrape_interval);
        let _ = writeln!(y, "    scrape_timeout: {}", opts.scrape_timeout);
        let _ = writeln!(y, "    params:\n      module: [{}]", q(&opts.module));
        if let Some(file) = &opts.token_file {
            let _ = writeln!(
                y,
                "    authorization:\n      type: Bearer\n      credentials_file: {}",
                q(file)
            );
        }
        let _ = writeln!(y, "    static_configs:");
        for (module, list) in &groups {
            let items: Vec<String> = list.iter().map(|t| q(t)).collect();
            let _ = writeln!(y, "      - targets: [{}]", items.join(", "));
            let _ = writeln!(
                y,
                "        labels:\n          region: {}\n          __param_module: {}",
                q(&r.name),
                q(module)
            );
        }
        let _ = writeln!(
            y,
            "    relabel_configs:\n\
             \x20     - source_labels: [__address__]\n\
             \x20       target_label: __param_target\n\
             \x20     - source_labels: [__param_target]\n\
             \x20       target_label: instance\n\
             \x20     - source_labels: [__param_module]\n\
             \x20       target_label: module\n\
             \x20     - target_label: __address__\n\
             \x20       replacement: {}",
            q(&format!("{host}:{port}"))
        );
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn targets_file_lines() {
        let t = parse_targets("# sites\nhttps://example.com\n\nexample.com:443 tls  # expiry\n")
            .unwrap();
        assert_eq!(
            t,
            vec![
                Target {
                    target: "https://example.com".into(),
                    module: None
                },
                Target {
                    target: "example.com:443".into(),
                    module: Some("tls".into())
                },
            ]
        );
        assert!(parse_targets("a b c\n").unwrap_err().contains("line 1"));
        assert!(parse_targets("# nothing\n")
            .unwrap_err()
            .contains("no targets"));
        assert!(parse_targets("x mod{ule}\n")
            .unwrap_err()
            .contains("not a module name"));
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
    fn quoting_keeps_yaml_safe() {
        assert_eq!(q("a\"b: #c"), "\"a\\\"b: #c\"");
    }
}

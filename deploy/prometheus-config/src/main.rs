//! `prometheus-config --urls URLS.json --targets TARGETS [--token-file PATH | --no-auth]
//! [--module http_2xx] [--scrape-interval 15s] [--scrape-timeout 10s]
//! [--tls-modules tls] [--tls-interval 5m] [--job-prefix lambda-blackbox]
//! [--file-sd TARGETS.json] [--rules RULES.yml]… [--out FILE]`
//!
//! Writes the Prometheus config for lambda-blackbox in many regions (per region a scrape
//! job and a slower one for certificate checks; `rule_files`) to FILE or standard output,
//! and the targets to a `file_sd` file beside FILE.

use std::process::ExitCode;

use lambda_blackbox_prometheus_config::{
    parse_targets, parse_urls, render, render_file_sd, Options,
};

const USAGE: &str = "usage: prometheus-config --urls URLS.json --targets TARGETS \
[--token-file PATH | --no-auth] [--module http_2xx] [--scrape-interval 15s] \
[--scrape-timeout 10s] [--tls-modules tls] [--tls-interval 5m] \
[--job-prefix lambda-blackbox] [--file-sd TARGETS.json] [--rules RULES.yml]... [--out FILE]

URLS.json:  {\"us-east-1\": \"https://….lambda-url.us-east-1.on.aws/\", …} (make fleet-urls), or the
            CDK fleet app's outputs file (cdk deploy --all --outputs-file fleet.json)
--file-sd:  a path relative to --out's directory: the targets are written there, and every job
            reads them from it (Prometheus resolves it against the config's directory and
            re-reads it when it changes)
--tls-modules: modules scraped by the slower `<prefix>-tls-<region>` jobs, comma-separated
            (\"\" for none), every --tls-interval
--rules:    a rule file for rule_files (deploy/prometheus/lambda-blackbox.rules.yml)
TARGETS:    one `TARGET [MODULE]` a line, e.g. `https://example.com` or `example.com:443 tls`";

fn run() -> Result<(), String> {
    let mut opts = Options::default();
    let (mut urls, mut targets, mut out) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--urls" => urls = Some(value()?),
            "--targets" => targets = Some(value()?),
            "--out" => out = Some(value()?),
            "--token-file" => opts.token_file = Some(value()?),
            "--no-auth" => opts.token_file = None,
            "--module" => opts.module = value()?,
            "--scrape-interval" => opts.scrape_interval = value()?,
            "--scrape-timeout" => opts.scrape_timeout = value()?,
            "--job-prefix" => opts.job_prefix = value()?,
            "--tls-modules" => {
                opts.tls_modules = value()?
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(String::from)
                    .collect()
            }
            "--tls-interval" => opts.tls_interval = value()?,
            "--file-sd" => opts.file_sd = Some(value()?),
            "--rules" => opts.rule_files.push(value()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let read = |what: &str, path: Option<String>| {
        let path = path.ok_or_else(|| format!("{what} is required\n{USAGE}"))?;
        std::fs::read_to_string(&path)
            .map_err(|e| format!("{path}: {e}"))
            .map(|text| (path, text))
    };
    let (urls_path, urls_text) = read("--urls", urls)?;
    let (targets_path, targets_text) = read("--targets", targets)?;
    let regions = parse_urls(&urls_text).map_err(|e| format!("{urls_path}: {e}"))?;
    let targets = parse_targets(&targets_text).map_err(|e| format!("{targets_path}: {e}"))?;
    let yaml = render(&regions, &targets, &opts)?;
    if let Some(file) = &opts.file_sd {
        // Beside the config, where Prometheus looks for a relative path.
        let Some(config) = &out else {
            return Err(format!(
                "--file-sd needs --out: the targets file is written relative to the config file\n{USAGE}"
            ));
        };
        let dir = std::path::Path::new(config)
            .parent()
            .unwrap_or(std::path::Path::new(""));
        let path = dir.join(file);
        std::fs::write(&path, render_file_sd(&targets, &opts))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!(
            "prometheus-config: wrote {}: {} targets",
            path.display(),
            targets.len()
        );
    }
    match out {
        Some(path) => {
            std::fs::write(&path, yaml).map_err(|e| format!("{path}: {e}"))?;
            eprintln!(
                "prometheus-config: wrote {path}: {} regions × {} targets",
                regions.len(),
                targets.len()
            );
        }
        None => print!("{yaml}"),
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("prometheus-config: {e}");
            ExitCode::from(2)
        }
    }
}

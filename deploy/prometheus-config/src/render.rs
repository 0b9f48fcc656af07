//! The scrape jobs and the `file_sd` targets file.

use std::fmt::Write as _;

use crate::{is_name, Options, Region, Target};

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
pub(crate) fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// Targets grouped by module, in first-seen order.
fn by_module<'t>(targets: &'t [Target], opts: &Options) -> Vec<(String, Vec<&'t str>)> {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for t in targets {
        let m = t.module.clone().unwrap_or_else(|| opts.module.clone());
        match groups.iter_mut().find(|(g, _)| *g == m) {
            Some((_, list)) => list.push(&t.target),
            None => groups.push((m, vec![&t.target])),
        }
    }
    groups
}

/// The `file_sd` file every region's job reads: one group per module. Prometheus re-reads
/// it when it changes, so targets come and go without touching the jobs.
pub fn render_file_sd(targets: &[Target], opts: &Options) -> String {
    let groups: Vec<serde_json::Value> = by_module(targets, opts)
        .into_iter()
        .map(|(module, list)| {
            serde_json::json!({"targets": list, "labels": {"__param_module": module}})
        })
        .collect();
    serde_json::to_string_pretty(&groups).expect("JSON serializes") + "\n"
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
    let groups = by_module(targets, opts);
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Written by `make prometheus-config` (lambda-blackbox): one job per region. Each\n\
         # target is probed through the region's Function URL (/probe?target=…&module=…);\n\
         # every series carries `region` (where the probe ran), `instance` (the target)\n\
         # and `module`."
    );
    let _ = writeln!(
        y,
        "{}",
        if opts.rule_files.is_empty() {
            "# Merge `scrape_configs` into prometheus.yml, or load it with\n\
             # `scrape_config_files` (Prometheus ≥ 2.43)."
        } else {
            "# Use it as prometheus.yml, or merge `rule_files` and `scrape_configs` into yours\n\
             # (`scrape_config_files` cannot hold `rule_files`)."
        }
    );
    if !opts.rule_files.is_empty() {
        let _ = writeln!(y, "rule_files:");
        for file in &opts.rule_files {
            let _ = writeln!(y, "  - {}", q(file));
        }
    }
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
        match &opts.file_sd {
            Some(file) => {
                let _ = writeln!(
                    y,
                    "    file_sd_configs:\n      - files: [{}]\n    relabel_configs:\n\
                     \x20     - target_label: region\n\
                     \x20       replacement: {}",
                    q(file),
                    q(&r.name)
                );
            }
            None => {
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
                let _ = writeln!(y, "    relabel_configs:");
            }
        }
        let _ = writeln!(
            y,
            "\
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

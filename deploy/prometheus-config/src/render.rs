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

/// The two jobs of a region.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Job {
    /// Every target whose module is not a certificate check.
    Probes,
    /// Targets of `tls_modules`, every `tls_interval`.
    Certificates,
}

impl Job {
    fn takes(self, module: &str, opts: &Options) -> bool {
        opts.tls_modules.iter().any(|m| m == module) == (self == Job::Certificates)
    }

    fn name(self, opts: &Options, region: &str) -> String {
        match self {
            Job::Probes => format!("{}-{region}", opts.job_prefix),
            Job::Certificates => format!("{}-tls-{region}", opts.job_prefix),
        }
    }

    fn interval(self, opts: &Options) -> &str {
        match self {
            Job::Probes => &opts.scrape_interval,
            Job::Certificates => &opts.tls_interval,
        }
    }
}

fn check_options(opts: &Options) -> Result<(), String> {
    let timeout = duration_ms(&opts.scrape_timeout)
        .ok_or_else(|| format!("scrape timeout {:?}: use e.g. 10s", opts.scrape_timeout))?;
    for (what, value) in [
        ("scrape interval", &opts.scrape_interval),
        ("TLS interval", &opts.tls_interval),
    ] {
        let interval =
            duration_ms(value).ok_or_else(|| format!("{what} {value:?}: use e.g. 15s or 1m"))?;
        if timeout > interval {
            return Err(format!(
                "the scrape timeout {} is longer than the {what} {value}",
                opts.scrape_timeout
            ));
        }
    }
    let names = [&opts.module, &opts.job_prefix];
    if !names
        .into_iter()
        .chain(&opts.tls_modules)
        .all(|name| is_name(name))
    {
        return Err(
            "the module, the TLS modules and the job prefix take letters, digits, '-', '_' and '.'"
                .into(),
        );
    }
    if let Some(file) = &opts.file_sd {
        if std::path::Path::new(file).is_absolute() {
            return Err(format!(
                "the file_sd file {file:?} is absolute: give it relative to the config file, \
                 where it is written and where Prometheus reads it"
            ));
        }
    }
    Ok(())
}

/// A relabel regex that matches exactly these module names.
pub(crate) fn alternatives(modules: &[String]) -> String {
    modules
        .iter()
        .map(|m| m.replace('.', "\\."))
        .collect::<Vec<_>>()
        .join("|")
}

/// The scrape config: per region a job for the probes and one for certificate checks.
pub fn render(regions: &[Region], targets: &[Target], opts: &Options) -> Result<String, String> {
    check_options(opts)?;
    let groups = by_module(targets, opts);
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Written by `make prometheus-config` (lambda-blackbox): per region one job, and one\n\
         # for certificate checks ({}) every {}. Each target is probed through the region's\n\
         # Function URL (/probe?target=…&module=…); every series carries `region` (where the\n\
         # probe ran), `instance` (the target) and `module`. The module is each target's own\n\
         # __param_module label, never a job's `params`: Prometheus 2.x would let those win.",
        opts.tls_modules.join(", "),
        opts.tls_interval
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
        for job in [Job::Probes, Job::Certificates] {
            if job == Job::Certificates && opts.tls_modules.is_empty() {
                continue;
            }
            let groups: Vec<_> = groups
                .iter()
                .filter(|(module, _)| job.takes(module, opts))
                .collect();
            // A targets file may gain such targets later; a static list may not.
            if opts.file_sd.is_none() && groups.is_empty() {
                continue;
            }
            render_job(&mut y, r, job, &groups, opts);
        }
    }
    Ok(y)
}

fn render_job(
    y: &mut String,
    r: &Region,
    job: Job,
    groups: &[&(String, Vec<&str>)],
    opts: &Options,
) {
    let url = &r.url;
    let host = url.host_str().expect("checked in parse_urls");
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let port = url.port_or_known_default().unwrap_or(443);
    let path = format!("{}/probe", url.path().trim_end_matches('/'));
    let _ = writeln!(y, "  - job_name: {}", q(&job.name(opts, &r.name)));
    let _ = writeln!(y, "    scheme: {}", url.scheme());
    let _ = writeln!(y, "    metrics_path: {}", q(&path));
    let _ = writeln!(y, "    scrape_interval: {}", job.interval(opts));
    let _ = writeln!(y, "    scrape_timeout: {}", opts.scrape_timeout);
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
                 \x20       replacement: {}\n\
                 \x20     - source_labels: [__param_module]\n\
                 \x20       regex: \"\"\n\
                 \x20       target_label: __param_module\n\
                 \x20       replacement: {}",
                q(file),
                q(&r.name),
                q(&opts.module)
            );
            if !opts.tls_modules.is_empty() {
                let _ = writeln!(
                    y,
                    "      - source_labels: [__param_module]\n\
                     \x20       regex: {}\n\
                     \x20       action: {}",
                    q(&alternatives(&opts.tls_modules)),
                    if job == Job::Certificates {
                        "keep"
                    } else {
                        "drop"
                    }
                );
            }
        }
        None => {
            let _ = writeln!(y, "    static_configs:");
            for (module, list) in groups {
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

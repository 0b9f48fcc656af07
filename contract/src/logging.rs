//! The log filter both binaries read from their `BLACKBOX_*_LOG` variable: a level, or
//! `target=level` directives (`info,blackbox_extension=debug`), as `tracing`'s `Targets`
//! reads them. Not `EnvFilter`: its span and field directives cost a regex engine in each
//! binary for a syntax nobody here needs.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter `setting` asks for (unset or unreadable: `info`), with every crate of `capped`
/// held at `warn` or quieter whatever it says: at debug, the Lambda runtime crates print
/// whole events, Authorization headers included.
pub fn log_filter(setting: Option<&str>, capped: &[&str]) -> Targets {
    // Each directive trimmed and empty ones dropped, as EnvFilter read them: `Targets`
    // takes " ours" for a target and "" for the level `error`, so `debug,` would log errors only.
    let directives: Vec<&str> = setting
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    let asked = Some(directives.join(","))
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let is_capped = |target: &str| {
        capped
            .iter()
            .any(|c| target == *c || target.starts_with(&format!("{c}::")))
    };
    let default = asked.default_level().unwrap_or(LevelFilter::OFF);
    let cap = |level: LevelFilter| level.min(LevelFilter::WARN);
    let mut filter = Targets::new().with_default(default);
    for (target, level) in asked.iter() {
        let level = if is_capped(target) { cap(level) } else { level };
        filter = filter.with_target(target, level);
    }
    for crate_name in capped {
        if !asked.iter().any(|(target, _)| target == *crate_name) {
            filter = filter.with_target(*crate_name, cap(default));
        }
    }
    filter
}

/// Logs to stderr (which Lambda sends to CloudWatch), without colours or time stamps
/// (CloudWatch stamps each line), filtered by `variable` as `log_filter` reads it.
pub fn init_logging(variable: &str, capped: &[&str]) {
    let setting = std::env::var(variable).ok();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .finish()
        .with(log_filter(setting.as_deref(), capped))
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::filter::LevelFilter as L;

    fn level(filter: &Targets, target: &str) -> L {
        [L::TRACE, L::DEBUG, L::INFO, L::WARN, L::ERROR]
            .into_iter()
            .find(|l| filter.would_enable(target, &l.into_level().unwrap()))
            .unwrap_or(L::OFF)
    }

    #[test]
    fn the_setting_read_as_targets_with_the_runtime_crates_capped_at_warn() {
        let capped = ["lambda_runtime", "hyper"];
        // A setting, and the level each target is then logged at.
        type Case<'a> = (Option<&'a str>, &'a [(&'a str, L)]);
        let cases: &[Case] = &[
            (None, &[("ours", L::INFO), ("lambda_runtime", L::WARN)]),
            (Some(""), &[("ours", L::INFO), ("hyper", L::WARN)]),
            (Some("ours=loud"), &[("ours", L::INFO), ("hyper", L::WARN)]),
            (Some("debug,"), &[("ours", L::DEBUG), ("hyper", L::WARN)]),
            (
                Some(" info, ours=debug ,"),
                &[("ours", L::DEBUG), ("other", L::INFO)],
            ),
            (
                Some("debug"),
                &[("ours", L::DEBUG), ("lambda_runtime", L::WARN)],
            ),
            (
                Some("error"),
                &[("ours", L::ERROR), ("lambda_runtime", L::ERROR)],
            ),
            (
                Some("warn,ours=trace"),
                &[
                    ("ours", L::TRACE),
                    ("ours::push", L::TRACE),
                    ("other", L::WARN),
                ],
            ),
            (
                Some("trace,lambda_runtime=trace,hyper::proto=debug"),
                &[
                    ("ours", L::TRACE),
                    ("lambda_runtime", L::WARN),
                    ("lambda_runtime::types", L::WARN),
                    ("hyper::proto::h1", L::WARN),
                    ("hyper", L::WARN),
                ],
            ),
            (Some("off"), &[("ours", L::OFF), ("hyper", L::OFF)]),
        ];
        for (setting, want) in cases {
            let filter = log_filter(*setting, &capped);
            for (target, wanted) in *want {
                assert_eq!(level(&filter, target), *wanted, "{setting:?}: {target}");
            }
        }
    }

    #[test]
    fn nothing_is_capped_when_no_crate_is_named() {
        let filter = log_filter(Some("trace"), &[]);
        assert_eq!(level(&filter, "hyper"), L::TRACE);
    }
}

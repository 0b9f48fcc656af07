//! The results of one `make bench` run: what was measured, the targets it is held to,
//! and the two result files (`costs` for sizes and the bill, `markdown` for results.md).

mod baseline;
mod costs;
mod guard;
mod markdown;

pub use costs::{monthly_cost, monthly_cost_at, sizes, CostRow, Sizes};
pub use costs::{
    INVOKES_PER_MONTH, MEMORY_MB, PRICE_ARM_GB_S, PRICE_PER_MILLION_REQUESTS,
    PRICE_SCHEDULER_PER_MILLION, PRICE_X86_GB_S, PUSH_RUNS_PER_MONTH,
};
pub use markdown::markdown;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::measure::{Cold, Warm};
use crate::push::PushRuns;
use crate::stats::{paired_median_diff, summarize, Summary};

#[derive(Debug, Serialize)]
pub struct Target {
    pub name: String,
    pub target: String,
    pub measured: String,
    pub met: bool,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub load_average_at_start: String,
    pub load_average_at_end: String,
    /// The bench's scheduling niceness (its sandboxes inherit it).
    pub nice: i32,
    pub blackbox_version: String,
    pub web_adapter_version: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Results {
    pub generated_unix: u64,
    pub machine: Machine,
    pub cold_start_ms: BTreeMap<String, Summary>,
    pub cold_start_paired_ms: BTreeMap<String, f64>,
    pub warm_probe_ms: BTreeMap<String, Summary>,
    pub warm_errors: BTreeMap<String, usize>,
    pub warm_first_errors: BTreeMap<String, String>,
    pub warm_derived_ms: BTreeMap<String, f64>,
    pub report_duration_ms: BTreeMap<String, Summary>,
    pub peak_rss_kib: BTreeMap<String, BTreeMap<String, u64>>,
    pub max_memory_used_mb: BTreeMap<String, u64>,
    pub size_bytes: Sizes,
    pub cost_assumptions: BTreeMap<String, f64>,
    pub monthly_cost_usd: Vec<CostRow>,
    pub push: PushRuns,
    /// One push run a minute, per region, by the number of targets it probes.
    pub push_monthly_cost_usd: Vec<CostRow>,
    pub targets: Vec<Target>,
}

fn summaries(samples: &BTreeMap<String, Vec<f64>>) -> BTreeMap<String, Summary> {
    samples
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.clone(), summarize(v)))
        .collect()
}

pub fn results(
    machine: Machine,
    cold: &Cold,
    warm: &Warm,
    push: PushRuns,
    sizes: Sizes,
) -> Results {
    let cold_s = summaries(&cold.samples);
    let warm_s = summaries(&warm.samples);
    let report_s = summaries(&warm.report_durations);

    let mut paired = BTreeMap::new();
    if let (Some(o), Some(b)) = (cold.samples.get("ours"), cold.samples.get("blackbox")) {
        paired.insert("ours_minus_blackbox".into(), paired_median_diff(o, b));
    }
    if let (Some(o), Some(t)) = (cold.samples.get("ours"), cold.samples.get("trivial_ext")) {
        paired.insert("ours_minus_trivial_ext".into(), paired_median_diff(o, t));
        if let Some(b) = cold.samples.get("blackbox") {
            // Our Init less the sandbox's own cost of starting an extension and a
            // runtime, less blackbox's start: what the extension and handler add.
            let added: Vec<f64> = o
                .iter()
                .zip(t)
                .zip(b)
                .map(|((o, t), b)| o - t - b)
                .collect();
            paired.insert(
                "ours_minus_trivial_ext_minus_blackbox".into(),
                summarize(&added).p50,
            );
        }
    }

    let mut derived = BTreeMap::new();
    let (ours, direct, trivial) = (
        warm_s.get("ours"),
        warm_s.get("direct"),
        warm_s.get("trivial"),
    );
    if let (Some(o), Some(d)) = (ours, direct) {
        derived.insert("ours_minus_direct_p50".into(), o.p50 - d.p50);
        derived.insert("ours_minus_direct_p99".into(), o.p99 - d.p99);
        if let Some(t) = trivial {
            derived.insert("handler_extension_added_p50".into(), o.p50 - d.p50 - t.p50);
            derived.insert("handler_extension_added_p99".into(), o.p99 - d.p99 - t.p99);
        }
    }

    // The same, round by round (the three series are taken in the same rounds): the
    // median of ours − direct − trivial, which a slow change of the machine's load
    // does not move as much.
    if let (Some(o), Some(d), Some(t)) = (
        warm.samples.get("ours"),
        warm.samples.get("direct"),
        warm.samples.get("trivial"),
    ) {
        if !o.is_empty() && o.len() == d.len() && o.len() == t.len() {
            let diff: Vec<f64> = o
                .iter()
                .zip(d)
                .zip(t)
                .map(|((o, d), t)| o - d - t)
                .collect();
            derived.insert(
                "handler_extension_added_paired_median".into(),
                summarize(&diff).p50,
            );
        }
    }

    let mut cost = Vec::new();
    if let Some(r) = report_s.get("ours") {
        cost.push(monthly_cost(
            "measured: median Duration of our warm probes (local target)",
            r.p50,
        ));
    }
    for ms in [100.0, 1000.0] {
        cost.push(monthly_cost(
            &format!("illustration: a probe whose target takes {ms:.0} ms"),
            ms,
        ));
    }

    let push_cost = push
        .duration_ms
        .iter()
        .map(|(targets, d)| {
            monthly_cost_at(
                &format!("measured: {targets} target(s) a run, median Duration"),
                d.p50,
                PUSH_RUNS_PER_MONTH,
            )
        })
        .collect();

    let mut targets = Vec::new();
    let mib = |b: u64| b as f64 / 1024.0 / 1024.0;
    if let (Some(o), Some(b)) = (cold_s.get("ours"), cold_s.get("blackbox")) {
        targets.push(Target {
            name: "cold start vs blackbox alone".into(),
            target: "our Init ≤ blackbox's own start + 1 ms (median)".into(),
            measured: format!(
                "{:.2} ms vs {:.2} ms + 1 ms (paired median difference {:+.2} ms; {:+.2} ms \
                 with the sandbox's own extension and runtime start-up taken out)",
                o.p50,
                b.p50,
                paired
                    .get("ours_minus_blackbox")
                    .copied()
                    .unwrap_or(f64::NAN),
                paired
                    .get("ours_minus_trivial_ext_minus_blackbox")
                    .copied()
                    .unwrap_or(f64::NAN)
            ),
            met: o.p50 <= b.p50 + 1.0,
        });
    }
    if let (Some(o), Some(a)) = (cold_s.get("ours"), cold_s.get("adapter")) {
        targets.push(Target {
            name: "cold start vs Web Adapter".into(),
            target: "about half of the Web Adapter's Init (ratio ≤ 0.5)".into(),
            measured: format!(
                "{:.2} ms vs {:.2} ms, ratio {:.2}",
                o.p50,
                a.p50,
                o.p50 / a.p50
            ),
            met: o.p50 <= 0.5 * a.p50,
        });
    }
    if let Some(added) = derived.get("handler_extension_added_p50") {
        targets.push(Target {
            name: "warm p50 added by handler + extension".into(),
            target: "≤ 0.5 ms over the direct call (sandbox overhead taken out)".into(),
            measured: format!("{added:+.3} ms"),
            met: *added <= 0.5,
        });
    }
    if let Some(added) = derived.get("handler_extension_added_p99") {
        targets.push(Target {
            name: "warm p99 added by handler + extension".into(),
            target: "≤ 2 ms over the direct call (sandbox overhead taken out)".into(),
            measured: format!("{added:+.3} ms"),
            met: *added <= 2.0,
        });
    }
    if let (Some(o), Some(a)) = (ours, warm_s.get("adapter")) {
        targets.push(Target {
            name: "warm p50 vs Web Adapter".into(),
            target: "our p50 ≤ the Web Adapter's".into(),
            measured: format!("{:.3} ms vs {:.3} ms", o.p50, a.p50),
            met: o.p50 <= a.p50,
        });
    }
    if let Some(mem) = warm.memory_kib.get("ours") {
        let ext = mem.get("extension").copied().unwrap_or(0);
        let handler = mem.get("handler").copied().unwrap_or(0);
        let adapter = warm
            .memory_kib
            .get("adapter")
            .and_then(|m| m.get("lambda-adapter"))
            .copied();
        let together = ext + handler;
        targets.push(Target {
            name: "memory: extension + handler peak RSS".into(),
            target: "≤ 5 MiB together".into(),
            measured: format!(
                "{:.2} MiB ({} + {} KiB){}",
                together as f64 / 1024.0,
                ext,
                handler,
                adapter
                    .map(|a| format!("; Web Adapter process: {:.2} MiB", a as f64 / 1024.0))
                    .unwrap_or_default()
            ),
            met: together <= 5 * 1024,
        });
        if let Some(a) = adapter {
            targets.push(Target {
                name: "memory vs Web Adapter".into(),
                target: "extension + handler ≤ the Web Adapter's single process".into(),
                measured: format!(
                    "{:.2} MiB vs {:.2} MiB",
                    together as f64 / 1024.0,
                    a as f64 / 1024.0
                ),
                met: together <= a,
            });
        }
    }
    targets.extend(guard::targets(cold, warm, &mut paired, &mut derived));
    targets.extend(baseline::targets(
        cold,
        warm,
        &sizes,
        &mut paired,
        &mut derived,
    ));
    targets.push(Target {
        name: "size: our binaries zipped".into(),
        target: "≤ 2.5 MiB".into(),
        measured: format!("{:.2} MiB", mib(sizes.ours_zipped)),
        met: mib(sizes.ours_zipped) <= 2.5,
    });

    let cost_assumptions = BTreeMap::from([
        ("x86_64_usd_per_gb_s".to_string(), PRICE_X86_GB_S),
        ("arm64_usd_per_gb_s".to_string(), PRICE_ARM_GB_S),
        (
            "usd_per_million_requests".to_string(),
            PRICE_PER_MILLION_REQUESTS,
        ),
        ("memory_mb".to_string(), MEMORY_MB),
        ("invokes_per_month".to_string(), INVOKES_PER_MONTH),
    ]);

    Results {
        generated_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        machine,
        cold_start_ms: cold_s,
        cold_start_paired_ms: paired,
        warm_probe_ms: warm_s,
        warm_errors: warm.errors.clone(),
        warm_first_errors: warm.first_errors.clone(),
        warm_derived_ms: derived,
        report_duration_ms: report_s,
        peak_rss_kib: warm.memory_kib.clone(),
        max_memory_used_mb: warm.max_memory_used_mb.clone(),
        size_bytes: sizes,
        cost_assumptions,
        monthly_cost_usd: cost,
        push,
        push_monthly_cost_usd: push_cost,
        targets,
    }
}

//! Sizes, cost, the targets of the issue, and the two result files.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Context};
use serde::Serialize;

use crate::measure::{Cold, Warm};
use crate::stats::{paired_median_diff, summarize, Summary};

/// Lambda prices used for the cost estimate (us-east-1, on-demand, as published on the
/// AWS Lambda pricing page; no free tier). Assumptions, not measurements.
pub const PRICE_X86_GB_S: f64 = 0.000_016_666_7;
pub const PRICE_ARM_GB_S: f64 = 0.000_013_333_4;
pub const PRICE_PER_MILLION_REQUESTS: f64 = 0.20;
pub const MEMORY_MB: f64 = 128.0;
/// One probe every 15 s for a 30-day month.
pub const INVOKES_PER_MONTH: f64 = 4.0 * 60.0 * 24.0 * 30.0;

#[derive(Debug, Serialize)]
pub struct Sizes {
    pub extension: u64,
    pub extension_zipped: u64,
    pub handler: u64,
    pub handler_zipped: u64,
    pub ours_zipped: u64,
    pub blackbox_exporter: u64,
    pub layer_zipped: u64,
    pub adapter: Option<u64>,
    pub adapter_zipped: Option<u64>,
}

fn size(p: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(p)
        .with_context(|| format!("{}", p.display()))?
        .len())
}

/// `zip -9` of `files` (relative to `dir`, kept as paths in the archive), in bytes.
fn zipped(dir: &Path, files: &[&str], out: &Path) -> anyhow::Result<u64> {
    let _ = std::fs::remove_file(out);
    let status = Command::new("zip")
        .current_dir(dir)
        .args(["-q", "-9", "-X", "-r"])
        .arg(out)
        .args(files)
        .status()
        .context("running zip (apt-get install zip)")?;
    ensure!(status.success(), "zip failed in {}", dir.display());
    size(out)
}

pub fn sizes(layer: &Path, adapter_layer: Option<&Path>, work: &Path) -> anyhow::Result<Sizes> {
    std::fs::create_dir_all(work)?;
    let work = work.canonicalize()?;
    let (adapter, adapter_zipped) = match adapter_layer {
        Some(dir) => (
            Some(size(&dir.join("extensions/lambda-adapter"))?),
            Some(zipped(
                dir,
                &["extensions/lambda-adapter"],
                &work.join("adapter.zip"),
            )?),
        ),
        None => (None, None),
    };
    Ok(Sizes {
        extension: size(&layer.join("extensions/blackbox-extension"))?,
        extension_zipped: zipped(
            layer,
            &["extensions/blackbox-extension"],
            &work.join("extension.zip"),
        )?,
        handler: size(&layer.join("bootstrap"))?,
        handler_zipped: zipped(layer, &["bootstrap"], &work.join("handler.zip"))?,
        ours_zipped: zipped(
            layer,
            &["extensions/blackbox-extension", "bootstrap"],
            &work.join("ours.zip"),
        )?,
        blackbox_exporter: size(&layer.join("bin/blackbox_exporter"))?,
        layer_zipped: zipped(layer, &["."], &work.join("layer.zip"))?,
        adapter,
        adapter_zipped,
    })
}

#[derive(Debug, Serialize)]
pub struct CostRow {
    pub what: String,
    pub duration_ms: f64,
    pub billed_ms: f64,
    pub x86_64_usd: f64,
    pub arm64_usd: f64,
}

/// Monthly cost of one probe every 15 s at 128 MB, for a probe of `duration_ms`.
pub fn monthly_cost(what: &str, duration_ms: f64) -> CostRow {
    // Lambda bills duration rounded up to the next millisecond.
    let billed_ms = duration_ms.ceil().max(1.0);
    let gb_s = INVOKES_PER_MONTH * billed_ms / 1000.0 * MEMORY_MB / 1024.0;
    let requests = INVOKES_PER_MONTH / 1e6 * PRICE_PER_MILLION_REQUESTS;
    CostRow {
        what: what.to_string(),
        duration_ms,
        billed_ms,
        x86_64_usd: gb_s * PRICE_X86_GB_S + requests,
        arm64_usd: gb_s * PRICE_ARM_GB_S + requests,
    }
}

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
    pub targets: Vec<Target>,
}

fn summaries(samples: &BTreeMap<String, Vec<f64>>) -> BTreeMap<String, Summary> {
    samples
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.clone(), summarize(v)))
        .collect()
}

pub fn results(machine: Machine, cold: &Cold, warm: &Warm, sizes: Sizes) -> Results {
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
        targets,
    }
}

const COLD_NAMES: [(&str, &str); 6] = [
    (
        "blackbox",
        "blackbox_exporter alone (exec → `Listening on`)",
    ),
    (
        "ours",
        "**lambda-blackbox** (extension + blackbox + handler)",
    ),
    (
        "trivial",
        "sandbox floor: a trivial bootstrap, no extension",
    ),
    (
        "trivial_ext",
        "sandbox floor with an extension: trivial extension + trivial bootstrap",
    ),
    ("adapter", "AWS Lambda Web Adapter + blackbox"),
    ("sleep", "bash bootstrap: blackbox & + `sleep 0.1`"),
];

const WARM_NAMES: [(&str, &str); 6] = [
    ("direct", "straight to blackbox (no Lambda)"),
    ("ours", "**lambda-blackbox** via the Function URL"),
    (
        "trivial",
        "sandbox overhead: trivial bootstrap via the Function URL",
    ),
    ("adapter", "Web Adapter + blackbox via the Function URL"),
    ("sleep", "bash + curl bootstrap via the Function URL"),
    (
        "ours_frozen",
        "lambda-blackbox, sandbox freezing between invokes",
    ),
];

fn ms(v: f64) -> String {
    if v.abs() < 10.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.1}")
    }
}

fn kib_mib(k: u64) -> String {
    format!("{:.2} MiB", k as f64 / 1024.0)
}

fn bytes_mib(b: u64) -> String {
    format!("{:.2} MiB ({b} B)", b as f64 / 1024.0 / 1024.0)
}

pub fn markdown(r: &Results, cold_rounds: usize, warm_probes: usize) -> String {
    let mut o = String::new();
    let m = &r.machine;
    let _ = writeln!(o, "# `make bench` results\n");
    let _ = writeln!(
        o,
        "Written by `make bench` (`bench/src`); do not edit by hand. Machine: {} × {}, Linux {}, \
         load average {} at the start and {} at the end (1, 5, 15 min), the bench at nice {}. \
         blackbox_exporter {}; \
         AWS Lambda Web Adapter {}. Everything runs on this one shared machine, in the local \
         Lambda sandbox (`sandbox/`), beside whatever else runs on it: **read the ratios, \
         not the absolute times**, and the tails least of all.\n",
        m.cpus,
        m.cpu_model,
        m.kernel,
        m.load_average_at_start,
        m.load_average_at_end,
        m.nice,
        m.blackbox_version,
        m.web_adapter_version.as_deref().unwrap_or("(not run)")
    );

    let _ = writeln!(o, "## Targets\n");
    let _ = writeln!(
        o,
        "| target | wanted | measured | met |\n| --- | --- | --- | --- |"
    );
    for t in &r.targets {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            t.name,
            t.target,
            t.measured,
            if t.met { "yes" } else { "**no**" }
        );
    }

    let _ = writeln!(
        o,
        "\n## Cold start\n\n{cold_rounds} rounds; each round starts every variant once, in an order \
         rotated every round (a first round, discarded, warms the page cache). For the \
         sandboxed variants the figure is the sandbox's `Init Duration` (first extension \
         started → runtime and every extension on `/next`); for blackbox alone it is exec → \
         its `Listening on` line.\n"
    );
    let _ = writeln!(
        o,
        "| variant | median ms | min | max | n |\n| --- | ---: | ---: | ---: | ---: |"
    );
    for (k, name) in COLD_NAMES {
        if let Some(s) = r.cold_start_ms.get(k) {
            let _ = writeln!(
                o,
                "| {name} | {} | {} | {} | {} |",
                ms(s.p50),
                ms(s.min),
                ms(s.max),
                s.n
            );
        }
    }
    if let Some(d) = r.cold_start_paired_ms.get("ours_minus_blackbox") {
        let _ = writeln!(
            o,
            "\nPaired (same round) median difference, ours − blackbox alone: {} ms.",
            ms(*d)
        );
    }
    if let Some(d) = r.cold_start_paired_ms.get("ours_minus_trivial_ext") {
        let _ = writeln!(
            o,
            "Paired median difference, ours − the sandbox floor with an extension: {} ms.",
            ms(*d)
        );
    }
    if let Some(d) = r
        .cold_start_paired_ms
        .get("ours_minus_trivial_ext_minus_blackbox")
    {
        let _ = writeln!(
            o,
            "Paired median of ours − that floor − blackbox alone (what the extension and the \
             handler add to blackbox's own start, the sandbox's process start-up taken out): {} ms.",
            ms(*d)
        );
    }
    if let (Some(o_), Some(a)) = (r.cold_start_ms.get("ours"), r.cold_start_ms.get("adapter")) {
        let _ = writeln!(o, "Ours / Web Adapter (medians): {:.2}.", o_.p50 / a.p50);
    }

    let _ = writeln!(
        o,
        "\n## Warm probes\n\n{warm_probes} probes of a local HTTP target (`http_2xx`) per series, \
         one of each series a round in a rotated order, over keep-alive connections, each \
         timed from request to the last body byte. The sandbox answers the Function URL as \
         soon as the runtime posts its response, as Lambda does; what follows (extensions back \
         on `/next`, the freeze) delays only the next invoke of the same function. The \
         sandboxes do not freeze between invokes here except in the last series, which has the \
         sandbox stop and continue (SIGSTOP/SIGCONT) every process around each invoke, as \
         Lambda freezes and thaws them.\n"
    );
    let _ = writeln!(
        o,
        "| series | p50 ms | p90 | p99 | min | max | errors |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (k, name) in WARM_NAMES {
        if let Some(s) = r.warm_probe_ms.get(k) {
            let _ = writeln!(
                o,
                "| {name} | {} | {} | {} | {} | {} | {} |",
                ms(s.p50),
                ms(s.p90),
                ms(s.p99),
                ms(s.min),
                ms(s.max),
                r.warm_errors.get(k).copied().unwrap_or(0)
            );
        }
    }
    for (k, e) in &r.warm_first_errors {
        let _ = writeln!(o, "\nFirst error of `{k}`: `{}`", e.replace('\n', " "));
    }
    let d = &r.warm_derived_ms;
    if let (Some(a), Some(b)) = (
        d.get("ours_minus_direct_p50"),
        d.get("ours_minus_direct_p99"),
    ) {
        let _ =
            writeln!(
            o,
            "\nOurs − direct: {} ms at p50, {} ms at p99. Taking the sandbox's own overhead (the \
             trivial bootstrap) out as well, the handler and extension add {} ms at p50 and {} ms \
             at p99 (differences of percentiles, not percentiles of differences; the tails of three \
             series on a shared machine are noisy, and a negative figure is that noise).",
            ms(*a),
            ms(*b),
            d.get("handler_extension_added_p50").map_or("?".into(), |v| ms(*v)),
            d.get("handler_extension_added_p99").map_or("?".into(), |v| ms(*v)),
        );
    }
    if let Some(v) = d.get("handler_extension_added_paired_median") {
        let _ = writeln!(
            o,
            "Round by round, the median of ours − direct − trivial bootstrap is {} ms.",
            ms(*v)
        );
    }
    let _ = writeln!(o, "\n![warm probe latency](warm-latency.png)");

    let _ = writeln!(
        o,
        "\n## Memory\n\nPeak RSS (`VmHWM` from `/proc`) of each process after the warm run, and \
         the sandbox's last `Max Memory Used` (the sum over the function's processes).\n"
    );
    let _ = writeln!(o, "| function | process | peak RSS |\n| --- | --- | ---: |");
    for (f, procs) in &r.peak_rss_kib {
        for (p, k) in procs {
            let _ = writeln!(o, "| {f} | {p} | {} |", kib_mib(*k));
        }
        if let Some(mb) = r.max_memory_used_mb.get(f) {
            let _ = writeln!(o, "| {f} | *Max Memory Used (REPORT)* | {mb} MB |");
        }
    }

    let s = &r.size_bytes;
    let _ = writeln!(
        o,
        "\n## Size\n\nZipped with `zip -9`, paths as in the layer.\n\n\
         | file | size | zipped |\n| --- | ---: | ---: |"
    );
    let _ = writeln!(
        o,
        "| extension (`extensions/blackbox-extension`) | {} | {} |",
        bytes_mib(s.extension),
        bytes_mib(s.extension_zipped)
    );
    let _ = writeln!(
        o,
        "| handler (`bootstrap`) | {} | {} |",
        bytes_mib(s.handler),
        bytes_mib(s.handler_zipped)
    );
    let _ = writeln!(
        o,
        "| **both** | {} | **{}** |",
        bytes_mib(s.extension + s.handler),
        bytes_mib(s.ours_zipped)
    );
    let _ = writeln!(
        o,
        "| blackbox_exporter (not ours: Debian's or upstream's build) | {} | |",
        bytes_mib(s.blackbox_exporter)
    );
    let _ = writeln!(o, "| the whole layer | | {} |", bytes_mib(s.layer_zipped));
    if let (Some(a), Some(z)) = (s.adapter, s.adapter_zipped) {
        let _ = writeln!(
            o,
            "| Web Adapter (`extensions/lambda-adapter`) | {} | {} |",
            bytes_mib(a),
            bytes_mib(z)
        );
    }

    let _ = writeln!(
        o,
        "\n## Cost\n\nOne target probed from one region: one invoke every 15 s ({:.0} in a 30-day \
         month) at {:.0} MB. \
         Prices assumed (AWS Lambda on-demand, us-east-1, no free tier): x86_64 ${} per \
         GB-s, arm64 ${} per GB-s, ${:.2} per million requests; Function URLs cost nothing \
         extra; data transfer not included. Duration is billed rounded up to the millisecond. \
         A local target answers in microseconds, so the measured row is a floor: a real \
         target's response time dominates, as the illustrations show.\n",
        INVOKES_PER_MONTH, MEMORY_MB, PRICE_X86_GB_S, PRICE_ARM_GB_S, PRICE_PER_MILLION_REQUESTS
    );
    let _ = writeln!(
        o,
        "| probe | Duration ms | billed ms | x86_64 per month | arm64 per month |\n| --- | ---: | ---: | ---: | ---: |"
    );
    for c in &r.monthly_cost_usd {
        let _ = writeln!(
            o,
            "| {} | {} | {:.0} | ${:.4} | ${:.4} |",
            c.what,
            ms(c.duration_ms),
            c.billed_ms,
            c.x86_64_usd,
            c.arm64_usd
        );
    }
    if let Some(rd) = r.report_duration_ms.get("ours") {
        let _ = writeln!(
            o,
            "\nThe sandbox's REPORT `Duration` of our warm probes: median {} ms, p99 {} ms, max {} ms.",
            ms(rd.p50),
            ms(rd.p99),
            ms(rd.max)
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_rounds_duration_up_and_adds_requests() {
        let c = monthly_cost("x", 1.2);
        assert_eq!(c.billed_ms, 2.0);
        // 172 800 invokes × 2 ms × 0.125 GB = 43.2 GB-s; 0.1728 M requests × $0.20.
        let want_x86 = 43.2 * PRICE_X86_GB_S + 0.1728 * 0.20;
        assert!((c.x86_64_usd - want_x86).abs() < 1e-12, "{}", c.x86_64_usd);
        assert!(c.arm64_usd < c.x86_64_usd);
    }
}

//! What the layer weighs and what a probe costs: file sizes, zipped sizes, the monthly bill.

use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Context};
use serde::Serialize;

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
    /// The `--baseline` build's extension and bootstrap, as `extension`, `handler` and
    /// `ours_zipped` are measured.
    pub baseline: Option<BaselineSizes>,
}

#[derive(Debug, Serialize)]
pub struct BaselineSizes {
    pub extension: u64,
    pub handler: u64,
    pub ours_zipped: u64,
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

pub fn sizes(
    layer: &Path,
    adapter_layer: Option<&Path>,
    baseline_layer: Option<&Path>,
    work: &Path,
) -> anyhow::Result<Sizes> {
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
    let baseline = match baseline_layer {
        Some(dir) => Some(BaselineSizes {
            extension: size(&dir.join("extensions/blackbox-extension"))?,
            handler: size(&dir.join("bootstrap"))?,
            ours_zipped: zipped(
                dir,
                &["extensions/blackbox-extension", "bootstrap"],
                &work.join("baseline.zip"),
            )?,
        }),
        None => None,
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
        baseline,
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

/// Push mode: one scheduled run a minute (EventBridge Scheduler's finest rate).
pub const PUSH_RUNS_PER_MONTH: f64 = 60.0 * 24.0 * 30.0;
/// EventBridge Scheduler, per million invocations after its free 14 million a month.
pub const PRICE_SCHEDULER_PER_MILLION: f64 = 1.00;

/// Monthly cost of one probe every 15 s at 128 MB, for a probe of `duration_ms`.
pub fn monthly_cost(what: &str, duration_ms: f64) -> CostRow {
    monthly_cost_at(what, duration_ms, INVOKES_PER_MONTH)
}

/// Monthly cost of `invokes` invocations a month of `duration_ms` each, at 128 MB.
pub fn monthly_cost_at(what: &str, duration_ms: f64, invokes: f64) -> CostRow {
    // Lambda bills duration rounded up to the next millisecond.
    let billed_ms = duration_ms.ceil().max(1.0);
    let gb_s = invokes * billed_ms / 1000.0 * MEMORY_MB / 1024.0;
    let requests = invokes / 1e6 * PRICE_PER_MILLION_REQUESTS;
    CostRow {
        what: what.to_string(),
        duration_ms,
        billed_ms,
        x86_64_usd: gb_s * PRICE_X86_GB_S + requests,
        arm64_usd: gb_s * PRICE_ARM_GB_S + requests,
    }
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

//! What a change costs: our layer against the same layer with another build's extension and
//! bootstrap (`--baseline`), in the same rounds (cold starts) and the same rotation (warm
//! probes), so that a refactor is held to "unchanged or better" by figures taken side by side.

use std::collections::BTreeMap;

use super::{Sizes, Target};
use crate::measure::{Cold, Warm};
use crate::stats::{paired_median_diff, summarize};

/// What "unchanged" allows for noise on this shared machine.
const INIT_NOISE_MS: f64 = 0.25;
const P50_NOISE_MS: f64 = 0.05;
const RSS_NOISE_KIB: i64 = 64;

pub fn targets(
    cold: &Cold,
    warm: &Warm,
    sizes: &Sizes,
    paired: &mut BTreeMap<String, f64>,
    derived: &mut BTreeMap<String, f64>,
) -> Vec<Target> {
    let mut targets = Vec::new();
    if let (Some(ours), Some(base)) = (cold.samples.get("ours"), cold.samples.get("baseline")) {
        let added = paired_median_diff(ours, base);
        paired.insert("ours_minus_baseline".into(), added);
        targets.push(Target {
            name: "against the baseline build: Init".into(),
            target: format!("unchanged or better: ≤ +{INIT_NOISE_MS} ms (paired median)"),
            measured: format!(
                "{added:+.3} ms ({:.2} ms vs {:.2} ms, medians)",
                summarize(ours).p50,
                summarize(base).p50
            ),
            met: added <= INIT_NOISE_MS,
        });
    }
    if let (Some(ours), Some(base)) = (warm.samples.get("ours"), warm.samples.get("baseline")) {
        if !ours.is_empty() && ours.len() == base.len() {
            let added = paired_median_diff(ours, base);
            derived.insert("ours_minus_baseline_round_median".into(), added);
            targets.push(Target {
                name: "against the baseline build: warm p50".into(),
                target: format!("unchanged or better: ≤ +{P50_NOISE_MS} ms (round by round)"),
                measured: format!(
                    "{added:+.3} ms round by round (p50s {:.3} vs {:.3} ms)",
                    summarize(ours).p50,
                    summarize(base).p50
                ),
                met: added <= P50_NOISE_MS,
            });
        }
    }
    let process =
        |key: &str, role: &str| warm.memory_kib.get(key).and_then(|m| m.get(role)).copied();
    for role in ["handler", "extension"] {
        if let (Some(ours), Some(base)) = (process("ours", role), process("baseline", role)) {
            let added = ours as i64 - base as i64;
            targets.push(Target {
                name: format!("against the baseline build: {role} peak RSS"),
                target: format!("unchanged or better: ≤ +{RSS_NOISE_KIB} KiB"),
                measured: format!("{added:+} KiB ({ours} vs {base} KiB)"),
                met: added <= RSS_NOISE_KIB,
            });
        }
    }
    if let Some(base) = &sizes.baseline {
        let added = sizes.ours_zipped as i64 - base.ours_zipped as i64;
        targets.push(Target {
            name: "against the baseline build: our binaries zipped".into(),
            target: "unchanged or better".into(),
            measured: format!(
                "{added:+} bytes ({} vs {}; bootstrap {} vs {}, extension {} vs {} unzipped)",
                sizes.ours_zipped,
                base.ours_zipped,
                sizes.handler,
                base.handler,
                sizes.extension,
                base.extension
            ),
            met: added <= 0,
        });
    }
    targets
}

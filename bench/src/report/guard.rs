//! What the connect guard costs: the layer against itself with `BLACKBOX_CONNECT_GUARD=off`,
//! measured in the same rounds (cold starts) and the same rotation (warm probes).

use std::collections::BTreeMap;

use super::Target;
use crate::measure::{Cold, Warm};
use crate::stats::{paired_median_diff, summarize};

/// Init added ≤ 0.5 ms, p50 added ≤ 0.1 ms, extension peak RSS added ≤ 0.5 MiB.
pub fn targets(
    cold: &Cold,
    warm: &Warm,
    paired: &mut BTreeMap<String, f64>,
    derived: &mut BTreeMap<String, f64>,
) -> Vec<Target> {
    let mut targets = Vec::new();
    if let (Some(on), Some(off)) = (cold.samples.get("ours"), cold.samples.get("ours_unguarded")) {
        let added = paired_median_diff(on, off);
        paired.insert("guard_on_minus_off".into(), added);
        targets.push(Target {
            name: "connect guard: Init added".into(),
            target: "≤ 0.5 ms (paired median, guard on − off)".into(),
            measured: format!(
                "{added:+.3} ms ({:.2} ms vs {:.2} ms, medians)",
                summarize(on).p50,
                summarize(off).p50
            ),
            met: added <= 0.5,
        });
    }
    if let (Some(on), Some(off)) = (warm.samples.get("ours"), warm.samples.get("ours_unguarded")) {
        if !on.is_empty() && !off.is_empty() {
            let p50 = summarize(on).p50 - summarize(off).p50;
            derived.insert("guard_added_p50".into(), p50);
            // Both series run in every round: the round-by-round difference is the steadier figure.
            let rounds = (on.len() == off.len()).then(|| paired_median_diff(on, off));
            if let Some(r) = rounds {
                derived.insert("guard_added_round_median".into(), r);
            }
            let figure = rounds.unwrap_or(p50);
            targets.push(Target {
                name: "connect guard: warm p50 added per probe".into(),
                target: "≤ 0.1 ms (guard on − off)".into(),
                measured: format!(
                    "{figure:+.3} ms round by round (difference of the p50s: {p50:+.3} ms)"
                ),
                met: figure <= 0.1,
            });
        }
    }
    let extension = |key: &str| {
        warm.memory_kib
            .get(key)
            .and_then(|m| m.get("extension"))
            .copied()
    };
    if let (Some(on), Some(off)) = (extension("ours"), extension("ours_unguarded")) {
        let added = on as i64 - off as i64;
        targets.push(Target {
            name: "connect guard: extension peak RSS added".into(),
            target: "≤ 0.5 MiB".into(),
            measured: format!("{added:+} KiB ({on} vs {off} KiB)"),
            met: added <= 512,
        });
    }
    targets
}

//! Order statistics over samples in milliseconds.

use serde::Serialize;

/// A distribution: count, min, percentiles, max and mean, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// The `q` quantile (0..=1) of sorted samples, by linear interpolation between the
/// closest ranks (the same as numpy's default), so the median of an even count is the
/// mean of the middle two.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    assert!(!sorted.is_empty(), "quantile of no samples");
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

pub fn summarize(samples: &[f64]) -> Summary {
    let mut s = samples.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    Summary {
        n: s.len(),
        min: s[0],
        p50: quantile(&s, 0.5),
        p90: quantile(&s, 0.9),
        p99: quantile(&s, 0.99),
        max: s[s.len() - 1],
        mean: s.iter().sum::<f64>() / s.len() as f64,
    }
}

/// Median of `a[i] - b[i]`: the paired difference of two series taken in the same rounds.
pub fn paired_median_diff(a: &[f64], b: &[f64]) -> f64 {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    summarize(&d).p50
}

/// The order of `n` series in round `round`: a permutation drawn afresh each round
/// (the same for the same round), so that no series always follows the same one: a heavy
/// series (the bash bootstrap) slows whichever runs next, and a fixed order would charge
/// that to one series every round.
pub fn round_order(round: usize, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = (round as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for i in (1..n).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_round_is_a_permutation_and_neighbours_change() {
        let mut followers = std::collections::BTreeSet::new();
        for round in 0..50 {
            let order = round_order(round, 7);
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, (0..7).collect::<Vec<_>>());
            let at = order.iter().position(|i| *i == 0).unwrap();
            if at > 0 {
                followers.insert(order[at - 1]);
            }
        }
        assert!(followers.len() >= 5, "series 0 came after {followers:?}");
    }

    #[test]
    fn quantiles_interpolate_between_ranks() {
        let s = summarize(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!(s.n, 4);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 4.0);
        assert_eq!(s.p50, 2.5);
        assert_eq!(s.mean, 2.5);
        assert!((s.p90 - 3.7).abs() < 1e-9, "{}", s.p90);
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = summarize(&hundred);
        assert!((s.p99 - 99.01).abs() < 1e-9, "{}", s.p99);
        assert_eq!(summarize(&[7.0]).p99, 7.0);
    }

    #[test]
    fn paired_difference_is_taken_round_by_round() {
        // Every round differs by exactly 1, whatever the spread between rounds.
        let a = [11.0, 2.0, 31.0];
        let b = [10.0, 1.0, 30.0];
        assert_eq!(paired_median_diff(&a, &b), 1.0);
    }
}

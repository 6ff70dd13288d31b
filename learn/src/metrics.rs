//! Routing metrics: RouteLLM's quality-vs-strong-share curve with APGR and CPT, ROC AUC,
//! calibration (reliability bins, ECE), and the router's multi-candidate decision rule.
//!
//! Labels are in 0..1 (1 = good answer); soft labels are allowed everywhere.

use serde::Serialize;
use switchyard_crds::auto_rule::{self, AutoCandidate};

/// A piecewise-linear curve of (x, quality) points with increasing x.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Curve {
    /// Points `[x, quality]`.
    pub points: Vec<[f64; 2]>,
}

impl Curve {
    /// Area under the curve over its x range (trapezoids).
    pub fn area(&self) -> f64 {
        self.points
            .windows(2)
            .map(|w| (w[1][0] - w[0][0]) * (w[1][1] + w[0][1]) / 2.0)
            .sum()
    }

    /// Quality at `x` (linear between points; clamped to the ends).
    pub fn at(&self, x: f64) -> f64 {
        let Some(first) = self.points.first() else {
            return 0.0;
        };
        if x <= first[0] {
            return first[1];
        }
        for w in self.points.windows(2) {
            let ([x0, y0], [x1, y1]) = (w[0], w[1]);
            if x <= x1 {
                return if x1 > x0 {
                    y0 + (y1 - y0) * (x - x0) / (x1 - x0)
                } else {
                    y1
                };
            }
        }
        self.points.last().map(|p| p[1]).unwrap_or(0.0)
    }

    /// The curve sampled at `n + 1` evenly spaced x in 0..1 (for reports and plots).
    pub fn resample(&self, n: usize) -> Curve {
        let n = n.max(1);
        Curve {
            points: (0..=n)
                .map(|i| {
                    let x = i as f64 / n as f64;
                    [x, self.at(x)]
                })
                .collect(),
        }
    }

    /// Smallest x at which the curve reaches `quality` (linear between points), if it does.
    pub fn first_reaching(&self, quality: f64) -> Option<f64> {
        let first = self.points.first()?;
        if first[1] >= quality {
            return Some(first[0]);
        }
        for w in self.points.windows(2) {
            let ([x0, y0], [x1, y1]) = (w[0], w[1]);
            if y1 >= quality && y1 > y0 {
                return Some(x0 + (x1 - x0) * (quality - y0) / (y1 - y0));
            }
        }
        None
    }
}

/// Quality as a function of the share of prompts sent to the strong model, when prompts are
/// sent to it in decreasing order of `score` (ties are split evenly: the expected value of a
/// random tie-break, hence straight segments across each tie group).
pub fn strong_share_curve(score: &[f64], weak: &[f64], strong: &[f64]) -> Curve {
    let n = score.len();
    if n == 0 {
        return Curve { points: Vec::new() };
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    let mut quality: f64 = weak.iter().sum();
    let mut points = vec![[0.0, quality / n as f64]];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j < n && score[order[j]] == score[order[i]] {
            quality += strong[order[j]] - weak[order[j]];
            j += 1;
        }
        points.push([j as f64 / n as f64, quality / n as f64]);
        i = j;
    }
    Curve { points }
}

/// Summary of a strong/weak pair's routing curve.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PairSummary {
    /// Average performance gap recovered: area under PGR over strong share 0..1.
    pub apgr: f64,
    /// Strong share needed for 50 % of the quality gap.
    pub cpt50: Option<f64>,
    /// Strong share needed for 80 % of the quality gap.
    pub cpt80: Option<f64>,
    /// Strong share needed for 95 % of the quality gap.
    pub cpt95: Option<f64>,
}

/// APGR and CPT(50/80/95 %) of a curve, given the weak-only and strong-only qualities.
/// `None` when the strong model is not better than the weak one.
pub fn summarise(curve: &Curve, weak_quality: f64, strong_quality: f64) -> Option<PairSummary> {
    let gap = strong_quality - weak_quality;
    if gap <= 1e-12 {
        return None;
    }
    let cpt = |x: f64| curve.first_reaching(weak_quality + x * gap);
    Some(PairSummary {
        apgr: (curve.area() - weak_quality) / gap,
        cpt50: cpt(0.5),
        cpt80: cpt(0.8),
        cpt95: cpt(0.95),
    })
}

/// ROC AUC of `score` for labels in 0..1 (a label `y` counts `y` as positive and `1 - y`
/// as negative; ties count half). `None` without both classes.
pub fn auc(score: &[f64], label: &[f64]) -> Option<f64> {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let (mut neg_below, mut num, mut pos_total) = (0.0, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        let (mut pos, mut neg) = (0.0, 0.0);
        while j < order.len() && score[order[j]] == score[order[i]] {
            pos += label[order[j]];
            neg += 1.0 - label[order[j]];
            j += 1;
        }
        num += pos * (neg_below + 0.5 * neg);
        neg_below += neg;
        pos_total += pos;
        i = j;
    }
    if pos_total <= 0.0 || neg_below <= 0.0 {
        None
    } else {
        Some(num / (pos_total * neg_below))
    }
}

/// One reliability bin.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bin {
    /// Lower edge of the predicted-probability bin.
    pub lower: f64,
    /// Upper edge.
    pub upper: f64,
    /// Prompts in the bin.
    pub count: usize,
    /// Mean predicted probability.
    pub mean_predicted: f64,
    /// Mean label (observed accuracy).
    pub mean_observed: f64,
}

/// Calibration of predicted probabilities against labels.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Calibration {
    /// Expected calibration error over equal-width bins.
    pub ece: f64,
    /// Mean squared error of the probabilities.
    pub brier: f64,
    /// Mean negative log-likelihood.
    pub log_loss: f64,
    /// Non-empty bins.
    pub bins: Vec<Bin>,
}

/// Calibration over `n_bins` equal-width probability bins.
pub fn calibration(p: &[f64], label: &[f64], n_bins: usize) -> Calibration {
    let n_bins = n_bins.max(1);
    let mut sums = vec![(0usize, 0.0f64, 0.0f64); n_bins];
    for (&pi, &yi) in p.iter().zip(label) {
        let b = ((pi * n_bins as f64) as usize).min(n_bins - 1);
        sums[b].0 += 1;
        sums[b].1 += pi;
        sums[b].2 += yi;
    }
    let total = p.len().max(1) as f64;
    let mut ece = 0.0;
    let mut bins = Vec::new();
    for (b, (c, sp, sy)) in sums.into_iter().enumerate() {
        if c == 0 {
            continue;
        }
        let (mp, my) = (sp / c as f64, sy / c as f64);
        ece += c as f64 / total * (mp - my).abs();
        bins.push(Bin {
            lower: b as f64 / n_bins as f64,
            upper: (b + 1) as f64 / n_bins as f64,
            count: c,
            mean_predicted: mp,
            mean_observed: my,
        });
    }
    let brier = p
        .iter()
        .zip(label)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        / total;
    let log_loss = p
        .iter()
        .zip(label)
        .map(|(&a, &y)| {
            let a = a.clamp(1e-7, 1.0 - 1e-7);
            -(y * a.ln() + (1.0 - y) * (1.0 - a).ln())
        })
        .sum::<f64>()
        / total;
    Calibration {
        ece,
        brier,
        log_loss,
        bins,
    }
}

/// The router's `auto` decision ([`switchyard_crds::auto_rule::choose`], the very function the
/// router decides with): the cheapest candidate with `p[i] >= thresholds[i]` or
/// `p[i] >= max(p) - tolerance`. Returns the chosen index.
pub fn decide(p: &[f64], thresholds: &[f64], tolerance: f64, costs: &[f64]) -> usize {
    let cands: Vec<AutoCandidate> = p
        .iter()
        .zip(thresholds)
        .zip(costs)
        .map(|((&p, &threshold), &cost)| AutoCandidate {
            p: Some(p),
            threshold,
            cost,
        })
        .collect();
    auto_rule::choose(&cands, tolerance).unwrap_or(0)
}

/// The threshold `t` that maximises the accuracy of "good answer iff `p >= t`" against the
/// labels (midpoints between distinct probabilities; ties resolved towards 0.5).
pub fn accuracy_threshold(p: &[f64], label: &[f64]) -> f64 {
    let mut order: Vec<usize> = (0..p.len()).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    // Threshold below everything: all predicted good.
    let mut correct: f64 = label.iter().sum();
    let mut best = (correct, 0.0f64);
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && p[order[j]] == p[order[i]] {
            // Now predicted bad: gains 1 - y, loses y.
            correct += 1.0 - 2.0 * label[order[j]];
            j += 1;
        }
        let t = if j < order.len() {
            (p[order[i]] + p[order[j]]) / 2.0
        } else {
            1.0
        };
        let better = correct > best.0 + 1e-9
            || ((correct - best.0).abs() <= 1e-9 && (t - 0.5).abs() < (best.1 - 0.5).abs());
        if better {
            best = (correct, t);
        }
        i = j;
    }
    best.1.clamp(0.0, 1.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn constant_score_is_the_random_router() {
        // All ties: a straight line from weak to strong quality, APGR exactly 0.5.
        let weak = [1.0, 0.0, 0.0, 1.0];
        let strong = [1.0, 1.0, 1.0, 0.0];
        let c = strong_share_curve(&[0.3; 4], &weak, &strong);
        assert_eq!(c.points, vec![[0.0, 0.5], [1.0, 0.75]]);
        let s = summarise(&c, 0.5, 0.75).unwrap();
        assert!(close(s.apgr, 0.5));
        assert!(close(s.cpt50.unwrap(), 0.5));
        assert!(close(s.cpt80.unwrap(), 0.8));
    }

    #[test]
    fn oracle_curve_by_hand() {
        // Prompt 1 and 2 gain from the strong model, prompt 3 loses, prompt 0 is indifferent.
        let weak = [1.0, 0.0, 0.0, 1.0];
        let strong = [1.0, 1.0, 1.0, 0.0];
        let oracle: Vec<f64> = strong.iter().zip(&weak).map(|(s, w)| s - w).collect();
        let c = strong_share_curve(&oracle, &weak, &strong);
        // Shares 0, .5 (both gains), .75 (indifferent), 1 (the loss).
        assert_eq!(
            c.points,
            vec![[0.0, 0.5], [0.5, 1.0], [0.75, 1.0], [1.0, 0.75]]
        );
        // Area = .5*.75 + .25*1 + .25*.875 = .84375; APGR = (.84375 - .5)/.25.
        let s = summarise(&c, 0.5, 0.75).unwrap();
        assert!(close(s.apgr, 1.375), "{}", s.apgr);
        // 80 % of the gap (quality .7) is reached at share .2 on the first segment.
        assert!(close(s.cpt80.unwrap(), 0.2));
    }

    #[test]
    fn random_scores_average_to_half() {
        // Expected APGR of random scores is 0.5: average over many seeded shuffles.
        use rand::{Rng, SeedableRng, rngs::StdRng};
        let mut rng = StdRng::seed_from_u64(7);
        let n = 200;
        let weak: Vec<f64> = (0..n)
            .map(|_| f64::from(rng.random_bool(0.6) as u8))
            .collect();
        let strong: Vec<f64> = (0..n)
            .map(|_| f64::from(rng.random_bool(0.8) as u8))
            .collect();
        let (wq, sq) = (
            weak.iter().sum::<f64>() / n as f64,
            strong.iter().sum::<f64>() / n as f64,
        );
        let trials = 300;
        let mean = (0..trials)
            .map(|_| {
                let score: Vec<f64> = (0..n).map(|_| rng.random()).collect();
                summarise(&strong_share_curve(&score, &weak, &strong), wq, sq)
                    .unwrap()
                    .apgr
            })
            .sum::<f64>()
            / f64::from(trials);
        assert!(
            (mean - 0.5).abs() < 0.03,
            "mean APGR of random scores {mean}"
        );
    }

    #[test]
    fn no_gap_gives_no_summary() {
        let c = Curve {
            points: vec![[0.0, 0.5], [1.0, 0.5]],
        };
        assert!(summarise(&c, 0.5, 0.5).is_none());
    }

    #[test]
    fn auc_by_hand_with_ties() {
        assert_eq!(
            auc(&[0.1, 0.4, 0.35, 0.8], &[0.0, 0.0, 1.0, 1.0]),
            Some(0.75)
        );
        assert_eq!(auc(&[0.5, 0.5], &[0.0, 1.0]), Some(0.5));
        assert_eq!(auc(&[0.1, 0.2], &[1.0, 1.0]), None);
    }

    #[test]
    fn calibration_by_hand() {
        let c = calibration(&[0.1, 0.1, 0.9, 0.9], &[0.0, 1.0, 1.0, 1.0], 10);
        assert_eq!(c.bins.len(), 2);
        // |0.1 - 0.5| * .5 + |0.9 - 1| * .5 = 0.25
        assert!(close(c.ece, 0.25));
        assert!(close(c.brier, (0.01 + 0.81 + 0.01 + 0.01) / 4.0));
    }

    #[test]
    fn decision_rule_matches_the_router() {
        let costs = [1.0, 10.0];
        // Weak above its threshold: weak.
        assert_eq!(decide(&[0.7, 0.9], &[0.6, 0.5], 0.0, &costs), 0);
        // Weak below: strong.
        assert_eq!(decide(&[0.5, 0.9], &[0.6, 0.5], 0.0, &costs), 1);
        // Within tolerance (absolute) of the best: weak.
        assert_eq!(decide(&[0.5, 0.9], &[0.6, 0.5], 0.4, &costs), 0);
        assert_eq!(decide(&[0.5, 0.9], &[0.6, 0.5], 0.3, &costs), 1);
        // Nobody above threshold: the most likely.
        assert_eq!(decide(&[0.3, 0.4], &[0.6, 0.5], 0.0, &costs), 1);
        // Tolerance 1: always the cheapest.
        assert_eq!(decide(&[0.0, 0.9], &[1.0, 1.0], 1.0, &costs), 0);
    }

    #[test]
    fn accuracy_threshold_by_hand() {
        let p = [0.1, 0.3, 0.6, 0.8];
        assert!(close(accuracy_threshold(&p, &[0.0, 0.0, 1.0, 1.0]), 0.45));
        // All good: any threshold at or below the lowest is perfect; closest to .5 wins.
        assert!(close(accuracy_threshold(&p, &[1.0; 4]), 0.0));
    }
}

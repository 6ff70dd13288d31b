//! The `auto` strategy's choice among scored candidates, as one pure function: the router
//! decides requests with it and `switchyard-learn` evaluates heads with it, so an evaluation
//! measures exactly the rule that serves.

/// One candidate as the rule sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AutoCandidate {
    /// Predicted probability of a good answer; `None` when the head gave none.
    pub p: Option<f64>,
    /// The candidate's threshold.
    pub threshold: f64,
    /// Blended price (input + output per million tokens).
    pub cost: f64,
}

/// Whether candidate `c` is acceptable given the best probability among the candidates:
/// `p >= threshold`, or `p >= p_best - tolerance` (the tolerance is an absolute margin).
pub fn acceptable(c: &AutoCandidate, p_best: f64, tolerance: f64) -> bool {
    c.p.is_some_and(|p| p >= c.threshold || p >= p_best - tolerance)
}

/// The highest probability among the scored candidates (`-inf` when none is scored).
pub fn best_probability(cands: &[AutoCandidate]) -> f64 {
    cands
        .iter()
        .filter_map(|c| c.p)
        .fold(f64::NEG_INFINITY, f64::max)
}

/// The chosen candidate's index: the cheapest acceptable one; among equally cheap ones the more
/// likely, then the first. `None` when no candidate is scored. With tolerance 0 this is
/// NVIDIA's rule (the cheapest above its threshold, else the most likely); with 1 the cheapest
/// scored candidate always wins.
pub fn choose(cands: &[AutoCandidate], tolerance: f64) -> Option<usize> {
    let p_best = best_probability(cands);
    cands
        .iter()
        .enumerate()
        .filter(|(_, c)| acceptable(c, p_best, tolerance))
        .min_by(|(ia, a), (ib, b)| {
            a.cost
                .total_cmp(&b.cost)
                .then_with(|| b.p.unwrap_or(0.0).total_cmp(&a.p.unwrap_or(0.0)))
                .then_with(|| ia.cmp(ib))
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(p: Option<f64>, threshold: f64, cost: f64) -> AutoCandidate {
        AutoCandidate { p, threshold, cost }
    }

    #[test]
    fn cheapest_acceptable_wins() {
        // Strong (costly) and weak (cheap).
        let weak_ok = [c(Some(0.9), 0.5, 10.0), c(Some(0.7), 0.6, 1.0)];
        assert_eq!(choose(&weak_ok, 0.0), Some(1));
        let weak_below = [c(Some(0.9), 0.5, 10.0), c(Some(0.5), 0.6, 1.0)];
        assert_eq!(choose(&weak_below, 0.0), Some(0));
        // Within 0.4 of the best: acceptable after all; 0.3 is not enough.
        assert_eq!(choose(&weak_below, 0.4), Some(1));
        assert_eq!(choose(&weak_below, 0.3), Some(0));
        // Nothing above its threshold: the most likely is still acceptable.
        let none_above = [c(Some(0.4), 0.6, 10.0), c(Some(0.3), 0.5, 1.0)];
        assert_eq!(choose(&none_above, 0.0), Some(0));
        // Tolerance 1: the cheapest scored one.
        let far = [c(Some(0.9), 1.0, 10.0), c(Some(0.0), 1.0, 1.0)];
        assert_eq!(choose(&far, 1.0), Some(1));
    }

    #[test]
    fn ties_and_unscored_candidates() {
        // Equal cost: the more likely; full tie: the first.
        let same_cost = [c(Some(0.7), 0.5, 1.0), c(Some(0.8), 0.5, 1.0)];
        assert_eq!(choose(&same_cost, 0.0), Some(1));
        let full_tie = [c(Some(0.8), 0.5, 1.0), c(Some(0.8), 0.5, 1.0)];
        assert_eq!(choose(&full_tie, 0.0), Some(0));
        // An unscored candidate is never chosen, however cheap.
        let unscored = [c(Some(0.6), 0.5, 10.0), c(None, 0.0, 0.0)];
        assert_eq!(choose(&unscored, 1.0), Some(0));
        assert_eq!(choose(&[c(None, 0.5, 1.0)], 0.0), None);
        assert_eq!(choose(&[], 0.0), None);
    }
}

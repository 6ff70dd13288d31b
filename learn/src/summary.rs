//! One-screen summaries of training and evaluation reports, printed by
//! `switchyard-router train|eval` (and the development example).

use std::fmt::Write as _;

use crate::card::{opt_pct, opt3};
use crate::eval::EvalReport;
use crate::train::TrainReport;

/// Summary of a training run.
pub fn train_summary(r: &TrainReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "wrote {} ({} prompts; embedding {:.1} s, {:.1} prompts/s; training {:.1} s)",
        r.head.display(),
        r.prompts,
        r.embedding.seconds,
        r.embedding.per_second,
        r.fit_seconds
    );
    if !r.skipped.is_empty() {
        let _ = writeln!(out, "skipped: {}", r.skipped);
    }
    if let Some((s, w, p)) = &r.val_pair {
        let _ = writeln!(
            out,
            "validation {s} vs {w}: APGR {:.3}, CPT(50%) {}, CPT(80%) {}",
            p.apgr,
            opt_pct(p.cpt50),
            opt_pct(p.cpt80)
        );
    }
    for c in &r.candidates {
        let _ = writeln!(
            out,
            "  {}: threshold {:.3}, val AUC {}, ECE {:.3}",
            c.model,
            c.threshold,
            opt3(c.val_auc),
            c.val_calibration.ece
        );
    }
    out
}

/// Summary of an evaluation.
pub fn eval_summary(r: &EvalReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} prompts ({} excluded)", r.prompts, r.excluded);
    if !r.skipped.is_empty() {
        let _ = writeln!(out, "skipped: {}", r.skipped);
    }
    if let Some(p) = &r.pair {
        for (name, c) in [
            ("router", &p.router),
            ("threshold", &p.threshold_rule),
            ("random", &p.random),
            ("oracle", &p.oracle),
        ] {
            if let Some(s) = &c.summary {
                let _ = writeln!(
                    out,
                    "  {name:7} APGR {:.3}  CPT50 {}  CPT80 {}  CPT95 {}",
                    s.apgr,
                    opt_pct(s.cpt50),
                    opt_pct(s.cpt80),
                    opt_pct(s.cpt95)
                );
            }
        }
        let _ = writeln!(
            out,
            "  operating point: {:.1}% strong, quality {:.3}",
            p.operating_point.strong_share * 100.0,
            p.operating_point.quality
        );
    }
    for c in &r.candidates {
        let _ = writeln!(
            out,
            "  {}: acc {:.3}, mean p {:.3}, AUC {}, ECE {:.3}",
            c.model,
            c.accuracy,
            c.mean_predicted,
            opt3(c.auc),
            c.calibration.ece
        );
    }
    out
}

//! Model cards (`card.md`): what a head was trained on, how well it did, how fast it was
//! made; evaluations append (or replace) their own sections.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Error, Result};
use crate::eval::{EvalArgs, EvalReport, RouterCurve};
use crate::metrics::PairSummary;
use crate::train::TrainReport;

/// File name of the card inside a head directory.
pub const CARD_FILE: &str = "card.md";

pub(crate) fn opt_pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.1} %", x * 100.0))
        .unwrap_or_else(|| "not reached".to_owned())
}

pub(crate) fn opt3(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}"))
        .unwrap_or_else(|| "n/a".to_owned())
}

fn pair_row(out: &mut String, name: &str, s: &Option<PairSummary>) {
    match s {
        Some(s) => {
            let _ = writeln!(
                out,
                "| {name} | {:.3} | {} | {} | {} |",
                s.apgr,
                opt_pct(s.cpt50),
                opt_pct(s.cpt80),
                opt_pct(s.cpt95)
            );
        }
        None => {
            let _ = writeln!(out, "| {name} | n/a | | | |");
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn embed_line(e: &crate::cache::EmbedStats) -> String {
    if e.encoded == 0 {
        format!(
            "all {} prompts from the embedding cache (throughput is measured when it is filled)",
            e.prompts
        )
    } else {
        format!(
            "{} prompts, {} from the cache, {} encoded in {:.1} s ({:.1} prompts/s)",
            e.prompts, e.cached, e.encoded, e.seconds, e.per_second
        )
    }
}

/// Writes `DIR/card.md` for a freshly trained head (replacing any earlier card).
pub fn write_training_card(dir: &Path, r: &TrainReport) -> Result<()> {
    let mut o = String::new();
    let names: Vec<&str> = r.candidates.iter().map(|c| c.model.as_str()).collect();
    let _ = writeln!(o, "# Auto-routing head: {}\n", names.join(" / "));
    let _ = writeln!(
        o,
        "A Switchyard `auto` head (`head.onnx`): embedding `[N, {}]` → per-candidate \
         probability of a good answer `[N, {}]`. Trained by `switchyard-learn` {}.\n",
        r.input_dim,
        r.candidates.len(),
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(o, "## Training\n");
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(o, "| embedder | `{}` |", r.embedder);
    let files: Vec<String> = r.data.iter().map(|(p, _)| file_name(p)).collect();
    let shown = if files.len() > 8 {
        format!("{} … ({} files)", files[..6].join(", "), files.len())
    } else {
        files.join(", ")
    };
    let format = serde_json::to_value(r.format).unwrap_or_default();
    let _ = writeln!(
        o,
        "| data ({}) | {shown} |",
        format.as_str().unwrap_or_default()
    );
    let _ = writeln!(
        o,
        "| prompts | {} ({} train / {} validation, split by {}, seed {}) |",
        r.prompts,
        r.split.0,
        r.split.1,
        match r.val_by {
            crate::train::ValBy::Row => "prompt",
            crate::train::ValBy::File => "data file",
        },
        r.config.seed
    );
    if !r.val_files.is_empty() {
        let _ = writeln!(o, "| validation files | {} |", r.val_files.join(", "));
    }
    if !r.skipped.is_empty() {
        let _ = writeln!(o, "| skipped | {} |", r.skipped);
    }
    let c = &r.config;
    let arch = if c.hidden == 0 {
        "logistic regression".to_owned()
    } else {
        format!("MLP, one hidden ReLU layer of {}", c.hidden)
    };
    let _ = writeln!(
        o,
        "| model | {arch}; {} parameters; {} bytes |",
        r.size.0, r.size.1
    );
    let _ = writeln!(
        o,
        "| optimiser | Adam lr {}, batch {}, weight decay {}, dropout {}; early stopping \
         (patience {}) kept epoch {} of {} |",
        c.learning_rate,
        c.batch_size,
        c.weight_decay,
        c.dropout,
        c.patience,
        r.epochs.1,
        r.epochs.0
    );
    let _ = writeln!(
        o,
        "| loss (BCE) | train {:.4}, validation {:.4} |",
        r.loss.0, r.loss.1
    );
    let _ = writeln!(
        o,
        "| ONNX Runtime parity | max abs difference {:.1e} |",
        r.parity_max_abs_diff
    );
    let _ = writeln!(o, "| thresholds | {} |", r.threshold_rule);
    let _ = writeln!(o, "\n## Validation split\n");
    let _ = writeln!(
        o,
        "| candidate | train accuracy | val accuracy | threshold | val AUC | val ECE | val Brier |\n|---|---|---|---|---|---|---|"
    );
    for c in &r.candidates {
        let _ = writeln!(
            o,
            "| {} | {:.3} | {:.3} | {:.3} | {} | {:.3} | {:.3} |",
            c.model,
            c.train_accuracy,
            c.val_accuracy,
            c.threshold,
            opt3(c.val_auc),
            c.val_calibration.ece,
            c.val_calibration.brier
        );
    }
    if let Some((s, w, p)) = &r.val_pair {
        let _ = writeln!(
            o,
            "\nStrong/weak pair {s} / {w} (tolerance knob: {s} when P({s}) − P({w}) is high): \
             APGR {:.3}, CPT(50 %) {}, CPT(80 %) {}.",
            p.apgr,
            opt_pct(p.cpt50),
            opt_pct(p.cpt80)
        );
    }
    let _ = writeln!(o, "\n## Throughput\n");
    let _ = writeln!(o, "- embedding: {}", embed_line(&r.embedding));
    let _ = writeln!(o, "- head training: {:.1} s", r.fit_seconds);
    let _ = writeln!(o, "- whole run: {:.1} s", r.seconds);
    let path = dir.join(CARD_FILE);
    std::fs::write(&path, o).map_err(|e| Error::io(&path, e))
}

/// Appends (or replaces) the section for `args.label` in `DIR/card.md`.
pub fn append_eval(dir: &Path, r: &EvalReport, args: &EvalArgs) -> Result<()> {
    let path = dir.join(CARD_FILE);
    let existing = std::fs::read_to_string(&path).unwrap_or_default();
    let begin = format!("<!-- eval: {} -->", r.label);
    let end = "<!-- /eval -->";
    let kept = match existing.find(&begin) {
        Some(start) => {
            let stop = existing[start..]
                .find(end)
                .map(|i| start + i + end.len())
                .unwrap_or(existing.len());
            format!("{}{}", &existing[..start], existing[stop..].trim_start())
        }
        None => existing,
    };
    let mut o = String::new();
    let _ = writeln!(o, "{begin}\n## Evaluation: {}\n", r.label);
    let files: Vec<String> = r.data.iter().map(|p| file_name(p)).collect();
    let _ = writeln!(
        o,
        "{} prompts from {} file(s): {}.{}\n",
        r.prompts,
        files.len(),
        files.join(", "),
        if r.excluded > 0 {
            format!(
                " {} prompt(s) excluded (`{}`).",
                r.excluded,
                args.exclude_prompts
                    .as_deref()
                    .map(file_name)
                    .unwrap_or_default()
            )
        } else {
            String::new()
        }
    );
    if let Some(p) = &r.pair {
        let _ = writeln!(
            o,
            "Strong {} answers {:.1} %, weak {} {:.1} % ({} prompts labelled for both).\n",
            p.strong,
            p.strong_quality * 100.0,
            p.weak,
            p.weak_quality * 100.0,
            p.prompts
        );
        let _ = writeln!(
            o,
            "| router | APGR | CPT(50 %) | CPT(80 %) | CPT(95 %) |\n|---|---|---|---|---|"
        );
        let rows: [(&str, &RouterCurve); 4] = [
            (
                "head, router `tolerance` knob (weak when P(weak) ≥ P(strong) − tolerance)",
                &p.router,
            ),
            (
                "head, per-candidate `threshold` knob (strong when P(weak) < t)",
                &p.threshold_rule,
            ),
            ("random", &p.random),
            ("oracle", &p.oracle),
        ];
        for (name, c) in rows {
            pair_row(&mut o, name, &c.summary);
        }
        let op = &p.operating_point;
        let _ = writeln!(
            o,
            "\nWith the stored thresholds (tolerance 0) the router sends {:.1} % of prompts to {} \
             and answers {:.1} % correctly (PGR {}). The head rates {} at least as high as {} on \
             {:.1} % of prompts.\n",
            op.strong_share * 100.0,
            p.strong,
            op.quality * 100.0,
            opt3(op.pgr),
            p.weak,
            p.strong,
            p.weak_preferred_share * 100.0
        );
    }
    let _ = writeln!(
        o,
        "| candidate | accuracy | mean P | AUC | ECE | Brier |\n|---|---|---|---|---|---|"
    );
    for c in &r.candidates {
        let _ = writeln!(
            o,
            "| {} | {:.3} | {:.3} | {} | {:.3} | {:.3} |",
            c.model,
            c.accuracy,
            c.mean_predicted,
            opt3(c.auc),
            c.calibration.ece,
            c.calibration.brier
        );
    }
    if let Some(plot) = &args.plot
        && plot
            .parent()
            .is_some_and(|p| p == dir || p.as_os_str().is_empty())
    {
        let _ = writeln!(o, "\n![quality vs strong share]({})", file_name(plot));
    }
    let _ = writeln!(o, "\nEmbedding: {}.\n{end}", embed_line(&r.embedding));
    let text = format!("{}\n\n{o}", kept.trim_end());
    std::fs::write(&path, text).map_err(|e| Error::io(&path, e))
}

//! `eval`: a trained head on labelled data → RouteLLM metrics (APGR, CPT), per-model AUC and
//! calibration, quality-vs-cost curves under the router's decision rule, a report and a plot.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cache::{Cache, EmbedStats, embed_examples};
use crate::data::{Dataset, Format, Skipped};
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::head_file::LoadedHead;
use crate::metrics::{self, Calibration, Curve, PairSummary};
use crate::train::{label_matrices, stack, strong_weak};

/// Arguments of `switchyard-router eval`.
#[derive(Clone, Debug, clap::Args)]
pub struct EvalArgs {
    /// Head directory (holding head.onnx) or head file.
    #[arg(long)]
    pub head: PathBuf,
    /// Labelled data files (all in one format).
    #[arg(long, num_args = 1.., required = true)]
    pub data: Vec<PathBuf>,
    /// Format of the data files.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Embedder (must be the one the head was trained on): `builtin`, a model name under
    /// $SWITCHYARD_MODELS, or a model directory.
    #[arg(long, default_value = "builtin")]
    pub embedder: String,
    /// Intra-op threads of the embedder.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Write the full report as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write the quality curve here (PNG; an SVG is written next to it).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Per-candidate prices `model=price,...` (default: rank by training accuracy).
    #[arg(long, value_delimiter = ',')]
    pub costs: Vec<String>,
    /// Strong model of the pair metrics (default: the most expensive candidate).
    #[arg(long)]
    pub strong: Option<String>,
    /// Weak model of the pair metrics (default: the cheapest candidate).
    #[arg(long)]
    pub weak: Option<String>,
    /// JSONL of prompts to leave out (fields `eval_prompt` or `prompt`), e.g. RouteLLM's
    /// `contaminated_prompts.jsonl`.
    #[arg(long)]
    pub exclude_prompts: Option<PathBuf>,
    /// Describes the evaluation data in the card and the plot title.
    #[arg(long, default_value = "evaluation data")]
    pub label: String,
    /// Append the results to the head directory's card.md.
    #[arg(long)]
    pub card: bool,
    /// Embedding cache directory.
    #[arg(long, default_value = ".cache/embeddings")]
    pub cache: PathBuf,
    /// Do not read or write the embedding cache.
    #[arg(long)]
    pub no_cache: bool,
}

impl EvalArgs {
    /// Arguments with defaults for `head`, `data` and `format` (library and test use).
    pub fn new(head: PathBuf, data: Vec<PathBuf>, format: Format) -> Self {
        Self {
            head,
            data,
            format,
            embedder: "builtin".to_owned(),
            threads: 2,
            report: None,
            plot: None,
            costs: Vec::new(),
            strong: None,
            weak: None,
            exclude_prompts: None,
            label: "evaluation data".to_owned(),
            card: false,
            cache: PathBuf::from(".cache/embeddings"),
            no_cache: false,
        }
    }
}

/// Per-candidate evaluation.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CandidateEval {
    /// Model name.
    pub model: String,
    /// Labelled prompts.
    pub prompts: usize,
    /// Mean label (accuracy).
    pub accuracy: f64,
    /// Mean predicted probability.
    pub mean_predicted: f64,
    /// ROC AUC of the predicted probability for its correctness.
    pub auc: Option<f64>,
    /// Calibration.
    pub calibration: Calibration,
    /// Threshold stored in the head.
    pub threshold: f64,
    /// Cost used for the cost curves.
    pub cost: f64,
}

/// One routing curve with its summary.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouterCurve {
    /// APGR / CPT.
    pub summary: Option<PairSummary>,
    /// Quality against strong share, sampled at 0, 0.01, …, 1.
    pub curve: Curve,
}

/// Where the head's stored thresholds put a two-model policy (tolerance 0).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatingPoint {
    /// Share of prompts sent to the strong model.
    pub strong_share: f64,
    /// Quality (mean label of the chosen model).
    pub quality: f64,
    /// Performance gap recovered at that point.
    pub pgr: Option<f64>,
}

/// Strong/weak pair metrics (RouteLLM).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PairEval {
    /// Strong model.
    pub strong: String,
    /// Weak model.
    pub weak: String,
    /// Prompts labelled for both.
    pub prompts: usize,
    /// Quality when every prompt goes to the strong model.
    pub strong_quality: f64,
    /// Quality when every prompt goes to the weak model.
    pub weak_quality: f64,
    /// The router's `tolerance` knob with the head's thresholds switched off: the weak model is
    /// chosen when `p_weak >= p_strong - tolerance`, so the sweep ranks prompts by the predicted
    /// gain `p_strong - p_weak`. The headline APGR.
    pub router: RouterCurve,
    /// The router's per-candidate `threshold` knob at tolerance 0: strong when the weak
    /// model's probability is below the threshold.
    pub threshold_rule: RouterCurve,
    /// A router that flips a biased coin.
    pub random: RouterCurve,
    /// A router that knows the answers.
    pub oracle: RouterCurve,
    /// The stored thresholds' operating point.
    pub operating_point: OperatingPoint,
    /// Share of prompts where the head rates the weak model at least as high as the strong
    /// one (the router keeps those on the weak model at tolerance 0 whatever the threshold).
    pub weak_preferred_share: f64,
}

/// A point of a quality-vs-cost sweep.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CostPoint {
    /// The swept knob (threshold or tolerance).
    pub knob: f64,
    /// Mean cost per prompt.
    pub cost: f64,
    /// Mean quality.
    pub quality: f64,
    /// Share of prompts per candidate.
    pub shares: Vec<f64>,
}

/// Everything `eval` measured.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvalReport {
    /// Head file.
    pub head: PathBuf,
    /// Embedder fingerprint.
    pub embedder: String,
    /// What the data is.
    pub label: String,
    /// Data files.
    pub data: Vec<PathBuf>,
    /// Prompts evaluated.
    pub prompts: usize,
    /// Prompts left out by `--exclude-prompts`.
    pub excluded: usize,
    /// Skipped rows.
    pub skipped: Skipped,
    /// Embedding pass.
    pub embedding: EmbedStats,
    /// Per candidate.
    pub candidates: Vec<CandidateEval>,
    /// Strong/weak pair.
    pub pair: Option<PairEval>,
    /// Global threshold (all candidates) swept 0..1 at tolerance 0; prompts labelled for all
    /// candidates.
    pub threshold_sweep: Vec<CostPoint>,
    /// Tolerance swept 0..1 with the stored thresholds.
    pub tolerance_sweep: Vec<CostPoint>,
}

fn parse_costs(specs: &[String], models: &[String]) -> Result<Option<Vec<f64>>> {
    if specs.is_empty() {
        return Ok(None);
    }
    let mut costs = vec![None; models.len()];
    for spec in specs {
        let (name, price) = spec
            .split_once('=')
            .ok_or_else(|| Error::Args(format!("--costs entry {spec:?} is not model=price")))?;
        let price: f64 = price
            .trim()
            .parse()
            .ok()
            .filter(|p: &f64| p.is_finite() && *p >= 0.0)
            .ok_or_else(|| Error::Args(format!("--costs entry {spec:?}: bad price")))?;
        let i = models
            .iter()
            .position(|m| m == name.trim())
            .ok_or_else(|| {
                Error::Args(format!(
                    "--costs names {name:?}, not a head candidate ({})",
                    models.join(", ")
                ))
            })?;
        costs[i] = Some(price);
    }
    costs
        .into_iter()
        .zip(models)
        .map(|(c, m)| c.ok_or_else(|| Error::Args(format!("--costs lacks a price for {m:?}"))))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

fn read_exclusions(path: &Path) -> Result<HashSet<String>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut set = HashSet::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| Error::Row {
            path: path.to_path_buf(),
            line: i as u64 + 1,
            message: format!("invalid JSON: {e}"),
        })?;
        let text = v
            .get("eval_prompt")
            .or_else(|| v.get("prompt"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| Error::Row {
                path: path.to_path_buf(),
                line: i as u64 + 1,
                message: "no `eval_prompt` or `prompt` string".to_owned(),
            })?;
        set.insert(text.trim().to_owned());
    }
    Ok(set)
}

fn router_curve(score: &[f64], weak: &[f64], strong: &[f64], wq: f64, sq: f64) -> RouterCurve {
    let curve = metrics::strong_share_curve(score, weak, strong);
    RouterCurve {
        summary: metrics::summarise(&curve, wq, sq),
        curve: curve.resample(100),
    }
}

fn sweep(
    probs: &[Vec<f64>],
    labels: &[Vec<f64>],
    costs: &[f64],
    knobs: impl Iterator<Item = f64>,
    rule: impl Fn(f64) -> (Vec<f64>, f64),
) -> Vec<CostPoint> {
    let n = probs.len().max(1) as f64;
    let k = costs.len();
    knobs
        .map(|knob| {
            let (thresholds, tolerance) = rule(knob);
            let mut shares = vec![0.0; k];
            let (mut cost, mut quality) = (0.0, 0.0);
            for (p, y) in probs.iter().zip(labels) {
                let c = metrics::decide(p, &thresholds, tolerance, costs);
                shares[c] += 1.0 / n;
                cost += costs[c] / n;
                quality += y[c] / n;
            }
            CostPoint {
                knob,
                cost,
                quality,
                shares,
            }
        })
        .collect()
}

/// Evaluates the head in `args.head` on `args.data`, embedding with `embedder`.
pub fn eval(args: &EvalArgs, embedder: &dyn Embedder) -> Result<EvalReport> {
    let mut head = LoadedHead::open(&args.head)?;
    let meta = head.meta.clone();
    let fingerprint = embedder.fingerprint();
    if meta.embedder != fingerprint {
        return Err(Error::Head {
            path: head.path.clone(),
            message: format!(
                "trained for embedder {} but the embedder is {fingerprint}; evaluate with the \
                 embedder it was trained on, or retrain it",
                meta.embedder
            ),
        });
    }
    if meta.input_dim != embedder.dim() {
        return Err(Error::Head {
            path: head.path.clone(),
            message: format!(
                "takes {} inputs but the embedder gives {}",
                meta.input_dim,
                embedder.dim()
            ),
        });
    }
    let mut set = Dataset::load(&args.data, args.format)?;
    let missing: Vec<&String> = meta
        .candidates
        .iter()
        .filter(|c| !set.models.contains(c))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Dataset(format!(
            "the data has no labels for head candidate(s) {missing:?} (data models: {})",
            set.models.join(", ")
        )));
    }
    let extra: Vec<&String> = set
        .models
        .iter()
        .filter(|m| !meta.candidates.contains(m))
        .collect();
    if !extra.is_empty() {
        tracing::warn!(models = ?extra, "ignoring data models the head does not predict");
    }
    set.select_models(&meta.candidates)?;
    let mut excluded = 0;
    if let Some(path) = &args.exclude_prompts {
        let drop = read_exclusions(path)?;
        let before = set.examples.len();
        set.examples.retain(|e| !drop.contains(e.text.trim()));
        excluded = before - set.examples.len();
    }
    if set.examples.is_empty() {
        return Err(Error::Dataset("no prompts left to evaluate".to_owned()));
    }
    let dim = embedder.dim();
    let mut cache = if args.no_cache {
        Cache::disabled(dim)
    } else {
        Cache::open(&args.cache, &fingerprint, dim)?
    };
    let origin = |e: &crate::data::Example| set.origin(e);
    let (rows, embedding) = embed_examples(&set.examples, embedder, &mut cache, &origin)?;
    let x = stack(&rows, dim);
    let probs = head.predict(x.view())?;
    let (y, mask) = label_matrices(&set);
    let k = meta.candidates.len();
    let n = set.examples.len();
    let col = |j: usize| -> (Vec<f64>, Vec<f64>) {
        (0..n)
            .filter(|&i| mask[[i, j]] > 0.0)
            .map(|i| (f64::from(probs[[i, j]]), f64::from(y[[i, j]])))
            .unzip()
    };
    // Default costs: rank by training accuracy stored in the head, else by this data.
    let accuracy: Vec<f64> = (0..k)
        .map(|j| {
            let (_, l) = col(j);
            if l.is_empty() {
                0.0
            } else {
                l.iter().sum::<f64>() / l.len() as f64
            }
        })
        .collect();
    let rank_basis: Vec<f64> = meta
        .training
        .get("trainAccuracy")
        .and_then(|v| serde_json::from_value::<Vec<f64>>(v.clone()).ok())
        .filter(|v| v.len() == k)
        .unwrap_or_else(|| accuracy.clone());
    let costs = match parse_costs(&args.costs, &meta.candidates)? {
        Some(c) => c,
        None => {
            let mut order: Vec<usize> = (0..k).collect();
            order.sort_by(|&a, &b| rank_basis[a].total_cmp(&rank_basis[b]));
            let mut c = vec![0.0; k];
            for (rank, &i) in order.iter().enumerate() {
                c[i] = (rank + 1) as f64;
            }
            c
        }
    };
    let candidates: Vec<CandidateEval> = (0..k)
        .map(|j| {
            let (p, l) = col(j);
            CandidateEval {
                model: meta.candidates[j].clone(),
                prompts: l.len(),
                accuracy: accuracy[j],
                mean_predicted: if p.is_empty() {
                    0.0
                } else {
                    p.iter().sum::<f64>() / p.len() as f64
                },
                auc: metrics::auc(&p, &l),
                calibration: metrics::calibration(&p, &l, 10),
                threshold: meta.thresholds[j],
                cost: costs[j],
            }
        })
        .collect();
    let find = |name: &Option<String>| -> Result<Option<usize>> {
        name.as_ref()
            .map(|m| {
                meta.candidates
                    .iter()
                    .position(|c| c == m)
                    .ok_or_else(|| Error::Args(format!("{m:?} is not a head candidate")))
            })
            .transpose()
    };
    let by_cost = strong_weak(&costs);
    let strong = find(&args.strong)?.or(by_cost.map(|p| p.0));
    let weak = find(&args.weak)?.or(by_cost.map(|p| p.1));
    let pair = match (strong, weak) {
        (Some(s), Some(w)) if s != w => Some(pair_eval(&meta, &probs, &y, &mask, s, w)),
        _ => None,
    };
    // Multi-candidate sweeps on prompts labelled for every candidate.
    let full: Vec<usize> = (0..n)
        .filter(|&i| (0..k).all(|j| mask[[i, j]] > 0.0))
        .collect();
    let p_rows: Vec<Vec<f64>> = full
        .iter()
        .map(|&i| (0..k).map(|j| f64::from(probs[[i, j]])).collect())
        .collect();
    let y_rows: Vec<Vec<f64>> = full
        .iter()
        .map(|&i| (0..k).map(|j| f64::from(y[[i, j]])).collect())
        .collect();
    let grid = || (0..=100).map(|i| f64::from(i) / 100.0);
    let threshold_sweep = sweep(&p_rows, &y_rows, &costs, grid(), |t| (vec![t; k], 0.0));
    let tolerance_sweep = sweep(&p_rows, &y_rows, &costs, grid(), |tol| {
        (meta.thresholds.clone(), tol)
    });
    let report = EvalReport {
        head: head.path.clone(),
        embedder: fingerprint,
        label: args.label.clone(),
        data: args.data.clone(),
        prompts: n,
        excluded,
        skipped: set.skipped.clone(),
        embedding,
        candidates,
        pair,
        threshold_sweep,
        tolerance_sweep,
    };
    if let Some(path) = &args.report {
        let json =
            serde_json::to_vec_pretty(&report).map_err(|e| Error::Training(e.to_string()))?;
        std::fs::write(path, json).map_err(|e| Error::io(path, e))?;
    }
    if let Some(path) = &args.plot {
        crate::plot::plot(&report, path)?;
    }
    if args.card {
        let dir = if args.head.is_dir() {
            args.head.clone()
        } else {
            args.head
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
        };
        crate::card::append_eval(&dir, &report, args)?;
    }
    Ok(report)
}

fn pair_eval(
    meta: &switchyard_crds::head::HeadMetadata,
    probs: &ndarray::Array2<f32>,
    y: &ndarray::Array2<f32>,
    mask: &ndarray::Array2<f32>,
    s: usize,
    w: usize,
) -> PairEval {
    let rows: Vec<usize> = (0..probs.nrows())
        .filter(|&i| mask[[i, s]] > 0.0 && mask[[i, w]] > 0.0)
        .collect();
    let m = rows.len().max(1) as f64;
    let get = |a: &ndarray::Array2<f32>, j: usize| -> Vec<f64> {
        rows.iter().map(|&i| f64::from(a[[i, j]])).collect()
    };
    let (ps, pw, ys, yw) = (get(probs, s), get(probs, w), get(y, s), get(y, w));
    let sq = ys.iter().sum::<f64>() / m;
    let wq = yw.iter().sum::<f64>() / m;
    let neg_pw: Vec<f64> = pw.iter().map(|p| -p).collect();
    let gain: Vec<f64> = ps.iter().zip(&pw).map(|(a, b)| a - b).collect();
    let oracle: Vec<f64> = ys.iter().zip(&yw).map(|(a, b)| a - b).collect();
    let constant = vec![0.0; rows.len()];
    // Operating point of the stored thresholds for this pair, tolerance 0.
    let thresholds = [meta.thresholds[s], meta.thresholds[w]];
    let (mut strong_calls, mut quality) = (0.0, 0.0);
    for i in 0..rows.len() {
        let c = metrics::decide(&[ps[i], pw[i]], &thresholds, 0.0, &[1.0, 0.0]);
        if c == 0 {
            strong_calls += 1.0;
            quality += ys[i];
        } else {
            quality += yw[i];
        }
    }
    let quality = quality / m;
    PairEval {
        strong: meta.candidates[s].clone(),
        weak: meta.candidates[w].clone(),
        prompts: rows.len(),
        strong_quality: sq,
        weak_quality: wq,
        router: router_curve(&gain, &yw, &ys, wq, sq),
        threshold_rule: router_curve(&neg_pw, &yw, &ys, wq, sq),
        random: router_curve(&constant, &yw, &ys, wq, sq),
        oracle: router_curve(&oracle, &yw, &ys, wq, sq),
        operating_point: OperatingPoint {
            strong_share: strong_calls / m,
            quality,
            pgr: (sq - wq > 1e-12).then(|| (quality - wq) / (sq - wq)),
        },
        weak_preferred_share: pw.iter().zip(&ps).filter(|(a, b)| a >= b).count() as f64 / m,
    }
}

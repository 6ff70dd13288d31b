//! `train`: data files → embeddings → head → `DIR/head.onnx` (+ card, report), verified in
//! ONNX Runtime against the in-Rust forward pass.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array2, Axis};
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};
use serde::Serialize;
use sha2::{Digest, Sha256};
use switchyard_crds::head::{HEAD_FORMAT_VERSION, HeadMetadata};

use crate::cache::{Cache, EmbedStats, embed_examples};
use crate::data::{Dataset, Format, Skipped};
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::fit::{FitConfig, Split, fit};
use crate::head_file::{HEAD_FILE, LoadedHead};
use crate::metrics::{self, Calibration, PairSummary};
use crate::onnx::encode_head;

/// How the validation split is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValBy {
    /// Random prompts.
    Row,
    /// Whole data files (e.g. whole subjects), so early stopping and thresholds reward what
    /// carries over to unseen topics.
    File,
}

/// Arguments of `switchyard-router train`.
#[derive(Clone, Debug, clap::Args)]
pub struct TrainArgs {
    /// Labelled data files (all in one format).
    #[arg(long, num_args = 1.., required = true)]
    pub data: Vec<PathBuf>,
    /// Format of the data files.
    #[arg(long, value_enum)]
    pub format: Format,
    /// Embedder: `builtin` (the built-in text encoder), a model name under
    /// $SWITCHYARD_MODELS, or a model directory.
    #[arg(long, default_value = "builtin")]
    pub embedder: String,
    /// Intra-op threads of the embedder.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Output directory (head.onnx, card.md, train.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Candidate models to train, in output order (default: every model of the data).
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Share of the data held out for early stopping and threshold calibration.
    #[arg(long, default_value_t = 0.2)]
    pub val_split: f64,
    /// Draw the validation split by prompt or by whole data file.
    #[arg(long, value_enum, default_value_t = ValBy::Row)]
    pub val_by: ValBy,
    /// Seed for the split, initialisation, shuffling and dropout.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Embedding cache directory.
    #[arg(long, default_value = ".cache/embeddings")]
    pub cache: PathBuf,
    /// Do not read or write the embedding cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Hidden layer width (0: logistic regression).
    #[arg(long, default_value_t = 64)]
    pub hidden: usize,
    /// Most training epochs.
    #[arg(long, default_value_t = 200)]
    pub epochs: usize,
    /// Early-stopping patience in epochs.
    #[arg(long, default_value_t = 10)]
    pub patience: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// L2 weight decay.
    #[arg(long, default_value_t = 1e-2)]
    pub weight_decay: f32,
    /// Dropout on the hidden layer.
    #[arg(long, default_value_t = 0.5)]
    pub dropout: f32,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
}

impl TrainArgs {
    /// Arguments with defaults for `data`, `format` and `out` (library and test use).
    pub fn new(data: Vec<PathBuf>, format: Format, out: PathBuf) -> Self {
        Self {
            data,
            format,
            embedder: "builtin".to_owned(),
            threads: 2,
            out,
            models: Vec::new(),
            val_split: 0.2,
            val_by: ValBy::Row,
            seed: 42,
            cache: PathBuf::from(".cache/embeddings"),
            no_cache: false,
            hidden: 64,
            epochs: 200,
            patience: 10,
            lr: 1e-3,
            weight_decay: 1e-2,
            dropout: 0.5,
            batch_size: 64,
        }
    }

    fn fit_config(&self) -> FitConfig {
        FitConfig {
            hidden: self.hidden,
            max_epochs: self.epochs,
            patience: self.patience,
            learning_rate: self.lr,
            weight_decay: self.weight_decay,
            dropout: self.dropout,
            batch_size: self.batch_size,
            seed: self.seed,
        }
    }
}

/// Per-candidate results on the validation split.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CandidateReport {
    /// Model name (head output).
    pub model: String,
    /// Labelled training prompts.
    pub train_labels: usize,
    /// Mean training label (accuracy).
    pub train_accuracy: f64,
    /// Mean validation label.
    pub val_accuracy: f64,
    /// Calibrated threshold.
    pub threshold: f64,
    /// Validation ROC AUC.
    pub val_auc: Option<f64>,
    /// Validation calibration.
    pub val_calibration: Calibration,
}

/// What `train` did.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrainReport {
    /// The written head file.
    pub head: PathBuf,
    /// Embedder fingerprint.
    pub embedder: String,
    /// Embedding width (head input).
    pub input_dim: usize,
    /// Data files with their SHA-256.
    pub data: Vec<(PathBuf, String)>,
    /// Data format.
    pub format: Format,
    /// Prompts used.
    pub prompts: usize,
    /// Training / validation prompts.
    pub split: (usize, usize),
    /// How validation was drawn.
    pub val_by: ValBy,
    /// Validation files (when split by file).
    pub val_files: Vec<String>,
    /// Skipped rows.
    pub skipped: Skipped,
    /// Embedding pass.
    pub embedding: EmbedStats,
    /// Hyper-parameters.
    pub config: FitConfig,
    /// Epochs run and the epoch kept.
    pub epochs: (usize, usize),
    /// Final training and validation loss (kept epoch).
    pub loss: (f64, f64),
    /// Seconds spent training the head.
    pub fit_seconds: f64,
    /// Head parameters and file size in bytes.
    pub size: (usize, usize),
    /// Largest |ONNX Runtime − in-Rust| probability difference on the validation split.
    pub parity_max_abs_diff: f64,
    /// Per candidate.
    pub candidates: Vec<CandidateReport>,
    /// Strong/weak pair on the validation split (strongest and weakest by training accuracy).
    pub val_pair: Option<(String, String, PairSummary)>,
    /// Threshold rule, in words.
    pub threshold_rule: String,
    /// Total wall-clock seconds.
    pub seconds: f64,
}

/// The threshold rule, as written into heads and cards.
pub const THRESHOLD_RULE: &str = "per candidate, the probability cut that maximises the \
accuracy of predicting its correctness (good iff p >= t) on the validation split";

fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Labels and masks `[n, k]` of a data set.
pub fn label_matrices(set: &Dataset) -> (Array2<f32>, Array2<f32>) {
    let (n, k) = (set.examples.len(), set.models.len());
    let mut y = Array2::zeros((n, k));
    let mut m = Array2::zeros((n, k));
    for (i, ex) in set.examples.iter().enumerate() {
        for (j, l) in ex.labels.iter().enumerate() {
            if let Some(v) = l {
                y[[i, j]] = *v;
                m[[i, j]] = 1.0;
            }
        }
    }
    (y, m)
}

/// Stacks embeddings into `[n, dim]`.
pub fn stack(rows: &[Vec<f32>], dim: usize) -> Array2<f32> {
    let mut x = Array2::zeros((rows.len(), dim));
    for (i, r) in rows.iter().enumerate() {
        x.row_mut(i)
            .assign(&ndarray::ArrayView1::from(r.as_slice()));
    }
    x
}

/// Splits example indices into (train, validation, validation file stems).
fn split(set: &Dataset, args: &TrainArgs) -> Result<(Vec<usize>, Vec<usize>, Vec<String>)> {
    if !(0.0..1.0).contains(&args.val_split) {
        return Err(Error::Args(format!(
            "--val-split {} is not in [0, 1)",
            args.val_split
        )));
    }
    let n = set.examples.len();
    let mut rng = StdRng::seed_from_u64(args.seed ^ SPLIT_SALT);
    let target = (n as f64 * args.val_split).round() as usize;
    let mut val = vec![false; n];
    let mut val_files = Vec::new();
    match args.val_by {
        ValBy::Row => {
            let mut idx: Vec<usize> = (0..n).collect();
            idx.shuffle(&mut rng);
            for &i in idx.iter().take(target) {
                val[i] = true;
            }
        }
        ValBy::File => {
            let stems = set.file_stems();
            let mut files: Vec<usize> = (0..set.files.len()).collect();
            files.shuffle(&mut rng);
            let mut taken = 0;
            for f in files {
                if taken >= target {
                    break;
                }
                let rows = set.examples.iter().filter(|e| e.file == f).count();
                if taken + rows > target + target / 2 && taken > 0 {
                    continue;
                }
                taken += rows;
                val_files.push(stems[f].clone());
                for (i, e) in set.examples.iter().enumerate() {
                    if e.file == f {
                        val[i] = true;
                    }
                }
            }
            val_files.sort();
            if target > 0 && set.files.len() < 2 {
                return Err(Error::Args(
                    "--val-by file needs at least two data files".to_owned(),
                ));
            }
        }
    }
    let train: Vec<usize> = (0..n).filter(|&i| !val[i]).collect();
    let valid: Vec<usize> = (0..n).filter(|&i| val[i]).collect();
    if train.is_empty() {
        return Err(Error::Args(
            "the validation split leaves no training data".to_owned(),
        ));
    }
    Ok((train, valid, val_files))
}

/// A fixed salt so the split's generator differs from the trainer's for the same seed.
const SPLIT_SALT: u64 = 0x5eed_0000_5917;

/// The (strong, weak) pair of a candidate list: most and least accurate by `accuracy`.
pub fn strong_weak(accuracy: &[f64]) -> Option<(usize, usize)> {
    if accuracy.len() < 2 {
        return None;
    }
    let by = |better: bool| {
        (0..accuracy.len()).reduce(|a, b| {
            let pick_b = if better {
                accuracy[b] > accuracy[a]
            } else {
                accuracy[b] < accuracy[a]
            };
            if pick_b { b } else { a }
        })
    };
    let (s, w) = (by(true)?, by(false)?);
    (s != w).then_some((s, w))
}

/// Pair summary on rows labelled for both models, as the router's `tolerance` knob sweeps
/// (thresholds off): the weak model serves a prompt when `p_weak >= p_strong - tolerance`, so
/// prompts go to the strong model in order of predicted gain `p_strong - p_weak`.
pub fn pair_summary(
    p_strong: &[f64],
    p_weak: &[f64],
    y_strong: &[f64],
    y_weak: &[f64],
) -> Option<PairSummary> {
    let n = p_weak.len() as f64;
    if n == 0.0 || p_strong.len() != p_weak.len() {
        return None;
    }
    let score: Vec<f64> = p_strong.iter().zip(p_weak).map(|(s, w)| s - w).collect();
    let curve = metrics::strong_share_curve(&score, y_weak, y_strong);
    metrics::summarise(
        &curve,
        y_weak.iter().sum::<f64>() / n,
        y_strong.iter().sum::<f64>() / n,
    )
}

/// Trains a head on `args.data` with `embedder` and writes it to `args.out`.
pub fn train(args: &TrainArgs, embedder: &dyn Embedder) -> Result<TrainReport> {
    let start = Instant::now();
    let mut set = Dataset::load(&args.data, args.format)?;
    if !args.models.is_empty() {
        set.select_models(&args.models)?;
    }
    set.check_trainable()?;
    let fingerprint = embedder.fingerprint();
    let dim = embedder.dim();
    let mut cache = if args.no_cache {
        Cache::disabled(dim)
    } else {
        Cache::open(&args.cache, &fingerprint, dim)?
    };
    let origin = |e: &crate::data::Example| set.origin(e);
    let (rows, embedding) = embed_examples(&set.examples, embedder, &mut cache, &origin)?;
    tracing::info!(
        prompts = embedding.prompts,
        cached = embedding.cached,
        encoded = embedding.encoded,
        seconds = embedding.seconds,
        "embedded"
    );
    let x = stack(&rows, dim);
    let (y, mask) = label_matrices(&set);
    let (train_idx, val_idx, val_files) = split(&set, args)?;
    let pick = |idx: &[usize]| {
        (
            x.select(Axis(0), idx),
            y.select(Axis(0), idx),
            mask.select(Axis(0), idx),
        )
    };
    let (xt, yt, mt) = pick(&train_idx);
    let (xv, yv, mv) = pick(&val_idx);
    let cfg = args.fit_config();
    let fitted = fit(
        &Split {
            x: xt.view(),
            y: yt.view(),
            mask: mt.view(),
        },
        &Split {
            x: xv.view(),
            y: yv.view(),
            mask: mv.view(),
        },
        &cfg,
    )?;
    // Thresholds and validation metrics; without a validation split, on the training data.
    let (xc, yc, mc) = if val_idx.is_empty() {
        tracing::warn!("no validation split: thresholds are calibrated on the training data");
        (&xt, &yt, &mt)
    } else {
        (&xv, &yv, &mv)
    };
    let pc = fitted.model.predict(xc.view());
    let k = set.models.len();
    let column = |j: usize| -> (Vec<f64>, Vec<f64>) {
        (0..pc.nrows())
            .filter(|&i| mc[[i, j]] > 0.0)
            .map(|i| (f64::from(pc[[i, j]]), f64::from(yc[[i, j]])))
            .unzip()
    };
    let stats = {
        let mut s = Dataset {
            models: set.models.clone(),
            ..Dataset::default()
        };
        s.examples = train_idx.iter().map(|&i| set.examples[i].clone()).collect();
        s.label_stats()
    };
    let mut candidates = Vec::with_capacity(k);
    let mut thresholds = Vec::with_capacity(k);
    for (j, stat) in stats.iter().enumerate() {
        let (p, l) = column(j);
        let threshold = if p.is_empty() {
            0.5
        } else {
            metrics::accuracy_threshold(&p, &l)
        };
        thresholds.push(threshold);
        candidates.push(CandidateReport {
            model: set.models[j].clone(),
            train_labels: stat.0,
            train_accuracy: stat.1,
            val_accuracy: if l.is_empty() {
                0.0
            } else {
                l.iter().sum::<f64>() / l.len() as f64
            },
            threshold,
            val_auc: metrics::auc(&p, &l),
            val_calibration: metrics::calibration(&p, &l, 10),
        });
    }
    let accuracy: Vec<f64> = stats.iter().map(|s| s.1).collect();
    let val_pair = strong_weak(&accuracy).and_then(|(s, w)| {
        let both: Vec<usize> = (0..pc.nrows())
            .filter(|&i| mc[[i, s]] > 0.0 && mc[[i, w]] > 0.0)
            .collect();
        let pw: Vec<f64> = both.iter().map(|&i| f64::from(pc[[i, w]])).collect();
        let ps: Vec<f64> = both.iter().map(|&i| f64::from(pc[[i, s]])).collect();
        let ys: Vec<f64> = both.iter().map(|&i| f64::from(yc[[i, s]])).collect();
        let yw: Vec<f64> = both.iter().map(|&i| f64::from(yc[[i, w]])).collect();
        pair_summary(&ps, &pw, &ys, &yw).map(|p| (set.models[s].clone(), set.models[w].clone(), p))
    });
    let data: Vec<(PathBuf, String)> = args
        .data
        .iter()
        .map(|p| Ok((p.clone(), sha256_file(p)?)))
        .collect::<Result<_>>()?;
    let data_digest = {
        let mut h = Sha256::new();
        for (_, d) in &data {
            h.update(d.as_bytes());
        }
        hex::encode(&h.finalize()[..8])
    };
    let training = serde_json::json!({
        "producer": concat!("switchyard-learn ", env!("CARGO_PKG_VERSION")),
        "format": args.format,
        "dataFiles": data.len(),
        "dataSha256": data_digest,
        "prompts": set.examples.len(),
        "trainPrompts": train_idx.len(),
        "valPrompts": val_idx.len(),
        "valBy": args.val_by,
        "seed": args.seed,
        "config": cfg,
        "bestEpoch": fitted.best_epoch,
        "thresholdRule": THRESHOLD_RULE,
        "trainAccuracy": accuracy,
        "valAuc": candidates.iter().map(|c| c.val_auc).collect::<Vec<_>>(),
        "valPair": val_pair.as_ref().map(|(s, w, p)| serde_json::json!({"strong": s, "weak": w, "apgr": p.apgr, "cpt50": p.cpt50, "cpt80": p.cpt80})),
    });
    let meta = HeadMetadata {
        version: HEAD_FORMAT_VERSION,
        candidates: set.models.clone(),
        thresholds: thresholds.clone(),
        embedder: fingerprint.clone(),
        input_dim: dim,
        training,
    };
    let bytes = encode_head(&fitted.model, &meta)?;
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    let head_path = args.out.join(HEAD_FILE);
    std::fs::write(&head_path, &bytes).map_err(|e| Error::io(&head_path, e))?;
    // Parity: the runtime must compute what we trained.
    let mut loaded = LoadedHead::open(&head_path)?;
    if loaded.meta != meta {
        return Err(Error::Head {
            path: head_path,
            message: "metadata did not survive the round trip".to_owned(),
        });
    }
    let check = if xc.nrows() > 0 { xc.view() } else { x.view() };
    let ours = fitted.model.predict(check);
    let theirs = loaded.predict(check)?;
    let parity = ours
        .iter()
        .zip(theirs.iter())
        .map(|(a, b)| f64::from((a - b).abs()))
        .fold(0.0, f64::max);
    if parity > 1e-4 {
        return Err(Error::Head {
            path: head_path,
            message: format!("ONNX Runtime output differs from training by {parity:.2e}"),
        });
    }
    let (best_train, best_val) = fitted
        .history
        .get(fitted.best_epoch.saturating_sub(1))
        .copied()
        .unwrap_or_default();
    let report = TrainReport {
        head: head_path,
        embedder: fingerprint,
        input_dim: dim,
        data,
        format: args.format,
        prompts: set.examples.len(),
        split: (train_idx.len(), val_idx.len()),
        val_by: args.val_by,
        val_files,
        skipped: set.skipped.clone(),
        embedding,
        config: cfg,
        epochs: (fitted.epochs, fitted.best_epoch),
        loss: (best_train, best_val),
        fit_seconds: fitted.seconds,
        size: (fitted.model.parameters(), bytes.len()),
        parity_max_abs_diff: parity,
        candidates,
        val_pair,
        threshold_rule: THRESHOLD_RULE.to_owned(),
        seconds: start.elapsed().as_secs_f64(),
    };
    let json_path = args.out.join("train.json");
    let json = serde_json::to_vec_pretty(&report).map_err(|e| Error::Training(e.to_string()))?;
    std::fs::write(&json_path, json).map_err(|e| Error::io(&json_path, e))?;
    crate::card::write_training_card(&args.out, &report)?;
    Ok(report)
}

//! Training of a [`HeadModel`]: masked binary cross-entropy (one sigmoid per candidate),
//! mini-batch Adam with L2 weight decay and dropout on the hidden layer, early stopping on
//! the validation loss (the best epoch's weights are kept). Deterministic for a seed: one
//! seeded generator drives initialisation, shuffling and dropout, and all arithmetic is
//! single-threaded.

use std::time::Instant;

use ndarray::{Array1, Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::error::{Error, Result};
use crate::model::{Dense, HeadModel, sigmoid};

/// Hyper-parameters of [`fit`].
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FitConfig {
    /// Hidden layer width; 0 trains logistic regression.
    pub hidden: usize,
    /// Most passes over the training split.
    pub max_epochs: usize,
    /// Epochs without validation improvement before stopping.
    pub patience: usize,
    /// Adam learning rate.
    pub learning_rate: f32,
    /// L2 penalty on weights (not biases).
    pub weight_decay: f32,
    /// Dropout probability on the hidden layer during training.
    pub dropout: f32,
    /// Prompts per gradient step.
    pub batch_size: usize,
    /// Seed for initialisation, shuffling and dropout.
    pub seed: u64,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            hidden: 64,
            max_epochs: 200,
            patience: 10,
            learning_rate: 1e-3,
            weight_decay: 1e-2,
            dropout: 0.5,
            batch_size: 64,
            seed: 42,
        }
    }
}

/// Inputs and labels of one split. `mask` is 1 where a label exists.
pub struct Split<'a> {
    /// Embeddings `[n, dim]`.
    pub x: ArrayView2<'a, f32>,
    /// Labels `[n, candidates]` in 0..1 (0 where missing).
    pub y: ArrayView2<'a, f32>,
    /// Label presence `[n, candidates]`, 0 or 1.
    pub mask: ArrayView2<'a, f32>,
}

/// What [`fit`] returns.
#[derive(Clone, Debug)]
pub struct Fitted {
    /// The model at its best validation epoch, taking raw (unstandardised) embeddings.
    pub model: HeadModel,
    /// Epochs run.
    pub epochs: usize,
    /// 1-based epoch whose weights were kept.
    pub best_epoch: usize,
    /// Per epoch: (training loss, validation loss).
    pub history: Vec<(f64, f64)>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    fn new(n: usize) -> Self {
        Self {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    fn step(&mut self, p: &mut [f32], g: &[f32], lr: f32, t: i32) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        const EPS: f32 = 1e-8;
        let c1 = 1.0 - B1.powi(t);
        let c2 = 1.0 - B2.powi(t);
        for i in 0..p.len() {
            self.m[i] = B1 * self.m[i] + (1.0 - B1) * g[i];
            self.v[i] = B2 * self.v[i] + (1.0 - B2) * g[i] * g[i];
            p[i] -= lr * (self.m[i] / c1) / ((self.v[i] / c2).sqrt() + EPS);
        }
    }
}

/// Mean masked binary cross-entropy of `model` on a split.
pub fn loss(model: &HeadModel, split: &Split<'_>) -> f64 {
    let logits = model.logits(split.x);
    masked_bce(&logits, &split.y, &split.mask)
}

fn masked_bce(logits: &Array2<f32>, y: &ArrayView2<'_, f32>, mask: &ArrayView2<'_, f32>) -> f64 {
    let mut sum = 0f64;
    let mut n = 0f64;
    for ((z, t), m) in logits.iter().zip(y.iter()).zip(mask.iter()) {
        if *m > 0.0 {
            // log(1 + e^z) - t z, computed stably.
            let z = f64::from(*z);
            sum += z.max(0.0) + (-z.abs()).exp().ln_1p() - f64::from(*t) * z;
            n += 1.0;
        }
    }
    if n == 0.0 { 0.0 } else { sum / n }
}

/// Column means and standard deviations (floored) of `x`.
pub fn standardisation(x: ArrayView2<'_, f32>) -> (Array1<f32>, Array1<f32>) {
    let mean = x
        .mean_axis(Axis(0))
        .unwrap_or_else(|| Array1::zeros(x.ncols()));
    let std = x.var_axis(Axis(0), 0.0).mapv(|v| v.sqrt().max(1e-4));
    (mean, std)
}

fn init_layer(rng: &mut StdRng, inputs: usize, outputs: usize) -> Dense {
    let a = (6.0 / (inputs + outputs) as f32).sqrt();
    Dense {
        w: Array2::from_shape_fn((outputs, inputs), |_| rng.random_range(-a..a)),
        b: Array1::zeros(outputs),
    }
}

/// Trains a head on `train`, early-stopping on `val` (when it has rows).
pub fn fit(train: &Split<'_>, val: &Split<'_>, cfg: &FitConfig) -> Result<Fitted> {
    let start = Instant::now();
    let (n, dim) = train.x.dim();
    let k = train.y.ncols();
    if n == 0 || k == 0 {
        return Err(Error::Training("empty training split".to_owned()));
    }
    let (mean, std) = standardisation(train.x);
    let xs = (&train.x - &mean) / &std;
    let xv = (&val.x - &mean) / &std;
    let val_std = Split {
        x: xv.view(),
        y: val.y,
        mask: val.mask,
    };
    let train_std = Split {
        x: xs.view(),
        y: train.y,
        mask: train.mask,
    };
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let mut layers = Vec::new();
    if cfg.hidden > 0 {
        layers.push(init_layer(&mut rng, dim, cfg.hidden));
        layers.push(init_layer(&mut rng, cfg.hidden, k));
    } else {
        layers.push(init_layer(&mut rng, dim, k));
    }
    // Start the output biases at the base rates.
    if let Some(out) = layers.last_mut() {
        for j in 0..k {
            let (s, c) = train
                .y
                .column(j)
                .iter()
                .zip(train.mask.column(j))
                .filter(|(_, m)| **m > 0.0)
                .fold((0f32, 0f32), |(s, c), (y, _)| (s + y, c + 1.0));
            let p = ((s + 0.5) / (c + 1.0)).clamp(1e-3, 1.0 - 1e-3);
            out.b[j] = (p / (1.0 - p)).ln();
        }
    }
    let mut model = HeadModel { layers };
    let mut opt: Vec<(Adam, Adam)> = model
        .layers
        .iter()
        .map(|l| (Adam::new(l.w.len()), Adam::new(l.b.len())))
        .collect();
    let has_val = val.x.nrows() > 0;
    let mut best = (f64::INFINITY, model.clone(), 0usize);
    let mut history = Vec::new();
    let mut order: Vec<usize> = (0..n).collect();
    let mut t = 0i32;
    let bs = cfg.batch_size.max(1);
    for epoch in 1..=cfg.max_epochs.max(1) {
        order.shuffle(&mut rng);
        for chunk in order.chunks(bs) {
            t += 1;
            let xb = xs.select(Axis(0), chunk);
            let yb = train.y.select(Axis(0), chunk);
            let mb = train.mask.select(Axis(0), chunk);
            let grads = gradients(&model, &xb, &yb, &mb, cfg, &mut rng);
            for ((layer, (gw, gb)), (ow, ob)) in
                model.layers.iter_mut().zip(grads).zip(opt.iter_mut())
            {
                let (Some(w), Some(gw)) = (layer.w.as_slice_mut(), gw.as_slice()) else {
                    return Err(Error::Training("non-contiguous weights".to_owned()));
                };
                ow.step(w, gw, cfg.learning_rate, t);
                let (Some(b), Some(gb)) = (layer.b.as_slice_mut(), gb.as_slice()) else {
                    return Err(Error::Training("non-contiguous bias".to_owned()));
                };
                ob.step(b, gb, cfg.learning_rate, t);
            }
        }
        let train_loss = loss(&model, &train_std);
        let val_loss = if has_val {
            loss(&model, &val_std)
        } else {
            train_loss
        };
        if !train_loss.is_finite() || !val_loss.is_finite() {
            return Err(Error::Training(format!(
                "loss became non-finite at epoch {epoch}; lower the learning rate"
            )));
        }
        history.push((train_loss, val_loss));
        if val_loss < best.0 - 1e-6 {
            best = (val_loss, model.clone(), epoch);
        } else if has_val && epoch - best.2 >= cfg.patience {
            break;
        }
    }
    let (_, mut model, best_epoch) = best;
    model.fold_standardisation(&mean, &std);
    Ok(Fitted {
        model,
        epochs: history.len(),
        best_epoch,
        history,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Gradients of the mean masked BCE plus weight decay, per layer (weights, bias).
fn gradients(
    model: &HeadModel,
    x: &Array2<f32>,
    y: &Array2<f32>,
    mask: &Array2<f32>,
    cfg: &FitConfig,
    rng: &mut StdRng,
) -> Vec<(Array2<f32>, Array1<f32>)> {
    let count = mask.sum().max(1.0);
    // Forward, keeping each layer's input.
    let mut inputs: Vec<Array2<f32>> = Vec::with_capacity(model.layers.len());
    let mut drops: Vec<Option<Array2<f32>>> = Vec::with_capacity(model.layers.len());
    let mut h = x.clone();
    let last = model.layers.len() - 1;
    for (i, layer) in model.layers.iter().enumerate() {
        inputs.push(h.clone());
        let mut z = layer.apply(h.view());
        if i < last {
            z.mapv_inplace(|v| v.max(0.0));
            if cfg.dropout > 0.0 {
                let keep = 1.0 - cfg.dropout;
                let m = Array2::from_shape_fn(z.dim(), |_| {
                    if rng.random::<f32>() < keep {
                        1.0 / keep
                    } else {
                        0.0
                    }
                });
                z *= &m;
                drops.push(Some(m));
            } else {
                drops.push(None);
            }
        } else {
            drops.push(None);
        }
        h = z;
    }
    // Backward.
    let mut delta = (h.mapv(sigmoid) - y) * mask / count;
    let mut grads = vec![(Array2::zeros((0, 0)), Array1::zeros(0)); model.layers.len()];
    for i in (0..model.layers.len()).rev() {
        let layer = &model.layers[i];
        let gw = delta.t().dot(&inputs[i]) + &(&layer.w * (2.0 * cfg.weight_decay));
        let gb = delta.sum_axis(Axis(0));
        if i > 0 {
            let mut d = delta.dot(&layer.w);
            // ReLU derivative (the stored input is post-activation) and the dropout mask.
            d.zip_mut_with(&inputs[i], |g, a| {
                if *a <= 0.0 {
                    *g = 0.0;
                }
            });
            if let Some(m) = &drops[i - 1] {
                d *= m;
            }
            delta = d;
        }
        grads[i] = (gw, gb);
    }
    grads
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Finite-difference check of the analytic gradient (no dropout, no decay).
    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = StdRng::seed_from_u64(1);
        let model = HeadModel {
            layers: vec![init_layer(&mut rng, 3, 4), init_layer(&mut rng, 4, 2)],
        };
        let x = Array2::from_shape_fn((5, 3), |(i, j)| ((i * 3 + j) as f32 * 0.37).sin());
        let y = Array2::from_shape_fn((5, 2), |(i, j)| ((i + j) % 2) as f32);
        let mut mask = Array2::ones((5, 2));
        mask[[2, 1]] = 0.0;
        let cfg = FitConfig {
            dropout: 0.0,
            weight_decay: 0.0,
            ..FitConfig::default()
        };
        let grads = gradients(&model, &x, &y, &mask, &cfg, &mut rng);
        let split = Split {
            x: x.view(),
            y: y.view(),
            mask: mask.view(),
        };
        for (li, (gw, _)) in grads.iter().enumerate() {
            for idx in [[0usize, 0usize], [1, 2]] {
                let eps = 1e-3;
                let mut plus = model.clone();
                plus.layers[li].w[idx] += eps;
                let mut minus = model.clone();
                minus.layers[li].w[idx] -= eps;
                let numeric = (loss(&plus, &split) - loss(&minus, &split)) / (2.0 * f64::from(eps));
                let analytic = f64::from(gw[idx]);
                assert!(
                    (numeric - analytic).abs() < 1e-3,
                    "layer {li} {idx:?}: numeric {numeric} analytic {analytic}"
                );
            }
        }
    }

    /// A planted signal (the label is the sign of feature 0) is learnt by both head shapes,
    /// and the result does not depend on anything but the seed.
    #[test]
    fn recovers_a_planted_signal_deterministically() {
        let mut rng = StdRng::seed_from_u64(3);
        let n = 600;
        let x = Array2::from_shape_fn((n, 6), |_| rng.random_range(-1.0f32..1.0));
        let y = Array2::from_shape_fn((n, 2), |(i, j)| {
            if j == 0 {
                f32::from(u8::from(x[[i, 0]] > 0.0))
            } else {
                f32::from(u8::from(i % 3 != 0))
            }
        });
        let mask = Array2::ones((n, 2));
        let (tr, va) = (0..450, 450..n);
        let split = |r: std::ops::Range<usize>| Split {
            x: x.slice_axis(Axis(0), ndarray::Slice::from(r.clone())),
            y: y.slice_axis(Axis(0), ndarray::Slice::from(r.clone())),
            mask: mask.slice_axis(Axis(0), ndarray::Slice::from(r)),
        };
        for hidden in [0, 16] {
            let cfg = FitConfig {
                hidden,
                learning_rate: 1e-2,
                ..FitConfig::default()
            };
            let a = fit(&split(tr.clone()), &split(va.clone()), &cfg).unwrap();
            let b = fit(&split(tr.clone()), &split(va.clone()), &cfg).unwrap();
            assert_eq!(a.model, b.model);
            let p = a
                .model
                .predict(x.slice_axis(Axis(0), ndarray::Slice::from(va.clone())));
            let correct = p
                .column(0)
                .iter()
                .zip(
                    y.slice_axis(Axis(0), ndarray::Slice::from(va.clone()))
                        .column(0),
                )
                .filter(|(p, y)| (**p > 0.5) == (**y > 0.5))
                .count();
            assert!(
                correct as f64 / 150.0 > 0.9,
                "hidden {hidden}: {correct}/150"
            );
            // The uninformative candidate stays near its base rate (2/3).
            let mean = p.column(1).mean().unwrap();
            assert!((mean - 0.667).abs() < 0.1, "hidden {hidden}: mean {mean}");
        }
    }
}

//! The head network: an optional hidden ReLU layer and one sigmoid output per candidate.
//!
//! `probabilities = sigmoid(W2 · relu(W1 · x + b1) + b2)`, or `sigmoid(W · x + b)` without a
//! hidden layer (logistic regression). Weights are row-major `[out, in]`, as ONNX `Gemm`
//! with `transB = 1` reads them.

use ndarray::{Array1, Array2, ArrayView2, Axis};

/// A fully connected layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// Weights `[out, in]`.
    pub w: Array2<f32>,
    /// Bias `[out]`.
    pub b: Array1<f32>,
}

impl Dense {
    /// `x · wᵀ + b` for a batch `x` `[n, in]`.
    pub fn apply(&self, x: ArrayView2<'_, f32>) -> Array2<f32> {
        let mut z = x.dot(&self.w.t());
        z += &self.b;
        z
    }
}

/// A trained head: dense layers with ReLU between them and a sigmoid at the end.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadModel {
    /// The layers, input first. One layer is logistic regression.
    pub layers: Vec<Dense>,
}

impl HeadModel {
    /// Input width.
    pub fn input_dim(&self) -> usize {
        self.layers.first().map(|l| l.w.ncols()).unwrap_or(0)
    }

    /// Number of outputs (candidates).
    pub fn outputs(&self) -> usize {
        self.layers.last().map(|l| l.w.nrows()).unwrap_or(0)
    }

    /// Pre-sigmoid outputs for a batch `[n, input_dim]`.
    pub fn logits(&self, x: ArrayView2<'_, f32>) -> Array2<f32> {
        let mut h = x.to_owned();
        let last = self.layers.len().saturating_sub(1);
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.apply(h.view());
            if i < last {
                h.mapv_inplace(|v| v.max(0.0));
            }
        }
        h
    }

    /// Probabilities for a batch `[n, input_dim]`.
    pub fn predict(&self, x: ArrayView2<'_, f32>) -> Array2<f32> {
        self.logits(x).mapv(sigmoid)
    }

    /// Folds an input standardisation `(x - mean) / std` into the first layer, so the exported
    /// graph takes raw embeddings.
    pub fn fold_standardisation(&mut self, mean: &Array1<f32>, std: &Array1<f32>) {
        if let Some(first) = self.layers.first_mut() {
            for mut row in first.w.axis_iter_mut(Axis(0)) {
                row.zip_mut_with(std, |w, s| *w /= s);
            }
            let shift = first.w.dot(mean);
            first.b -= &shift;
        }
    }

    /// Number of parameters.
    pub fn parameters(&self) -> usize {
        self.layers.iter().map(|l| l.w.len() + l.b.len()).sum()
    }
}

/// Logistic function, stable for large |x|.
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn folding_standardisation_preserves_outputs() {
        let mut m = HeadModel {
            layers: vec![
                Dense {
                    w: array![[0.5, -1.0], [2.0, 0.25], [1.0, 1.0]],
                    b: array![0.1, -0.2, 0.0],
                },
                Dense {
                    w: array![[1.0, -1.0, 0.5]],
                    b: array![0.3],
                },
            ],
        };
        let mean = array![0.2f32, -0.4];
        let std = array![0.5f32, 2.0];
        let x = array![[1.0f32, 2.0], [-0.5, 0.0]];
        let xs = (&x - &mean) / &std;
        let before = m.predict(xs.view());
        m.fold_standardisation(&mean, &std);
        let after = m.predict(x.view());
        for (a, b) in before.iter().zip(after.iter()) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn sigmoid_is_stable() {
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7);
    }
}

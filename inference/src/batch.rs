//! One batch through one session: which tensors a model gets (token ids padded per batch,
//! images decoded and preprocessed, vectors), checking a session's inputs and outputs at load,
//! and turning the output into one vector per row (pooling, L2 normalisation).

use std::borrow::Cow;
use std::collections::HashMap;

use bytes::Bytes;
use ort::session::{Session, SessionInputValue};
use ort::value::{Tensor, TensorElementType, ValueType};

use crate::error::{Error, Result};
use crate::image::{ImageLimits, clip_preprocess, decode_image};
use crate::models::Pooling;

/// One request row.
#[derive(Clone, Debug)]
pub(crate) enum Item {
    /// Token ids (and token type ids, same length); the attention mask is 1 over them.
    Tokens { ids: Vec<i64>, type_ids: Vec<i64> },
    /// An encoded image, decoded (within the limits) and preprocessed on the worker.
    Image(Bytes, ImageLimits),
    /// A preprocessed image row (`3 × size × size`).
    Pixels(Vec<f32>),
    /// A feature vector.
    Vector(Vec<f32>),
}

/// How a model turns items into tensors and outputs into one vector per item.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Runner {
    /// Token inputs (`input_ids`, `attention_mask`, `token_type_ids` by name).
    Tokens {
        pooling: Pooling,
        normalize: bool,
        /// Pad every row to this length (else to the longest row of the batch).
        pad_to: Option<usize>,
        pad_id: i64,
    },
    /// One image input `[batch, 3, size, size]`.
    Pixels {
        size: u32,
        pooling: Pooling,
        normalize: bool,
    },
    /// One vector input `[batch, dim]`.
    Vector { dim: usize },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenInput {
    Ids,
    Mask,
    TypeIds,
}

/// Input and output layout, checked against the session at load.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub inputs: Vec<(String, TokenInput, bool)>,
    pub single_input: String,
    pub output: String,
    /// Output width when static.
    pub out_dim: Option<usize>,
    /// Custom ONNX metadata (`metadata_props`).
    pub metadata: HashMap<String, String>,
}

/// Work done per item on the worker before batching (image decoding).
pub(crate) fn prepare(runner: &Runner, item: Item) -> Result<Item> {
    match (runner, item) {
        (Runner::Pixels { size, .. }, Item::Image(bytes, limits)) => {
            let img = decode_image(&bytes, &limits)?;
            Ok(Item::Pixels(clip_preprocess(&img, *size)))
        }
        (_, item) => Ok(item),
    }
}

fn dims(v: &ValueType) -> Vec<i64> {
    v.tensor_shape().map(|s| s.to_vec()).unwrap_or_default()
}

/// Checks the session's inputs and outputs against what the runner feeds and reads.
pub(crate) fn inspect(session: &Session, runner: &Runner, describe: &str) -> Result<Layout> {
    let mut inputs = Vec::new();
    let single_input = session
        .inputs()
        .first()
        .map(|i| i.name().to_owned())
        .unwrap_or_default();
    match runner {
        Runner::Tokens { .. } => {
            for input in session.inputs() {
                let name = input.name();
                let kind = if name.contains("input_ids") || name == "ids" {
                    TokenInput::Ids
                } else if name.contains("attention_mask") || name == "mask" {
                    TokenInput::Mask
                } else if name.contains("token_type_ids") || name.contains("segment") {
                    TokenInput::TypeIds
                } else {
                    return Err(Error::invalid(
                        describe,
                        format!(
                            "input {name:?} is not one of input_ids, attention_mask, \
                             token_type_ids"
                        ),
                    ));
                };
                let i32_input = match input.dtype().tensor_type() {
                    Some(TensorElementType::Int64) => false,
                    Some(TensorElementType::Int32) => true,
                    other => {
                        return Err(Error::invalid(
                            describe,
                            format!("input {name:?} has type {other:?}; int64 or int32 expected"),
                        ));
                    }
                };
                inputs.push((name.to_owned(), kind, i32_input));
            }
            if !inputs.iter().any(|(_, k, _)| *k == TokenInput::Ids) {
                return Err(Error::invalid(describe, "the model has no input_ids input"));
            }
        }
        Runner::Pixels { size, .. } => {
            let [input] = session.inputs() else {
                return Err(Error::invalid(
                    describe,
                    "a vision tower takes exactly one input",
                ));
            };
            let d = dims(input.dtype());
            let want = [3, i64::from(*size), i64::from(*size)];
            if d.len() != 4 || d[1..].iter().zip(want).any(|(&g, w)| g != -1 && g != w) {
                return Err(Error::invalid(
                    describe,
                    format!("image input has shape {d:?}; [batch, 3, {size}, {size}] expected"),
                ));
            }
        }
        Runner::Vector { dim } => {
            let [input] = session.inputs() else {
                return Err(Error::invalid(describe, "a head takes exactly one input"));
            };
            let d = dims(input.dtype());
            if d.len() != 2 || (d[1] != -1 && d[1] != *dim as i64) {
                return Err(Error::mismatch(
                    describe,
                    format!("input has shape {d:?}; the embedder gives [batch, {dim}]"),
                ));
            }
        }
    }
    let Some(output) = session.outputs().first() else {
        return Err(Error::invalid(describe, "the model has no output"));
    };
    if output.dtype().tensor_type() != Some(TensorElementType::Float32) {
        return Err(Error::invalid(
            describe,
            format!("output {:?} is not float32", output.name()),
        ));
    }
    let out_dims = dims(output.dtype());
    let out_dim = out_dims
        .last()
        .and_then(|&d| usize::try_from(d).ok())
        .filter(|&d| d > 0);
    let mut metadata = HashMap::new();
    if let Ok(meta) = session.metadata() {
        for key in meta.custom_keys().unwrap_or_default() {
            if let Some(value) = meta.custom(&key) {
                metadata.insert(key, value);
            }
        }
    }
    Ok(Layout {
        inputs,
        single_input,
        output: output.name().to_owned(),
        out_dim,
        metadata,
    })
}

fn tensor_err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Runs one batch; returns one vector per row.
pub(crate) fn run_batch(
    session: &mut Session,
    runner: &Runner,
    layout: &Layout,
    rows: &[Item],
) -> std::result::Result<Vec<Vec<f32>>, String> {
    let b = rows.len();
    let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = Vec::new();
    let mut lengths = Vec::with_capacity(b);
    let (pooling, normalize) = match runner {
        Runner::Tokens {
            pooling,
            normalize,
            pad_to,
            pad_id,
        } => {
            for r in rows {
                match r {
                    Item::Tokens { ids, .. } => lengths.push(ids.len().max(1)),
                    _ => return Err("a token model got a non-token row".to_owned()),
                }
            }
            let longest = lengths.iter().copied().max().unwrap_or(1);
            let len = pad_to.map_or(longest, |p| p.max(longest));
            let mut ids = vec![*pad_id; b * len];
            let mut mask = vec![0i64; b * len];
            let mut types = vec![0i64; b * len];
            for (i, r) in rows.iter().enumerate() {
                if let Item::Tokens { ids: t, type_ids } = r {
                    ids[i * len..i * len + t.len()].copy_from_slice(t);
                    mask[i * len..i * len + t.len().max(1)].fill(1);
                    let n = type_ids.len().min(t.len());
                    types[i * len..i * len + n].copy_from_slice(&type_ids[..n]);
                }
            }
            for (name, kind, i32_input) in &layout.inputs {
                let data = match kind {
                    TokenInput::Ids => &ids,
                    TokenInput::Mask => &mask,
                    TokenInput::TypeIds => &types,
                };
                let value: SessionInputValue<'_> = if *i32_input {
                    let narrowed: Vec<i32> = data.iter().map(|&v| v as i32).collect();
                    Tensor::from_array(([b, len], narrowed))
                        .map_err(tensor_err)?
                        .into()
                } else {
                    Tensor::from_array(([b, len], data.clone()))
                        .map_err(tensor_err)?
                        .into()
                };
                inputs.push((Cow::Owned(name.clone()), value));
            }
            (*pooling, *normalize)
        }
        Runner::Pixels {
            size,
            pooling,
            normalize,
            ..
        } => {
            let s = *size as usize;
            let mut data = Vec::with_capacity(b * 3 * s * s);
            for r in rows {
                match r {
                    Item::Pixels(p) if p.len() == 3 * s * s => data.extend_from_slice(p),
                    _ => return Err("a vision model got a row of the wrong size".to_owned()),
                }
                lengths.push(1);
            }
            let value = Tensor::from_array(([b, 3, s, s], data)).map_err(tensor_err)?;
            inputs.push((Cow::Owned(layout.single_input.clone()), value.into()));
            (*pooling, *normalize)
        }
        Runner::Vector { dim } => {
            let mut data = Vec::with_capacity(b * dim);
            for r in rows {
                match r {
                    Item::Vector(v) if v.len() == *dim => data.extend_from_slice(v),
                    _ => return Err("a head got a vector of the wrong width".to_owned()),
                }
                lengths.push(1);
            }
            let value = Tensor::from_array(([b, *dim], data)).map_err(tensor_err)?;
            inputs.push((Cow::Owned(layout.single_input.clone()), value.into()));
            (Pooling::None, false)
        }
    };
    let outputs = session.run(inputs).map_err(tensor_err)?;
    let Some(value) = outputs.get(&layout.output) else {
        return Err(format!("output {:?} missing", layout.output));
    };
    let (shape, data) = value.try_extract_tensor::<f32>().map_err(tensor_err)?;
    let shape: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    let mut rows_out = Vec::with_capacity(b);
    match shape.as_slice() {
        [ob, d] if *ob == b => {
            for i in 0..b {
                rows_out.push(data[i * d..(i + 1) * d].to_vec());
            }
        }
        [ob, seq, d] if *ob == b => {
            for (i, &n) in lengths.iter().enumerate() {
                let base = i * seq * d;
                let row = match pooling {
                    Pooling::Cls => data[base..base + d].to_vec(),
                    Pooling::Mean => {
                        let n = n.min(*seq).max(1);
                        let mut acc = vec![0f32; *d];
                        for t in 0..n {
                            for (a, v) in
                                acc.iter_mut().zip(&data[base + t * d..base + (t + 1) * d])
                            {
                                *a += v;
                            }
                        }
                        acc.iter_mut().for_each(|a| *a /= n as f32);
                        acc
                    }
                    Pooling::None => {
                        return Err(format!(
                            "output has shape {shape:?}; set pooling mean or cls in model.json"
                        ));
                    }
                };
                rows_out.push(row);
            }
        }
        other => return Err(format!("unexpected output shape {other:?} for batch {b}")),
    }
    if normalize {
        for r in &mut rows_out {
            l2_normalize(r);
        }
    }
    Ok(rows_out)
}

/// Scales `v` to unit length (left as is when it is all zeros).
pub(crate) fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

//! Writing and reading head files (`head.onnx`).
//!
//! The few ONNX protobuf messages a head needs are declared here with `prost` derives, field
//! numbers from `onnx/onnx.proto` (IR version 8, opset 17). No ONNX protobuf crate that builds
//! offline without `protoc` ships prost types, and a dozen messages do not justify a build
//! script; ONNX Runtime loading the written file (see the parity tests) checks the encoding.

use std::path::Path;

use prost::Message;
use switchyard_crds::head::{HEAD_INPUT, HEAD_METADATA_KEY, HEAD_OUTPUT, HeadMetadata};

use crate::error::{Error, Result};
use crate::model::HeadModel;

/// ONNX IR version written.
pub const IR_VERSION: i64 = 8;
/// Default-domain opset written.
pub const OPSET: i64 = 17;
const FLOAT: i32 = 1;
const ATTR_INT: i32 = 2;

/// `onnx.ModelProto` (subset).
#[derive(Clone, PartialEq, Message)]
pub struct ModelProto {
    /// IR version.
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    /// Opsets used.
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    /// Producer.
    #[prost(string, tag = "2")]
    pub producer_name: String,
    /// Producer version.
    #[prost(string, tag = "3")]
    pub producer_version: String,
    /// Model version.
    #[prost(int64, tag = "5")]
    pub model_version: i64,
    /// Description.
    #[prost(string, tag = "6")]
    pub doc_string: String,
    /// The graph.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    /// Free-form key/value metadata.
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// `onnx.OperatorSetIdProto`.
#[derive(Clone, PartialEq, Message)]
pub struct OperatorSetIdProto {
    /// Domain (empty: the default ONNX domain).
    #[prost(string, tag = "1")]
    pub domain: String,
    /// Opset version.
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// `onnx.StringStringEntryProto`.
#[derive(Clone, PartialEq, Message)]
pub struct StringStringEntryProto {
    /// Key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `onnx.GraphProto` (subset).
#[derive(Clone, PartialEq, Message)]
pub struct GraphProto {
    /// Nodes in topological order.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// Graph name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Constant tensors.
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// Graph inputs.
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// Graph outputs.
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

/// `onnx.NodeProto` (subset).
#[derive(Clone, PartialEq, Message)]
pub struct NodeProto {
    /// Input names.
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// Output names.
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// Node name.
    #[prost(string, tag = "3")]
    pub name: String,
    /// Operator.
    #[prost(string, tag = "4")]
    pub op_type: String,
    /// Attributes.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
}

/// `onnx.AttributeProto` (integer attributes only).
#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Integer value.
    #[prost(int64, tag = "3")]
    pub i: i64,
    /// Attribute type (`INT` = 2).
    #[prost(int32, tag = "20")]
    pub r#type: i32,
}

/// `onnx.TensorProto` (float tensors in `raw_data`).
#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    /// Shape.
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    /// Element type (`FLOAT` = 1).
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    /// Name.
    #[prost(string, tag = "8")]
    pub name: String,
    /// Little-endian element bytes.
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
}

/// `onnx.ValueInfoProto`.
#[derive(Clone, PartialEq, Message)]
pub struct ValueInfoProto {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Type.
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
}

/// `onnx.TypeProto` (tensor types only).
#[derive(Clone, PartialEq, Message)]
pub struct TypeProto {
    /// Tensor type.
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TensorTypeProto>,
}

/// `onnx.TypeProto.Tensor`.
#[derive(Clone, PartialEq, Message)]
pub struct TensorTypeProto {
    /// Element type.
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    /// Shape.
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

/// `onnx.TensorShapeProto`.
#[derive(Clone, PartialEq, Message)]
pub struct TensorShapeProto {
    /// Dimensions.
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<Dimension>,
}

/// `onnx.TensorShapeProto.Dimension`.
#[derive(Clone, PartialEq, Message)]
pub struct Dimension {
    /// Fixed size or symbolic name.
    #[prost(oneof = "DimValue", tags = "1, 2")]
    pub value: Option<DimValue>,
}

/// Value of a [`Dimension`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum DimValue {
    /// Fixed size.
    #[prost(int64, tag = "1")]
    DimValue(i64),
    /// Symbolic size.
    #[prost(string, tag = "2")]
    DimParam(String),
}

fn tensor(name: &str, dims: &[usize], data: &[f32]) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: FLOAT,
        name: name.to_owned(),
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
    }
}

fn value_info(name: &str, width: usize) -> ValueInfoProto {
    ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: FLOAT,
                shape: Some(TensorShapeProto {
                    dim: vec![
                        Dimension {
                            value: Some(DimValue::DimParam("batch".to_owned())),
                        },
                        Dimension {
                            value: Some(DimValue::DimValue(width as i64)),
                        },
                    ],
                }),
            }),
        }),
    }
}

fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    output: &str,
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: vec![output.to_owned()],
        name: name.to_owned(),
        op_type: op.to_owned(),
        attribute: attrs,
    }
}

/// Serialises `model` with `meta` as an ONNX head (`embedding` → `probabilities`).
pub fn encode_head(model: &HeadModel, meta: &HeadMetadata) -> Result<Vec<u8>> {
    meta.validate()
        .map_err(|m| Error::Training(format!("head metadata: {m}")))?;
    if meta.input_dim != model.input_dim() || meta.candidates.len() != model.outputs() {
        return Err(Error::Training(format!(
            "head metadata says {}x{} but the model is {}x{}",
            meta.input_dim,
            meta.candidates.len(),
            model.input_dim(),
            model.outputs()
        )));
    }
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut current = HEAD_INPUT.to_owned();
    let last = model.layers.len().saturating_sub(1);
    for (i, layer) in model.layers.iter().enumerate() {
        let w = format!("layer{i}.weight");
        let b = format!("layer{i}.bias");
        let (rows, cols) = layer.w.dim();
        inits.push(tensor(
            &w,
            &[rows, cols],
            &layer.w.iter().copied().collect::<Vec<_>>(),
        ));
        inits.push(tensor(&b, &[rows], &layer.b.to_vec()));
        let out = if i < last {
            format!("layer{i}.linear")
        } else {
            "logits".to_owned()
        };
        let trans_b = AttributeProto {
            name: "transB".to_owned(),
            i: 1,
            r#type: ATTR_INT,
        };
        nodes.push(node(
            "Gemm",
            &format!("gemm{i}"),
            &[&current, &w, &b],
            &out,
            vec![trans_b],
        ));
        current = out;
        if i < last {
            let act = format!("layer{i}.relu");
            nodes.push(node("Relu", &format!("relu{i}"), &[&current], &act, vec![]));
            current = act;
        }
    }
    nodes.push(node("Sigmoid", "sigmoid", &[&current], HEAD_OUTPUT, vec![]));
    let json = serde_json::to_string(meta)
        .map_err(|e| Error::Training(format!("serialising head metadata: {e}")))?;
    let proto = ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "switchyard-learn".to_owned(),
        producer_version: env!("CARGO_PKG_VERSION").to_owned(),
        model_version: 1,
        doc_string: format!(
            "Switchyard auto-routing head: P(good answer) for {}",
            meta.candidates.join(", ")
        ),
        graph: Some(GraphProto {
            node: nodes,
            name: "switchyard_head".to_owned(),
            initializer: inits,
            input: vec![value_info(HEAD_INPUT, model.input_dim())],
            output: vec![value_info(HEAD_OUTPUT, model.outputs())],
        }),
        metadata_props: vec![StringStringEntryProto {
            key: HEAD_METADATA_KEY.to_owned(),
            value: json,
        }],
    };
    Ok(proto.encode_to_vec())
}

/// Reads the [`HeadMetadata`] of a head file without ONNX Runtime.
pub fn read_metadata(path: &Path) -> Result<HeadMetadata> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    metadata_from_bytes(&bytes).map_err(|message| Error::Head {
        path: path.to_path_buf(),
        message,
    })
}

/// Parses the [`HeadMetadata`] out of head bytes.
pub fn metadata_from_bytes(bytes: &[u8]) -> std::result::Result<HeadMetadata, String> {
    let proto = ModelProto::decode(bytes).map_err(|e| format!("not an ONNX model: {e}"))?;
    let entry = proto
        .metadata_props
        .iter()
        .find(|p| p.key == HEAD_METADATA_KEY)
        .ok_or_else(|| format!("no `{HEAD_METADATA_KEY}` metadata: not a Switchyard head"))?;
    let meta: HeadMetadata = serde_json::from_str(&entry.value)
        .map_err(|e| format!("`{HEAD_METADATA_KEY}` metadata is not valid: {e}"))?;
    meta.validate()?;
    Ok(meta)
}

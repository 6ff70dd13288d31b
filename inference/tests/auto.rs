//! Auto routing: embedders (MiniLM, CLIP stand-in), heads in the metadata format, mismatch
//! refusal, and the image path.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Cursor;

use bytes::Bytes;
use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb, Rgba};
use switchyard_crds::config::{ModelLocation, ResolvedAuto, ResolvedCandidate};
use switchyard_crds::policy::EmbedderType;
use switchyard_inference::{AutoModel, ClassifyInput, Embedder, ImageError, ImageLimits};

fn text_auto(head: ModelLocation, candidates: &[(&str, Option<f64>)]) -> ResolvedAuto {
    ResolvedAuto {
        embedder: EmbedderType::Text,
        text_model: ModelLocation::builtin("minilm-l6-v2-int8"),
        vision_model: None,
        head,
        candidates: candidates
            .iter()
            .map(|(e, t)| ResolvedCandidate {
                endpoint: (*e).into(),
                head_output: None,
                threshold: *t,
            })
            .collect(),
        tolerance: 0.5,
        vision_endpoint: None,
    }
}

fn clip_auto(head: ModelLocation) -> ResolvedAuto {
    let dir = common::tiny_clip();
    ResolvedAuto {
        embedder: EmbedderType::Clip,
        text_model: common::path_location(&dir.join("text.onnx")),
        vision_model: Some(common::path_location(&dir.join("vision.onnx"))),
        head,
        candidates: vec![
            ResolvedCandidate {
                endpoint: "vision-small".into(),
                head_output: None,
                threshold: None,
            },
            ResolvedCandidate {
                endpoint: "vision-large".into(),
                head_output: None,
                threshold: None,
            },
        ],
        tolerance: 0.5,
        vision_endpoint: None,
    }
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Bytes {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    Bytes::from(out.into_inner())
}

fn picture() -> DynamicImage {
    DynamicImage::ImageRgb8(ImageBuffer::from_fn(320, 240, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    }))
}

#[tokio::test]
async fn text_head_scores_candidates_with_thresholds() {
    let engine = common::engine().await;
    let placeholder = text_auto(ModelLocation::builtin("unused"), &[]);
    let embedder = Embedder::load(&engine, &placeholder).await.unwrap();
    assert_eq!(embedder.dim(), 384);
    let onnx = std::fs::read(common::models_dir().join("minilm-l6-v2-int8/model.onnx")).unwrap();
    assert_eq!(
        embedder.fingerprint(),
        switchyard_crds::head::embedder_fingerprint("text", &[&onnx]),
        "the fingerprint is the trainer's"
    );
    let head = common::make_head(
        "text",
        embedder.fingerprint(),
        384,
        &["cheap", "strong"],
        &[0.6, 0.3],
    );
    let auto = text_auto(
        common::path_location(&head),
        &[("strong", Some(0.9)), ("cheap", None)],
    );
    let model = AutoModel::build(&engine, &auto, &[]).await.unwrap();
    let s = model
        .score(&ClassifyInput::user("Explain quantum entanglement simply."))
        .await
        .unwrap();
    assert_eq!(s.candidates.len(), 2);
    assert_eq!(s.candidates[0].endpoint, "strong");
    assert_eq!(
        s.candidates[0].threshold, 0.9,
        "the policy's threshold wins"
    );
    assert_eq!(
        s.candidates[1].threshold, 0.6,
        "else the head's calibrated one"
    );
    for c in &s.candidates {
        assert!(c.probability > 0.0 && c.probability < 1.0, "{c:?}");
    }
    assert!(!s.image_used);
    // Deterministic for the same input, different for a different one.
    let again = model
        .score(&ClassifyInput::user("Explain quantum entanglement simply."))
        .await
        .unwrap();
    assert_eq!(s, again);
    let other = model.score(&ClassifyInput::user("hi")).await.unwrap();
    assert_ne!(s.candidates[0].probability, other.candidates[0].probability);
    let err = model.score(&ClassifyInput::user("")).await.unwrap_err();
    assert!(err.is_client_error());
}

#[tokio::test]
async fn head_outputs_map_by_head_output_endpoint_or_model_id() {
    let engine = common::engine().await;
    let embedder = Embedder::load(&engine, &text_auto(ModelLocation::builtin("unused"), &[]))
        .await
        .unwrap();
    let head = common::make_head(
        "names",
        embedder.fingerprint(),
        384,
        &["meta/llama-3.1-8b-instruct", "gpt-4o", "big"],
        &[0.1, 0.2, 0.3],
    );
    let mut auto = text_auto(
        common::path_location(&head),
        &[("llama", None), ("openai", None), ("large", None)],
    );
    auto.candidates[1].head_output = Some("gpt-4o".into());
    auto.candidates[2].head_output = Some("big".into());
    // "llama" is found through its endpoint's model id.
    let m = switchyard_crds::manifest::load(&[
        common::repo().join("manifests/examples/quickstart.yaml")
    ])
    .unwrap();
    let config =
        switchyard_crds::resolve::resolve_all(&m.policies, &m.endpoints, &Default::default())
            .config
            .unwrap();
    let mut llama = config.endpoint("llama-3.1-8b").unwrap().clone();
    llama.name = "llama".into();
    let model = AutoModel::build(&engine, &auto, &[llama]).await.unwrap();
    let s = model.score(&ClassifyInput::user("hello")).await.unwrap();
    let thresholds: Vec<f64> = s.candidates.iter().map(|c| c.threshold).collect();
    assert_eq!(thresholds, vec![0.1, 0.2, 0.3]);
    // Without the endpoint list, "llama" cannot be matched.
    let err = AutoModel::build(&engine, &auto, &[]).await.unwrap_err();
    assert_eq!(err.category(), "model_mismatch");
}

#[tokio::test]
async fn mismatched_heads_are_refused_at_load() {
    let engine = common::engine().await;
    let embedder = Embedder::load(&engine, &text_auto(ModelLocation::builtin("unused"), &[]))
        .await
        .unwrap();
    let fp = embedder.fingerprint().to_owned();
    let fp = fp.as_str();
    // Trained on another embedder.
    let other = common::make_head(
        "other-embedder",
        "text:00112233deadbeef",
        384,
        &["a", "b"],
        &[],
    );
    let err = AutoModel::build(
        &engine,
        &text_auto(common::path_location(&other), &[("a", None)]),
        &[],
    )
    .await
    .unwrap_err();
    assert_eq!(err.category(), "model_mismatch", "{err}");
    assert!(err.to_string().contains("00112233deadbeef"), "{err}");
    // Right fingerprint, wrong width.
    let narrow = common::make_head("narrow", fp, 128, &["a"], &[]);
    let err = AutoModel::build(
        &engine,
        &text_auto(common::path_location(&narrow), &[("a", None)]),
        &[],
    )
    .await
    .unwrap_err();
    assert_eq!(err.category(), "model_mismatch", "{err}");
    // A policy candidate the head does not know.
    let head = common::make_head("cands", fp, 384, &["a", "b"], &[]);
    let err = AutoModel::build(
        &engine,
        &text_auto(common::path_location(&head), &[("a", None), ("c", None)]),
        &[],
    )
    .await
    .unwrap_err();
    assert_eq!(err.category(), "model_mismatch", "{err}");
    assert!(err.to_string().contains("\"c\""), "{err}");
    // Not a head at all (no metadata).
    let tiny = common::tiny_clip();
    let err = AutoModel::build(
        &engine,
        &text_auto(
            common::path_location(&tiny.join("vision.onnx")),
            &[("a", None)],
        ),
        &[],
    )
    .await
    .unwrap_err();
    assert!(!err.is_client_error(), "{err}");
}

#[tokio::test]
async fn clip_embedder_uses_the_image_and_zeros_without_one() {
    let engine = common::engine().await;
    let placeholder = clip_auto(ModelLocation::builtin("unused"));
    let embedder = Embedder::load(&engine, &placeholder).await.unwrap();
    assert_eq!(embedder.dim(), 1024);
    let text_only = embedder
        .embed(&ClassifyInput::user("a photo of a cat"))
        .await
        .unwrap();
    assert_eq!(text_only.len(), 1024);
    assert!(
        text_only[512..].iter().all(|&x| x == 0.0),
        "no image → zero image half"
    );
    assert!(text_only[..512].iter().any(|&x| x != 0.0));
    let mut with_image = ClassifyInput::user("a photo of a cat");
    with_image.images.push(encode(&picture(), ImageFormat::Png));
    let v = embedder.embed(&with_image).await.unwrap();
    assert_eq!(
        v[..512],
        text_only[..512],
        "the text half does not depend on the image"
    );
    let norm: f32 = v[512..].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "image half is L2-normalised");
    // Every accepted format decodes to (nearly) the same picture.
    let rgba = DynamicImage::ImageRgba8(ImageBuffer::from_fn(320, 240, |x, y| {
        Rgba([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8, 255])
    }));
    for (bytes, name) in [
        (encode(&picture(), ImageFormat::Jpeg), "jpeg"),
        (encode(&picture(), ImageFormat::WebP), "webp"),
        (encode(&rgba, ImageFormat::Gif), "gif"),
    ] {
        let input = ClassifyInput {
            turns: with_image.turns.clone(),
            images: vec![bytes],
        };
        let u = embedder
            .embed(&input)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let cos: f32 = u[512..].iter().zip(&v[512..]).map(|(a, b)| a * b).sum();
        assert!(cos > 0.9, "{name}: cosine to the PNG's embedding {cos}");
    }
    // An image alone (no text) is enough.
    let image_only = ClassifyInput {
        turns: vec![],
        images: vec![encode(&picture(), ImageFormat::Png)],
    };
    assert_eq!(embedder.embed(&image_only).await.unwrap().len(), 1024);

    // Head in the format, scoring with an image.
    let head = common::make_head(
        "clip",
        embedder.fingerprint(),
        1024,
        &["vision-small", "vision-large"],
        &[0.5, 0.5],
    );
    let model = AutoModel::build(&engine, &clip_auto(common::path_location(&head)), &[])
        .await
        .unwrap();
    let s = model.score(&with_image).await.unwrap();
    assert!(s.image_used);
    assert_eq!(s.candidates.len(), 2);
}

#[tokio::test]
async fn bad_images_are_client_errors() {
    let engine = common::engine().await;
    let embedder = Embedder::load(&engine, &clip_auto(ModelLocation::builtin("unused")))
        .await
        .unwrap();
    let with = |bytes: Vec<u8>| ClassifyInput {
        turns: ClassifyInput::user("what is this").turns,
        images: vec![Bytes::from(bytes)],
    };
    let corrupt = embedder
        .embed(&with(b"\x89PNG\r\n\x1a\nnot really".to_vec()))
        .await
        .unwrap_err();
    assert!(corrupt.is_client_error(), "{corrupt}");
    let unsupported = embedder
        .embed(&with(b"hello world, not an image".to_vec()))
        .await
        .unwrap_err();
    assert_eq!(unsupported.category(), "image_unsupported");
    // Oversized bytes and too many pixels, with tight limits.
    engine.set_image_limits(ImageLimits {
        max_bytes: 2_000,
        max_pixels: 10_000,
    });
    let big = encode(&picture(), ImageFormat::Png).to_vec();
    assert!(big.len() > 2_000);
    let err = embedder.embed(&with(big)).await.unwrap_err();
    assert!(
        matches!(
            err,
            switchyard_inference::Error::Image(ImageError::TooLarge { .. })
        ),
        "{err}"
    );
    let small = DynamicImage::ImageRgb8(ImageBuffer::from_pixel(200, 200, Rgb([1, 2, 3])));
    let err = embedder
        .embed(&with(encode(&small, ImageFormat::Png).to_vec()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            switchyard_inference::Error::Image(ImageError::TooManyPixels { .. })
        ),
        "{err}"
    );
    engine.set_image_limits(ImageLimits::default());
    // The engine still serves after bad input.
    let ok = embedder
        .embed(&with(encode(&picture(), ImageFormat::Png).to_vec()))
        .await;
    assert!(ok.is_ok());
}

#[test]
fn clip_tokenizer_matches_openai_ids() {
    let dir = common::tiny_clip();
    let tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let enc = tok.encode("a photo of a cat", true).unwrap();
    // OpenAI's clip.tokenize("a photo of a cat") without padding.
    assert_eq!(enc.get_ids(), &[49406, 320, 1125, 539, 320, 2368, 49407]);
    let enc = tok.encode("Hello,   WORLD!", true).unwrap();
    assert_eq!(enc.get_ids().first(), Some(&49406));
    assert_eq!(enc.get_ids().last(), Some(&49407));
}

//! Bad input in each format: clear errors naming the file and line, or counted skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::FakeEmbedder;
use switchyard_learn::cache::{Cache, embed_examples};
use switchyard_learn::{Dataset, Format};

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn load_err(path: &Path, format: Format) -> String {
    Dataset::load(&[path.to_path_buf()], format)
        .unwrap_err()
        .to_string()
}

#[test]
fn routellm_bad_label_names_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "a.csv",
        "prompt,m1,m2\n\"q1\",True,False\n\"q\n2\",True,maybe\n",
    );
    let err = load_err(&p, Format::Routellm);
    assert!(err.contains("a.csv:3"), "{err}");
    assert!(err.contains("\"m2\"") && err.contains("maybe"), "{err}");
}

#[test]
fn routellm_without_prompt_column_or_models() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "a.csv", "question,m1\nq,True\n");
    assert!(load_err(&p, Format::Routellm).contains("no `prompt` column"));
    let p = write(d.path(), "b.csv", "prompt\nq\n");
    assert!(load_err(&p, Format::Routellm).contains("no model columns"));
    let p = write(d.path(), "c.csv", "prompt,m1,m1\nq,True,True\n");
    assert!(load_err(&p, Format::Routellm).contains("appears twice"));
}

#[test]
fn routellm_ragged_row_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "a.csv", "prompt,m1,m2\nq1,True,False\nq2,True\n");
    let err = load_err(&p, Format::Routellm);
    assert!(err.contains("a.csv:3") && err.contains("2 fields"), "{err}");
}

#[test]
fn empty_prompts_and_missing_labels_are_counted() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "a.csv",
        "prompt,m1,m2\nq1,True,False\n\"\",True,True\nq3,,\nq4,True,\nq5,False,True\n",
    );
    let set = Dataset::load(&[p], Format::Routellm).unwrap();
    assert_eq!(set.examples.len(), 3);
    assert_eq!(set.skipped.empty_prompt, 1);
    assert_eq!(set.skipped.no_labels, 1);
    assert_eq!(set.skipped.missing_labels, 1);
    assert_eq!(set.examples[1].labels, vec![Some(1.0), None]);
}

#[test]
fn single_class_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "a.csv",
        "prompt,m1,m2\nq1,True,True\nq2,False,True\n",
    );
    let set = Dataset::load(&[p], Format::Routellm).unwrap();
    let err = set.check_trainable().unwrap_err().to_string();
    assert!(
        err.contains("\"m2\"") && err.contains("single class"),
        "{err}"
    );
}

#[test]
fn nvidia_broken_base64_and_json_name_the_line() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "a.jsonl",
        "{\"prompt\":\"ok\",\"model_scores\":{\"a\":1,\"b\":0}}\n\
         {\"prompt\":\"img\",\"images\":[\"@@@not-base64\"],\"model_scores\":{\"a\":1}}\n",
    );
    let err = load_err(&p, Format::Nvidia);
    assert!(err.contains("a.jsonl:2") && err.contains("base64"), "{err}");
    let p = write(
        d.path(),
        "b.jsonl",
        "{\"prompt\":\"ok\",\"model_scores\":{\"a\":1}}\n{oops\n",
    );
    let err = load_err(&p, Format::Nvidia);
    assert!(
        err.contains("b.jsonl:2") && err.contains("invalid JSON"),
        "{err}"
    );
    let p = write(
        d.path(),
        "c.jsonl",
        "{\"prompt\":\"ok\",\"model_scores\":{\"a\":3}}\n",
    );
    let err = load_err(&p, Format::Nvidia);
    assert!(
        err.contains("c.jsonl:1") && err.contains("outside 0..1"),
        "{err}"
    );
}

#[test]
fn nvidia_reads_images_and_counts_rows_without_scores() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "a.jsonl",
        "{\"prompt\":\"look\",\"images\":[\"aGk=\",\"aGk=\"],\"model_scores\":{\"a\":1,\"b\":0}}\n\
         {\"prompt\":\"none\"}\n\
         {\"prompt\":\"\",\"model_scores\":{\"a\":1}}\n",
    );
    let set = Dataset::load(&[p], Format::Nvidia).unwrap();
    assert_eq!(set.examples.len(), 1);
    assert_eq!(set.examples[0].image.as_deref(), Some(&b"hi"[..]));
    assert_eq!(set.skipped.extra_images, 1);
    assert_eq!(set.skipped.no_labels, 1);
    assert_eq!(set.skipped.empty_prompt, 1);
}

#[test]
fn images_need_an_image_embedder() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "a.jsonl",
        "{\"prompt\":\"look\",\"images\":[\"aGk=\"],\"model_scores\":{\"a\":1,\"b\":0}}\n",
    );
    let set = Dataset::load(&[p], Format::Nvidia).unwrap();
    let mut cache = Cache::disabled(common::DIM);
    let origin = |e: &switchyard_learn::data::Example| set.origin(e);
    let err = embed_examples(&set.examples, &FakeEmbedder::new(), &mut cache, &origin)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a.jsonl:1") && err.contains("text only"),
        "{err}"
    );
}

#[test]
fn toolkit_pivots_and_reports_problems() {
    let d = tempfile::tempdir().unwrap();
    let p = write(
        d.path(),
        "t.csv",
        "question,model,isCorrect,output_tokens\nq1,a,True,10\nq1,b,False,12\nq2,a,1,3\nq1,a,False,9\n",
    );
    let set = Dataset::load(&[p], Format::Toolkit).unwrap();
    assert_eq!(set.models, ["a", "b"]);
    assert_eq!(set.examples.len(), 2);
    // q1/a seen twice (True, False) → averaged.
    assert_eq!(set.examples[0].labels, vec![Some(0.5), Some(0.0)]);
    assert_eq!(set.skipped.duplicate_labels, 1);
    assert_eq!(set.examples[1].labels, vec![Some(1.0), None]);
    let p = write(d.path(), "u.csv", "question,model,correct\nq1,a,True\n");
    assert!(load_err(&p, Format::Toolkit).contains("no `isCorrect` column"));
    let p = write(d.path(), "v.csv", "question,model,isCorrect\nq1,a,yes\n");
    let err = load_err(&p, Format::Toolkit);
    assert!(
        err.contains("v.csv:2") && err.contains("isCorrect"),
        "{err}"
    );
}

#[test]
fn selecting_an_unknown_model_is_an_error() {
    let d = tempfile::tempdir().unwrap();
    let p = write(d.path(), "a.csv", "prompt,m1,m2\nq1,True,False\n");
    let mut set = Dataset::load(&[p], Format::Routellm).unwrap();
    let err = set
        .select_models(&["m3".to_owned()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"m3\"") && err.contains("m1, m2"), "{err}");
}

#[test]
fn missing_file_names_the_path() {
    let err = load_err(Path::new("/nonexistent/x.csv"), Format::Routellm);
    assert!(err.contains("/nonexistent/x.csv"), "{err}");
}

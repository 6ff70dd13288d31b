//! The committed reference pages equal what the code generates now.

#[test]
fn committed_reference_pages_are_current() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let pages = switchyard_docgen::pages().unwrap_or_else(|e| panic!("{e}"));
    let stale: Vec<&str> = pages
        .iter()
        .filter(|(file, text)| {
            std::fs::read_to_string(root.join(file)).ok().as_deref() != Some(text.as_str())
        })
        .map(|(file, _)| *file)
        .collect();
    assert!(
        stale.is_empty(),
        "stale: {stale:?}; run `cargo run -p switchyard-docgen` and commit them"
    );
}

//! Prints what `check_paths` finds in the given files (a development aid).
fn main() {
    let paths: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
    let report = switchyard_crds::check::check_paths(&paths);
    for f in &report.findings {
        println!("{f}");
    }
    println!("{}", report.summary());
}

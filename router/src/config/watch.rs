//! Hot reload of standalone config files. The parent directory of every watched file is
//! watched too, so editors that write a temporary file and rename it over the original (and
//! `kubectl`-style symlink swaps) are seen. Bursts of events are coalesced for 50 ms, then the
//! whole source is reloaded through [`super::reload`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Source, reload};
use crate::state::AppState;

/// How long to wait for more events before reloading.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// Keeps the watch running; dropping it stops watching.
pub struct WatchHandle {
    _watcher: notify::RecommendedWatcher,
    task: JoinHandle<()>,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

/// Whether an event path concerns one of the targets (the file itself, or inside a directory).
fn relevant(event_path: &Path, targets: &[(PathBuf, bool)]) -> bool {
    targets.iter().any(|(t, is_dir)| {
        if *is_dir {
            event_path.starts_with(t)
        } else {
            event_path == t
        }
    })
}

/// Starts watching the source's files; every relevant change reloads the config.
pub fn watch(state: AppState, source: Source) -> Result<WatchHandle, notify::Error> {
    let targets: Vec<(PathBuf, bool)> = source
        .paths()
        .iter()
        .map(|p| {
            let abs = absolute(p);
            let is_dir = abs.is_dir();
            (abs, is_dir)
        })
        .collect();
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let filter = targets.clone();
    let mut watcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(ev) => {
                if ev.kind.is_access() {
                    return;
                }
                if ev.paths.iter().any(|p| relevant(p, &filter)) {
                    let _ = tx.send(());
                }
            }
            Err(e) => tracing::warn!(error = %e, "file watch error"),
        })?;
    for (path, is_dir) in &targets {
        if *is_dir {
            watcher.watch(path, RecursiveMode::Recursive)?;
        }
        if let Some(parent) = path.parent() {
            watcher.watch(parent, RecursiveMode::NonRecursive)?;
        }
    }
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            tokio::time::sleep(DEBOUNCE).await;
            while rx.try_recv().is_ok() {}
            match reload(&state, &source).await {
                Ok(()) => tracing::info!("config file change applied"),
                Err(e) => tracing::warn!(error = %e, "config file change rejected"),
            }
        }
    });
    Ok(WatchHandle {
        _watcher: watcher,
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relevance() {
        let t = vec![
            (PathBuf::from("/a/f.yaml"), false),
            (PathBuf::from("/d"), true),
        ];
        assert!(relevant(Path::new("/a/f.yaml"), &t));
        assert!(!relevant(Path::new("/a/.f.yaml.swp"), &t));
        assert!(relevant(Path::new("/d/x/y.yaml"), &t));
        assert!(!relevant(Path::new("/dd/y.yaml"), &t));
    }
}

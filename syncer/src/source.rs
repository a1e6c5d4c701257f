//! Where desired state comes from: snapshots of a policy directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nomos_cluster::Sleeper;
use nomos_core::read::wants_file;
use nomos_core::{SourceFile, SourceFormat};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, watch};

use crate::Error;

/// The files of the repository at one moment, with a content token.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Hex SHA-256 over the paths and contents (the syncer's "commit").
    pub token: String,
    pub files: Arc<Vec<SourceFile>>,
    /// Path and text of `api-resources.txt`, when the repository has one.
    pub api_resources: Option<(String, String)>,
    /// The directory could not be read: the snapshot carries no files and must not be applied.
    pub error: Option<String>,
}

impl Snapshot {
    /// A snapshot of in-memory files.
    pub fn from_files(files: Vec<SourceFile>, api_resources: Option<(String, String)>) -> Self {
        let mut h = Sha256::new();
        for f in &files {
            h.update(f.path.as_bytes());
            h.update([0]);
            h.update((f.bytes.len() as u64).to_le_bytes());
            h.update(&f.bytes);
        }
        if let Some((p, t)) = &api_resources {
            h.update(p.as_bytes());
            h.update(t.as_bytes());
        }
        let token = h
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        Snapshot {
            token,
            files: Arc::new(files),
            api_resources,
            error: None,
        }
    }

    /// A snapshot saying the source could not be read.
    pub fn failed(message: String) -> Self {
        let token = format!("error:{message}");
        Snapshot {
            token,
            files: Arc::new(Vec::new()),
            api_resources: None,
            error: Some(message),
        }
    }
}

/// Read every file Config Sync would parse under `root` (and `api-resources.txt`).
pub fn read_dir(root: &Path, format: SourceFormat) -> Result<Snapshot, Error> {
    let err = |p: &Path, e: &dyn std::fmt::Display| Error::Source {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| err(root, &e))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        if !wants_file(&rel, format) {
            continue;
        }
        let bytes = std::fs::read(entry.path()).map_err(|e| err(entry.path(), &e))?;
        files.push(SourceFile::new(rel, bytes));
    }
    let api = root.join("api-resources.txt");
    let api_resources = if api.is_file() {
        let text = std::fs::read_to_string(&api).map_err(|e| err(&api, &e))?;
        Some((api.to_string_lossy().into_owned(), text))
    } else {
        None
    };
    Ok(Snapshot::from_files(files, api_resources))
}

/// A policy directory, re-read when its files change (`notify`, debounced) and on a poll.
#[derive(Debug, Clone)]
pub struct DirSource {
    pub root: PathBuf,
    pub format: SourceFormat,
    /// Re-read at least this often, events or not.
    pub poll: Duration,
    /// Wait this long after a change event for more before reading.
    pub debounce: Duration,
}

impl DirSource {
    /// Defaults: poll every 15 s, debounce 200 ms.
    pub fn new(root: PathBuf, format: SourceFormat) -> Self {
        DirSource {
            root,
            format,
            poll: Duration::from_secs(15),
            debounce: Duration::from_millis(200),
        }
    }

    /// Start reading in a task; the receiver gets each snapshot whose token differs from the
    /// previous one. Stops when `shutdown` turns true (or its sender is dropped) or every
    /// receiver is gone.
    pub fn spawn(
        self,
        sleeper: Arc<dyn Sleeper>,
        mut shutdown: watch::Receiver<bool>,
    ) -> watch::Receiver<Option<Snapshot>> {
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<()>();
            let _watcher = start_notify(&self.root, ev_tx);
            let mut last: Option<String> = None;
            loop {
                let root = self.root.clone();
                let format = self.format;
                let snap = tokio::task::spawn_blocking(move || read_dir(&root, format))
                    .await
                    .unwrap_or_else(|e| {
                        Err(Error::Source {
                            path: self.root.display().to_string(),
                            message: e.to_string(),
                        })
                    })
                    .unwrap_or_else(|e| Snapshot::failed(e.to_string()));
                if last.as_deref() != Some(snap.token.as_str()) {
                    tracing::info!(token = %short(&snap.token), files = snap.files.len(), error = snap.error.as_deref().unwrap_or(""), "source snapshot");
                    last = Some(snap.token.clone());
                    if tx.send(Some(snap)).is_err() {
                        return;
                    }
                }
                tokio::select! {
                    _ = crate::stopped(&mut shutdown) => return,
                    _ = tx.closed() => return,
                    ev = ev_rx.recv() => {
                        if ev.is_none() {
                            // No notify: fall back to polling only.
                            sleeper.sleep(self.poll).await;
                        } else {
                            sleeper.sleep(self.debounce).await;
                            while ev_rx.try_recv().is_ok() {}
                        }
                    }
                    _ = sleeper.sleep(self.poll) => {}
                }
            }
        });
        rx
    }
}

fn start_notify(root: &Path, tx: mpsc::UnboundedSender<()>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut w = match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok() {
            let _ = tx.send(());
        }
    }) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "file notifications unavailable; polling only");
            return None;
        }
    };
    if let Err(e) = w.watch(root, notify::RecursiveMode::Recursive) {
        tracing::warn!(error = %e, "cannot watch the source directory; polling only");
        return None;
    }
    Some(w)
}

/// The first 12 characters of a token, for logs.
pub fn short(token: &str) -> &str {
    &token[..token.len().min(12)]
}

/// A Git repository read through `nomos-importer`'s fetcher: fetched every `period` (or when
/// `trigger` fires, e.g. from a webhook), and each new commit's policy directory is published as
/// a snapshot whose token is the commit. Fetch or read errors are published as failed snapshots
/// (KNV2004 in status): the syncer keeps the last good state and prunes nothing because of them.
pub struct GitSource {
    source: Box<dyn nomos_importer::Source>,
    /// Fetch at least this often.
    pub period: Duration,
}

impl GitSource {
    /// Poll `source` (a [`nomos_importer::Fetcher`] in production) every `period`.
    pub fn new(source: Box<dyn nomos_importer::Source>, period: Duration) -> Self {
        GitSource { source, period }
    }

    /// Start fetching in a task; the receiver gets a snapshot per new commit (or new error).
    pub fn spawn(
        self,
        sleeper: Arc<dyn Sleeper>,
        mut trigger: mpsc::Receiver<()>,
        mut shutdown: watch::Receiver<bool>,
    ) -> watch::Receiver<Option<Snapshot>> {
        let (tx, rx) = watch::channel(None);
        let period = self.period;
        let source = Arc::new(std::sync::Mutex::new(self.source));
        tokio::spawn(async move {
            let mut last: Option<String> = None;
            loop {
                let src = source.clone();
                let prev = last.clone();
                let fetched =
                    tokio::task::spawn_blocking(move || fetch_commit(&src, prev.as_deref()))
                        .await
                        .unwrap_or_else(|e| Err(format!("fetching panicked: {e}")));
                let snap = match fetched {
                    Ok(None) => None,
                    Ok(Some(s)) => Some(s),
                    Err(message) => Some(Snapshot::failed(message)),
                };
                if let Some(snap) = snap
                    && last.as_deref() != Some(snap.token.as_str())
                {
                    tracing::info!(commit = %short(&snap.token), files = snap.files.len(), error = snap.error.as_deref().unwrap_or(""), "git snapshot");
                    last = Some(snap.token.clone());
                    if tx.send(Some(snap)).is_err() {
                        return;
                    }
                }
                tokio::select! {
                    _ = crate::stopped(&mut shutdown) => return,
                    _ = tx.closed() => return,
                    _ = trigger.recv() => {}
                    _ = sleeper.sleep(period) => {}
                }
            }
        });
        rx
    }
}

/// Resolve the branch or revision; read the commit unless it is `last`.
fn fetch_commit(
    source: &std::sync::Mutex<Box<dyn nomos_importer::Source>>,
    last: Option<&str>,
) -> Result<Option<Snapshot>, String> {
    let mut src = source.lock().unwrap_or_else(|p| p.into_inner());
    let commit = src.resolve().map_err(|e| e.to_string())?;
    if last == Some(commit.as_str()) {
        return Ok(None);
    }
    let checkout = src.read(&commit).map_err(|e| e.to_string())?;
    let api = checkout
        .api_resources
        .map(|t| ("api-resources.txt".to_string(), t));
    let mut snap = Snapshot::from_files(checkout.files, api);
    snap.token = commit;
    Ok(Some(snap))
}

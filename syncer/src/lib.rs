//! # nomos-syncer: the continuous syncer
//!
//! Keeps one or many clusters in sync with a policy repository read from a directory:
//!
//! * a [`source::DirSource`] re-reads the directory when its files change (`notify`, debounced)
//!   and on a periodic poll, and publishes [`source::Snapshot`]s (files + a content token);
//!   or a [`remote::HttpSource`] long-polls a separate `nomos-importer` for state it already
//!   built ([`Syncer::start_remote`]);
//! * each snapshot is validated and turned into desired state **once per distinct cluster
//!   name** (shared with `Arc`); a snapshot with errors is reported and never applied: the last
//!   good desired state stays in force and nothing is pruned because of it;
//! * one independent worker task per cluster ([`worker`]) applies the desired state (live
//!   state → plan → execute, retried with backoff while the cluster is unreachable), then
//!   watches every managed kind (filtered by the ApplySet label) and corrects drift object by
//!   object, recreating deleted objects and restoring stripped metadata; a periodic resync
//!   plans the whole cluster again;
//! * fights with other controllers are detected ([`fight`], KNV2005) and backed off;
//! * per-cluster [`status::SyncStatus`] is published on a `tokio::sync::watch` channel
//!   ([`SyncerHandle::subscribe`], [`SyncerHandle::statuses`]): the API the monitor consumes.
//!
//! Time is injected ([`clock::Clock`] and [`nomos_cluster::Sleeper`]).
//!
//! ## Known gaps
//!
//! * Drift correction watches the declared kinds only; implicit Namespaces (unstructured
//!   repositories) and prune candidates of other kinds are handled by full syncs (on a source
//!   change, after a failed correction, and every [`SyncerConfig::resync_period`]).
//! * Corrections of one cluster run one at a time (a burst of drift is corrected serially).
//! * kube's watcher reconnects with its own backoff (up to ~30 s after a long outage); the
//!   syncer's own waits go through the injected sleeper.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::sync::Arc;
//! use nomos_syncer::{ClusterTarget, Syncer, SyncerConfig, source::DirSource};
//! let client = nomos_cluster::ClusterClient::from_kubeconfig(None, Some("prod")).await?;
//! let cfg = SyncerConfig::default();
//! let (shutdown_tx, shutdown) = tokio::sync::watch::channel(false);
//! let source = DirSource::new("/policy".into(), cfg.format).spawn(cfg.sleeper.clone(), shutdown.clone());
//! let handle = Syncer::new(cfg).start(vec![ClusterTarget::new("prod", "prod", client)], source, shutdown);
//! for s in handle.statuses() {
//!     println!("{}: synced={} errors={}", s.cluster, s.synced, s.errors.len());
//! }
//! shutdown_tx.send(true).ok();
//! handle.join().await;
//! # Ok(()) }
//! ```

pub mod clock;
pub mod config;
pub mod fight;
pub mod remote;
pub mod report;
pub mod source;
pub mod status;
pub mod syncer;
pub mod worker;

pub use clock::{Clock, ManualClock, SystemClock};
pub use fight::{FightConfig, FightDetector};
pub use remote::HttpSource;
pub use source::{DirSource, GitSource, Snapshot};
pub use status::{LatencyStats, StatusError, SyncStatus};
pub use syncer::{ClusterTarget, Syncer, SyncerConfig, SyncerHandle};

pub(crate) use nomos_daemon::stopped;

/// Errors of the syncer's library operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The policy directory could not be read.
    #[error("reading {path}: {message}")]
    Source { path: String, message: String },
    /// The importer URL (`--source http://…`) is unusable.
    #[error("importer URL {url:?}: {message}")]
    Importer { url: String, message: String },
    /// A cluster operation failed.
    #[error(transparent)]
    Cluster(#[from] nomos_cluster::Error),
}

//! # nomos-monitor: status objects, metrics and `nomos status`
//!
//! What Config Sync's reconciler status, otel metrics and `nomos status` do, for nomos-rs:
//!
//! * [`ClusterReport`] ([`report`]): the monitor's input, one per cluster, with no dependency on
//!   the syncer. A syncer converts its own status into reports.
//! * [`rootsync`]: the RootSync CRD (embedded, registered when missing), the `root-sync` object
//!   in `config-management-system` describing the source and carrying the ApplySet parent
//!   metadata (`applyset.kubernetes.io/id`, `…/tooling`, `…/contains-group-kinds`), and its
//!   status written through the status subresource (errors truncated), read back with
//!   [`rootsync::report_from_root_sync`]. [`Publisher`] keeps one cluster's RootSync current;
//!   [`reporter::run_reporter`] drives it (and the [`Monitor`]) from a syncer's status channel.
//! * [`metrics`]: a Prometheus registry with Config Sync's metric names and a `cluster`
//!   label ([`Monitor`], [`Metrics`]), and the HTTP endpoints `/metrics`, `/status`, `/healthz`,
//!   `/readyz` ([`metrics::serve`]).
//! * [`view`]: pure functions from RootSync objects to `nomos status`'s layout, aligned like
//!   Go's tabwriter ([`tabwriter`]); [`gather`] reads clusters for it.
//! * [`scrape`] and [`exposition`]: what the standalone `nomos-monitor` binary needs to
//!   aggregate syncers' `/status` and `/metrics`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), nomos_monitor::Error> {
//! use std::sync::Arc;
//! use nomos_monitor::{ClusterReport, Monitor, Publisher};
//! let client = nomos_cluster::ClusterClient::from_kubeconfig(None, Some("prod")).await?;
//! let monitor = Arc::new(Monitor::new());
//! let (_stop_tx, stop) = tokio::sync::watch::channel(false);
//! nomos_monitor::metrics::serve("127.0.0.1:9090".parse().unwrap(), monitor.clone(), stop).await?;
//! let mut publisher = Publisher::new(client);
//! let mut report = ClusterReport::new("prod");
//! report.source.repo = "https://git.example/policy.git".into();
//! report.source_commit = Some("0123abcd".into());
//! report.synced_commit = Some("0123abcd".into());
//! publisher.publish(&report).await?; // CRD, root-sync, status
//! monitor.update(report);             // /metrics, /status
//! # Ok(()) }
//! ```

pub mod exposition;
pub mod gather;
pub mod metrics;
pub mod report;
pub mod reporter;
pub mod rootsync;
pub mod scrape;
pub mod tabwriter;
pub mod time;
pub mod view;

pub use metrics::{Endpoints, Metrics, Monitor, StatusDocument};
pub use report::{
    ClusterReport, Counters, ErrorResource, ReportError, SourceSpec, SyncRef, SyncState,
    split_errors,
};
pub use rootsync::{
    CrdOutcome, Published, Publisher, RootSyncSpec, StatusLimits, ensure_crd, ensure_root_sync,
    report_from_root_sync, write_status,
};

/// The name of the default RootSync.
pub const ROOT_SYNC_NAME: &str = "root-sync";
/// The namespace of RootSyncs.
pub const CONFIG_MANAGEMENT_SYSTEM: &str = "config-management-system";

/// Errors of the monitor's operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A cluster operation failed.
    #[error(transparent)]
    Cluster(#[from] nomos_cluster::Error),
    /// The CRD was created but its kind is not served.
    #[error(
        "the RootSync CustomResourceDefinition exists but {gvk} is still not served after {waited:?}; check that the CRD is Established (kubectl get crd rootsyncs.configsync.gke.io -o yaml)"
    )]
    NotServed {
        gvk: String,
        waited: std::time::Duration,
    },
    /// The RootSync to write a status to does not exist.
    #[error(
        "RootSync {namespace}/{name} does not exist; create it first (rootsync::ensure_root_sync, which nomos-syncer calls)"
    )]
    RootSyncMissing { name: String, namespace: String },
    /// The kubeconfig could not be read.
    #[error("reading the kubeconfig {path}: {message}")]
    Kubeconfig { path: String, message: String },
    /// The kubeconfig names no cluster.
    #[error("no clusters found")]
    NoClusters,
    /// An HTTP request to a syncer failed.
    #[error("GET {url}: {message}")]
    Http { url: String, message: String },
    /// A socket could not be bound.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

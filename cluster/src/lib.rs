//! # nomos-cluster: the kube adapter
//!
//! Shared by the syncer, the monitor and the CLI:
//!
//! * [`ClusterClient`]: a `kube::Client` built from a kubeconfig (rustls with the `ring`
//!   provider) or wrapped as is, with the cluster and context names;
//! * [`discovery::RestMapper`]: `Gvk` → `ApiResource` + scope, cached, refreshed on demand;
//! * operations on JSON objects ([`ops`]): server-side apply, get, delete, paginated list,
//!   abandon (strip Config Sync metadata);
//! * [`retry`]: classification of kube errors and bounded retries with injectable time;
//! * [`execute()`]: carry out a [`nomos_core::plan::Plan`] wave by wave.
//!
//! ```no_run
//! # async fn demo() -> Result<(), nomos_cluster::Error> {
//! use nomos_cluster::{ClusterClient, ExecOptions, execute};
//! let client = ClusterClient::from_kubeconfig(None, Some("prod")).await?;
//! let plan = nomos_core::plan::Plan::default();
//! let report = execute(&plan, &client, &ExecOptions::default()).await;
//! assert!(report.is_success());
//! # Ok(()) }
//! ```

pub mod client;
pub mod discovery;
pub mod error;
pub mod execute;
pub mod live;
pub mod ops;
pub mod retry;

pub use client::ClusterClient;
pub use discovery::{Mapping, RestMapper};
pub use error::{Error, Result};
pub use execute::{ExecOptions, ExecReport, ItemReport, Outcome, execute};
pub use live::{LiveState, SkippedKind, live_state};
pub use ops::{Deleted, FIELD_MANAGER};
pub use retry::{
    Attempts, Classify, InstantSleeper, Retry, RetryPolicy, Sleeper, TokioSleeper, classify,
    with_retries,
};

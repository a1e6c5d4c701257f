//! Per-cluster sync status: what the monitor consumes.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use nomos_core::Diagnostic;
use nomos_core::diag::ResourceRef;
use serde::Serialize;

/// One error in a cluster's status.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct StatusError {
    /// `KNV2009`, `KNV2005`, …
    pub code: String,
    pub message: String,
    /// The object the error is about (`Kind/namespace/name`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
}

impl StatusError {
    pub fn new(code: nomos_core::Code, message: impl Into<String>, object: Option<String>) -> Self {
        StatusError {
            code: code.knv(),
            message: message.into(),
            object,
        }
    }

    /// From a core diagnostic (the object is its first resource).
    pub fn from_diagnostic(d: &Diagnostic) -> Self {
        let object = d.resources.first().map(ResourceRef::kind_and_name);
        StatusError {
            code: d.code.knv(),
            message: d.message.clone(),
            object,
        }
    }
}

/// Drift-correction latency: from the watch event that revealed drift to the correction
/// being written. Keeps the last [`LatencyStats::WINDOW`] samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LatencyStats {
    /// Corrections measured since start.
    pub count: u64,
    pub last_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    #[serde(skip)]
    samples: VecDeque<f64>,
}

impl LatencyStats {
    /// Samples kept for the percentiles.
    pub const WINDOW: usize = 512;

    pub fn record(&mut self, d: Duration) {
        let ms = d.as_secs_f64() * 1000.0;
        self.count += 1;
        self.last_ms = Some(ms);
        if self.samples.len() == Self::WINDOW {
            self.samples.pop_front();
        }
        self.samples.push_back(ms);
        let mut sorted: Vec<f64> = self.samples.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
            sorted[i.min(sorted.len() - 1)]
        };
        self.p50_ms = Some(pct(0.5));
        self.p99_ms = Some(pct(0.99));
        self.max_ms = sorted.last().copied();
    }
}

/// The status of one cluster.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncStatus {
    /// The cluster's key (its kubeconfig context, or its name).
    pub cluster: String,
    /// The cluster name used for cluster selectors.
    pub cluster_name: String,
    /// Token of the newest source snapshot seen (valid or not).
    pub source_token: Option<String>,
    /// Token of the last desired state fully applied (Config Sync's last synced commit).
    pub commit: Option<String>,
    /// The newest valid source is fully applied and no error is outstanding.
    pub synced: bool,
    /// Whether the last attempt to reach the cluster succeeded.
    pub reachable: bool,
    /// When the last full sync finished successfully.
    pub last_sync: Option<SystemTime>,
    /// Outstanding errors: source (validation), sync, remediation and fights.
    pub errors: Vec<StatusError>,
    /// Objects managed on this cluster (declared and managed).
    pub managed_objects: usize,
    /// Group-kinds of the managed objects (the ApplySet parent's `contains-group-kinds`).
    pub managed_kinds: std::collections::BTreeSet<nomos_core::GroupKind>,
    /// Server-side applies done (full syncs and drift corrections).
    pub applies: u64,
    /// Objects pruned (deleted because they left the source).
    pub prunes: u64,
    /// Retried API requests while applying and pruning (transient errors).
    pub retries: u64,
    /// Drift corrections (objects restored or recreated between full syncs).
    pub drift_corrections: u64,
    pub drift_latency: LatencyStats,
    /// Full syncs completed successfully.
    pub full_syncs: u64,
}

impl SyncStatus {
    /// Whether any error has this KNV code (`"KNV2005"`).
    pub fn has_error(&self, code: &str) -> bool {
        self.errors.iter().any(|e| e.code == code)
    }
}

//! Prometheus metrics with Config Sync's names (reference 9.1, prefix `config_sync_`), each with
//! a `cluster` label so that one process can serve many clusters, and the HTTP endpoints
//! `/metrics`, `/status`, `/healthz` and `/readyz`.
//!
//! Two sources feed the registry of a [`Monitor`]:
//!
//! * events, recorded as they happen through [`Metrics`] (`apply_operations_total`,
//!   `apply_duration_seconds`, `reconcile_duration_seconds`, `parser_duration_seconds`,
//!   `resource_fights_total`, `resource_conflicts_total`, `remediate_duration_seconds`,
//!   `last_apply_timestamp`, and the drift-correction latency `nomos_drift_correction_seconds`);
//! * the latest [`ClusterReport`] of each cluster ([`Monitor::update`]), read at scrape time
//!   (`last_sync_timestamp`, `declared_resources`, `pipeline_error_observed`,
//!   `reconciler_errors`, `nomos_cluster_synced`): last values whose `commit` label follows the
//!   report, with no stale series left behind.
//!
//! ```
//! use nomos_monitor::{ClusterReport, Monitor};
//! use nomos_monitor::metrics::{Controller, Operation, Outcome};
//! let monitor = Monitor::new();
//! monitor.metrics().apply_operation("prod", Controller::Applier, Operation::Apply, Outcome::Success);
//! monitor.update(ClusterReport::new("prod"));
//! let text = monitor.render();
//! assert!(text.contains("config_sync_apply_operations_total{cluster=\"prod\",controller=\"applier\",operation=\"apply\",status=\"success\"} 1"));
//! ```

use nomos_daemon::stopped;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::report::{ClusterReport, ReportError, SyncState};

/// `success` or `error`: the `status` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    Success,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
        }
    }

    /// `Success` for `Ok`, `Error` for `Err`.
    pub fn of<T, E>(r: &Result<T, E>) -> Self {
        if r.is_ok() {
            Outcome::Success
        } else {
            Outcome::Error
        }
    }
}

impl From<bool> for Outcome {
    /// `true` is success.
    fn from(ok: bool) -> Self {
        if ok { Outcome::Success } else { Outcome::Error }
    }
}

/// Who sent an operation: full syncs (`applier`) or drift correction (`remediator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Controller {
    Applier,
    Remediator,
}

impl Controller {
    pub fn as_str(self) -> &'static str {
        match self {
            Controller::Applier => "applier",
            Controller::Remediator => "remediator",
        }
    }
}

/// The `operation` label of `apply_operations_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Server-side apply (create or update).
    Apply,
    Create,
    Update,
    Patch,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "apply",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Patch => "patch",
            Operation::Delete => "delete",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLabels {
    cluster: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    cluster: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommitLabels {
    cluster: String,
    commit: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommitStatusLabels {
    cluster: String,
    commit: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApplyLabels {
    cluster: String,
    controller: String,
    operation: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ParserLabels {
    cluster: String,
    status: String,
    trigger: String,
    source: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PipelineLabels {
    cluster: String,
    name: String,
    reconciler: String,
    component: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcilerErrorLabels {
    cluster: String,
    component: String,
    errorclass: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new([
        0.01, 0.05, 0.1, 0.3, 0.6, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
        1800.0, 3600.0,
    ])
}

fn drift_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
    ])
}

fn commit_or_none(c: Option<&str>) -> String {
    match c {
        Some(c) if !c.is_empty() => c.to_string(),
        _ => "NONE".to_string(),
    }
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The event metrics: what a syncer records as things happen.
#[derive(Debug)]
pub struct Metrics {
    apply_operations: Family<ApplyLabels, Counter>,
    apply_duration: HistogramFamily<CommitStatusLabels>,
    reconcile_duration: HistogramFamily<StatusLabels>,
    parser_duration: HistogramFamily<ParserLabels>,
    resource_fights: Family<StatusLabels, Counter>,
    resource_conflicts: Family<CommitLabels, Counter>,
    remediate_duration: HistogramFamily<StatusLabels>,
    drift: HistogramFamily<ClusterLabels>,
    /// cluster → (commit, status, unix seconds) of the last apply.
    last_apply: Mutex<BTreeMap<String, (String, Outcome, f64)>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            apply_operations: Family::default(),
            apply_duration: Family::new_with_constructor(duration_histogram),
            reconcile_duration: Family::new_with_constructor(duration_histogram),
            parser_duration: Family::new_with_constructor(duration_histogram),
            resource_fights: Family::default(),
            resource_conflicts: Family::default(),
            remediate_duration: Family::new_with_constructor(duration_histogram),
            drift: Family::new_with_constructor(drift_histogram),
            last_apply: Mutex::new(BTreeMap::new()),
        }
    }
}

impl Metrics {
    /// One operation sent to the API server (`config_sync_apply_operations_total`).
    pub fn apply_operation(
        &self,
        cluster: &str,
        controller: Controller,
        operation: Operation,
        status: Outcome,
    ) {
        self.apply_operations_by(cluster, controller, operation, status, 1);
    }

    /// `n` operations at once.
    pub fn apply_operations_by(
        &self,
        cluster: &str,
        controller: Controller,
        operation: Operation,
        status: Outcome,
        n: u64,
    ) {
        if n == 0 {
            return;
        }
        self.apply_operations
            .get_or_create(&ApplyLabels {
                cluster: cluster.into(),
                controller: controller.as_str().into(),
                operation: operation.as_str().into(),
                status: status.as_str().into(),
            })
            .inc_by(n);
    }

    /// One apply of a whole desired state finished (`config_sync_apply_duration_seconds`,
    /// and `config_sync_last_apply_timestamp` set to `at`).
    pub fn observe_apply(
        &self,
        cluster: &str,
        commit: Option<&str>,
        status: Outcome,
        seconds: f64,
        at: SystemTime,
    ) {
        let commit = commit_or_none(commit);
        self.apply_duration
            .get_or_create(&CommitStatusLabels {
                cluster: cluster.into(),
                commit: commit.clone(),
                status: status.as_str().into(),
            })
            .observe(seconds);
        self.last_apply
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cluster.into(), (commit, status, unix_seconds(at)));
    }

    /// One reconcile pass (read the live state, plan, apply) finished
    /// (`config_sync_reconcile_duration_seconds`).
    pub fn observe_reconcile(&self, cluster: &str, status: Outcome, seconds: f64) {
        self.reconcile_duration
            .get_or_create(&StatusLabels {
                cluster: cluster.into(),
                status: status.as_str().into(),
            })
            .observe(seconds);
    }

    /// One parse/validation of the source finished (`config_sync_parser_duration_seconds`).
    /// `trigger`: `sync`, `full-sync`, `retry`, `watch`, …; `source`: `git`, `dir`, ….
    pub fn observe_parser(
        &self,
        cluster: &str,
        status: Outcome,
        trigger: &str,
        source: &str,
        seconds: f64,
    ) {
        self.parser_duration
            .get_or_create(&ParserLabels {
                cluster: cluster.into(),
                status: status.as_str().into(),
                trigger: trigger.into(),
                source: source.into(),
            })
            .observe(seconds);
    }

    /// A fight with another controller was detected (`config_sync_resource_fights_total`).
    pub fn resource_fight(&self, cluster: &str, status: Outcome) {
        self.resource_fights
            .get_or_create(&StatusLabels {
                cluster: cluster.into(),
                status: status.as_str().into(),
            })
            .inc();
    }

    /// A management conflict (KNV1060) was found (`config_sync_resource_conflicts_total`).
    pub fn resource_conflict(&self, cluster: &str, commit: Option<&str>) {
        self.resource_conflicts
            .get_or_create(&CommitLabels {
                cluster: cluster.into(),
                commit: commit_or_none(commit),
            })
            .inc();
    }

    /// One drift correction attempt finished (`config_sync_remediate_duration_seconds`).
    pub fn observe_remediate(&self, cluster: &str, status: Outcome, seconds: f64) {
        self.remediate_duration
            .get_or_create(&StatusLabels {
                cluster: cluster.into(),
                status: status.as_str().into(),
            })
            .observe(seconds);
    }

    /// Seconds from the watch event that revealed drift to the restoring write
    /// (`nomos_drift_correction_seconds`).
    pub fn observe_drift(&self, cluster: &str, seconds: f64) {
        self.drift
            .get_or_create(&ClusterLabels {
                cluster: cluster.into(),
            })
            .observe(seconds);
    }

    /// Forget a cluster's last-apply time (a cluster removed from the process).
    pub fn forget(&self, cluster: &str) {
        self.last_apply
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(cluster);
    }

    fn register(self: &Arc<Self>, r: &mut Registry) {
        r.register(
            "config_sync_apply_operations",
            "Operations sent to the API server (controller: applier or remediator)",
            self.apply_operations.clone(),
        );
        r.register(
            "config_sync_apply_duration_seconds",
            "Seconds to apply a desired state",
            self.apply_duration.clone(),
        );
        r.register(
            "config_sync_reconcile_duration_seconds",
            "Seconds of a reconcile pass (live state, plan, apply)",
            self.reconcile_duration.clone(),
        );
        r.register(
            "config_sync_parser_duration_seconds",
            "Seconds to read, parse and validate the source",
            self.parser_duration.clone(),
        );
        r.register(
            "config_sync_resource_fights",
            "Fights with another controller over a managed object (KNV2005)",
            self.resource_fights.clone(),
        );
        r.register(
            "config_sync_resource_conflicts",
            "Management conflicts with another reconciler (KNV1060)",
            self.resource_conflicts.clone(),
        );
        r.register(
            "config_sync_remediate_duration_seconds",
            "Seconds of a drift correction",
            self.remediate_duration.clone(),
        );
        r.register(
            "nomos_drift_correction_seconds",
            "Seconds from a drift event on a managed object to the restoring write",
            self.drift.clone(),
        );
    }
}

/// The latest report per cluster, shared by the collector and the endpoints.
type Reports = Arc<RwLock<BTreeMap<String, ClusterReport>>>;

/// Emits the report-derived last values at scrape time.
#[derive(Debug)]
struct ReportCollector {
    reports: Reports,
    metrics: Arc<Metrics>,
}

fn family<L: EncodeLabelSet, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: &[(L, M)],
) -> Result<(), std::fmt::Error> {
    let Some((_, first)) = rows.first() else {
        return Ok(());
    };
    let mut metric = encoder.encode_descriptor(name, help, None, first.metric_type())?;
    for (labels, m) in rows {
        m.encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

fn error_class(e: &ReportError) -> String {
    format!("{}xxx", e.code.chars().next().unwrap_or('9'))
}

impl Collector for ReportCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let reports: Vec<ClusterReport> = self
            .reports
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        let mut last_sync = Vec::new();
        let mut declared = Vec::new();
        let mut pipeline = Vec::new();
        let mut reconciler_errors = Vec::new();
        let mut synced = Vec::new();
        for r in &reports {
            let commit = commit_or_none(r.synced_commit.as_deref());
            if let Some(t) = r.last_sync {
                last_sync.push((
                    CommitStatusLabels {
                        cluster: r.cluster.clone(),
                        commit: commit.clone(),
                        status: r.outcome().into(),
                    },
                    ConstGauge::new(unix_seconds(t)),
                ));
            }
            declared.push((
                CommitLabels {
                    cluster: r.cluster.clone(),
                    commit: commit.clone(),
                },
                ConstGauge::new(r.managed_objects as i64),
            ));
            for (component, errors) in [
                ("rendering", &Vec::new()),
                ("source", &r.source_errors),
                ("sync", &r.sync_errors),
            ] {
                pipeline.push((
                    PipelineLabels {
                        cluster: r.cluster.clone(),
                        name: r.sync.name.clone(),
                        reconciler: r.sync.reconciler(),
                        component: component.into(),
                    },
                    ConstGauge::new(i64::from(!errors.is_empty())),
                ));
                let mut classes: BTreeMap<String, i64> = BTreeMap::new();
                for e in errors {
                    *classes.entry(error_class(e)).or_default() += 1;
                }
                for (class, n) in classes {
                    reconciler_errors.push((
                        ReconcilerErrorLabels {
                            cluster: r.cluster.clone(),
                            component: component.into(),
                            errorclass: class,
                        },
                        ConstGauge::new(n),
                    ));
                }
            }
            synced.push((
                ClusterLabels {
                    cluster: r.cluster.clone(),
                },
                ConstGauge::new(i64::from(r.state() == SyncState::Synced)),
            ));
        }
        family(
            &mut encoder,
            "config_sync_last_sync_timestamp",
            "Timestamp of the most recent successful sync (seconds since the epoch).",
            &last_sync,
        )?;
        let last_apply: Vec<_> = self
            .metrics
            .last_apply
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(cluster, (commit, status, t))| {
                (
                    CommitStatusLabels {
                        cluster: cluster.clone(),
                        commit: commit.clone(),
                        status: status.as_str().into(),
                    },
                    ConstGauge::new(*t),
                )
            })
            .collect();
        family(
            &mut encoder,
            "config_sync_last_apply_timestamp",
            "Timestamp of the most recent apply of a desired state (seconds since the epoch).",
            &last_apply,
        )?;
        family(
            &mut encoder,
            "config_sync_declared_resources",
            "Number of declared (managed) resources.",
            &declared,
        )?;
        family(
            &mut encoder,
            "config_sync_pipeline_error_observed",
            "1 when the component (rendering, source, sync) has errors.",
            &pipeline,
        )?;
        family(
            &mut encoder,
            "config_sync_reconciler_errors",
            "Errors outstanding per component and class (1xxx, 2xxx, …).",
            &reconciler_errors,
        )?;
        family(
            &mut encoder,
            "nomos_cluster_synced",
            "1 when the newest valid source is fully applied.",
            &synced,
        )?;
        Ok(())
    }
}

/// The `/status` document: every cluster's report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusDocument {
    pub clusters: Vec<ClusterReport>,
}

/// What the HTTP server serves.
pub trait Endpoints: Send + Sync + 'static {
    /// The `/metrics` text (OpenMetrics).
    fn metrics_text(&self) -> String;
    /// The `/status` document.
    fn status(&self) -> StatusDocument;
    /// `Ok` when ready, else why not (`/readyz`).
    fn ready(&self) -> Result<(), String>;
}

/// Event metrics, the latest report of each cluster, and the registry serving both.
#[derive(Debug)]
pub struct Monitor {
    metrics: Arc<Metrics>,
    reports: Reports,
    registry: Registry,
}

impl Default for Monitor {
    fn default() -> Self {
        Self::new()
    }
}

impl Monitor {
    pub fn new() -> Self {
        let metrics = Arc::new(Metrics::default());
        let reports: Reports = Arc::default();
        let mut registry = Registry::default();
        metrics.register(&mut registry);
        registry.register_collector(Box::new(ReportCollector {
            reports: reports.clone(),
            metrics: metrics.clone(),
        }));
        Monitor {
            metrics,
            reports,
            registry,
        }
    }

    /// The event metrics (share the `Arc` with whatever records them).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Replace the report of `report.cluster`.
    pub fn update(&self, report: ClusterReport) {
        self.reports
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(report.cluster.clone(), report);
    }

    /// Forget a cluster.
    pub fn remove(&self, cluster: &str) {
        self.reports
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(cluster);
        self.metrics.forget(cluster);
    }

    /// Every report, by cluster key.
    pub fn reports(&self) -> Vec<ClusterReport> {
        self.reports
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The report of one cluster.
    pub fn report(&self, cluster: &str) -> Option<ClusterReport> {
        self.reports
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(cluster)
            .cloned()
    }

    /// The registry (to register more metrics, or encode it yourself).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition of everything.
    pub fn render(&self) -> String {
        let mut s = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}

impl Endpoints for Monitor {
    fn metrics_text(&self) -> String {
        self.render()
    }

    fn status(&self) -> StatusDocument {
        StatusDocument {
            clusters: self.reports(),
        }
    }

    /// Ready once every known cluster has synced a commit at least once.
    fn ready(&self) -> Result<(), String> {
        let reports = self.reports();
        let waiting: Vec<&str> = reports
            .iter()
            .filter(|r| r.synced_commit.is_none())
            .map(|r| r.cluster.as_str())
            .collect();
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(format!("not synced yet: {}", waiting.join(", ")))
        }
    }
}

impl<T: Endpoints> Endpoints for Arc<T> {
    fn metrics_text(&self) -> String {
        (**self).metrics_text()
    }
    fn status(&self) -> StatusDocument {
        (**self).status()
    }
    fn ready(&self) -> Result<(), String> {
        (**self).ready()
    }
}

fn respond(endpoints: &dyn Endpoints, path: &str) -> (u16, &'static str, String) {
    match path {
        "/metrics" => (
            200,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            endpoints.metrics_text(),
        ),
        "/status" => (
            200,
            "application/json",
            serde_json::to_string_pretty(&endpoints.status()).unwrap_or_else(|_| "{}".into()),
        ),
        "/healthz" => (200, "text/plain", "ok\n".into()),
        "/readyz" => match endpoints.ready() {
            Ok(()) => (200, "text/plain", "ready\n".into()),
            Err(why) => (503, "text/plain", format!("{why}\n")),
        },
        _ => (
            404,
            "text/plain",
            "not found (try /metrics, /status, /healthz or /readyz)\n".into(),
        ),
    }
}

/// Serve `/metrics`, `/status` (JSON [`StatusDocument`]), `/healthz` (always 200) and `/readyz`
/// (200 or 503 with the reason) on `addr` until `shutdown` turns true (or its sender is gone).
/// Returns the bound address (`addr` may use port 0).
pub async fn serve<E: Endpoints>(
    addr: SocketAddr,
    endpoints: Arc<E>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    use http_body_util::Full;
    use hyper::body::Bytes;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                _ = stopped(&mut shutdown) => return,
                r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
            };
            let endpoints = endpoints.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let endpoints = endpoints.clone();
                        async move {
                            let (code, ctype, body) = respond(endpoints.as_ref(), req.uri().path());
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .status(code)
                                    .header("content-type", ctype)
                                    .body(Full::new(Bytes::from(body)))
                                    .expect("static response parts"),
                            )
                        }
                    },
                );
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, svc)
                    .await;
            });
        }
    });
    Ok(bound)
}

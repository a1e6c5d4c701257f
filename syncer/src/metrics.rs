//! Prometheus metrics with Config Sync's names (`config_sync_` prefix, plus a `cluster` label
//! since one process may serve many clusters), `/healthz` and `/readyz`.
//!
//! Totals and last values are read from each cluster's [`SyncStatus`] at scrape time; the
//! drift-correction latency histogram is fed by the workers as corrections happen.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::status::SyncStatus;

/// Labels of per-cluster metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabel {
    pub cluster: String,
}

/// Metrics the workers update as things happen.
#[derive(Debug)]
pub struct Metrics {
    /// Seconds from a drift event to the restoring write.
    pub drift: Family<ClusterLabel, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            drift: Family::new_with_constructor(|| {
                Histogram::new([
                    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
                ])
            }),
        }
    }
}

impl Metrics {
    pub fn observe_drift(&self, cluster: &str, seconds: f64) {
        self.drift
            .get_or_create(&ClusterLabel {
                cluster: cluster.to_string(),
            })
            .observe(seconds);
    }
}

/// Reads every cluster's status on each scrape.
#[derive(Debug)]
struct StatusCollector {
    statuses: BTreeMap<String, watch::Receiver<SyncStatus>>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommitLabels {
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

fn family<'a, L: EncodeLabelSet, M: EncodeMetric>(
    encoder: &mut DescriptorEncoder<'a>,
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

impl Collector for StatusCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let statuses: Vec<SyncStatus> =
            self.statuses.values().map(|r| r.borrow().clone()).collect();
        let commit = |s: &SyncStatus| s.commit.clone().unwrap_or_else(|| "NONE".to_string());
        let outcome = |s: &SyncStatus| {
            if s.errors.is_empty() {
                "success"
            } else {
                "error"
            }
            .to_string()
        };
        let last_sync: Vec<_> = statuses
            .iter()
            .map(|s| {
                let t = s
                    .last_sync
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0);
                (
                    CommitLabels {
                        cluster: s.cluster.clone(),
                        commit: commit(s),
                        status: outcome(s),
                    },
                    ConstGauge::new(t),
                )
            })
            .collect();
        family(
            &mut encoder,
            "config_sync_last_sync_timestamp",
            "Timestamp of the most recent successful sync (seconds since the epoch)",
            &last_sync,
        )?;
        let declared: Vec<_> = statuses
            .iter()
            .map(|s| {
                (
                    CommitLabels {
                        cluster: s.cluster.clone(),
                        commit: commit(s),
                        status: outcome(s),
                    },
                    ConstGauge::new(s.managed_objects as i64),
                )
            })
            .collect();
        family(
            &mut encoder,
            "config_sync_declared_resources",
            "Number of declared (managed) resources",
            &declared,
        )?;
        let mut applies = Vec::new();
        for s in &statuses {
            for (operation, n) in [
                ("apply", s.applies.saturating_sub(s.drift_corrections)),
                ("delete", s.prunes),
            ] {
                applies.push((
                    ApplyLabels {
                        cluster: s.cluster.clone(),
                        controller: "applier".into(),
                        operation: operation.into(),
                        status: "success".into(),
                    },
                    ConstCounter::new(n),
                ));
            }
            applies.push((
                ApplyLabels {
                    cluster: s.cluster.clone(),
                    controller: "remediator".into(),
                    operation: "update".into(),
                    status: "success".into(),
                },
                ConstCounter::new(s.drift_corrections),
            ));
        }
        family(
            &mut encoder,
            "config_sync_apply_operations",
            "Operations sent to the API server",
            &applies,
        )?;
        let errors: Vec<_> = statuses
            .iter()
            .map(|s| {
                (
                    ClusterLabel {
                        cluster: s.cluster.clone(),
                    },
                    ConstGauge::new(i64::from(!s.errors.is_empty())),
                )
            })
            .collect();
        family(
            &mut encoder,
            "config_sync_pipeline_error_observed",
            "1 when the cluster has outstanding errors",
            &errors,
        )?;
        let fights: Vec<_> = statuses
            .iter()
            .map(|s| {
                (
                    ClusterLabel {
                        cluster: s.cluster.clone(),
                    },
                    ConstGauge::new(s.errors.iter().filter(|e| e.code == "KNV2005").count() as i64),
                )
            })
            .collect();
        family(
            &mut encoder,
            "config_sync_resource_fights",
            "Objects currently fought over with another controller (KNV2005)",
            &fights,
        )?;
        let synced: Vec<_> = statuses
            .iter()
            .map(|s| {
                (
                    ClusterLabel {
                        cluster: s.cluster.clone(),
                    },
                    ConstGauge::new(i64::from(s.synced)),
                )
            })
            .collect();
        family(
            &mut encoder,
            "nomos_cluster_synced",
            "1 when the newest valid source is fully applied",
            &synced,
        )?;
        Ok(())
    }
}

/// A registry with the status collector and the event metrics.
pub fn registry(
    statuses: BTreeMap<String, watch::Receiver<SyncStatus>>,
    metrics: &Arc<Metrics>,
) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(StatusCollector { statuses }));
    r.register(
        "nomos_drift_correction_seconds",
        "Seconds from a drift event on a managed object to the restoring write",
        metrics.drift.clone(),
    );
    r
}

/// The Prometheus text exposition of `registry`.
pub fn render(registry: &Registry) -> String {
    let mut s = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut s, registry);
    s
}

/// Serve `/metrics`, `/healthz` (always 200) and `/readyz` (200 once every cluster has synced
/// at least once, else 503) on `addr` until `shutdown`. Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    registry: Arc<Registry>,
    statuses: BTreeMap<String, watch::Receiver<SyncStatus>>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    use http_body_util::Full;
    use hyper::body::Bytes;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let statuses = Arc::new(statuses);
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                _ = crate::stopped(&mut shutdown) => return,
                r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
            };
            let registry = registry.clone();
            let statuses = statuses.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let registry = registry.clone();
                        let statuses = statuses.clone();
                        async move {
                            let (code, ctype, body) = match req.uri().path() {
                                "/metrics" => (
                                    200,
                                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                    render(&registry),
                                ),
                                "/healthz" => (200, "text/plain", "ok\n".to_string()),
                                "/readyz" => {
                                    let ready =
                                        statuses.values().all(|r| r.borrow().commit.is_some());
                                    if ready {
                                        (200, "text/plain", "ready\n".to_string())
                                    } else {
                                        (503, "text/plain", "not synced yet\n".to_string())
                                    }
                                }
                                _ => (404, "text/plain", "not found\n".to_string()),
                            };
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

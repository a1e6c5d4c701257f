//! Metrics (names, labels, values, parsed from the exposition) and the HTTP endpoints.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nomos_monitor::exposition::{Sample, families, samples};
use nomos_monitor::metrics::{Controller, Operation, Outcome, serve};
use nomos_monitor::report::parse_group_kinds;
use nomos_monitor::{ClusterReport, Monitor, ReportError, StatusDocument, scrape};

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn find<'a>(all: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    all.iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == *v))
        .collect()
}

fn value(all: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = find(all, name, labels);
    assert_eq!(
        found.len(),
        1,
        "exactly one {name} with {labels:?}; found {found:?}"
    );
    found[0].value
}

fn synced_report(cluster: &str, commit: &str) -> ClusterReport {
    let mut r = ClusterReport::new(cluster);
    r.source_commit = Some(commit.into());
    r.synced_commit = Some(commit.into());
    r.last_sync = Some(at(1_705_314_600));
    r.managed_objects = 42;
    r.managed_group_kinds = parse_group_kinds("ConfigMap,Namespace");
    r
}

#[test]
fn recorded_metrics_carry_config_sync_names_and_labels() {
    let monitor = Monitor::new();
    let m = monitor.metrics();
    m.apply_operations_by(
        "eks-prod",
        Controller::Applier,
        Operation::Apply,
        Outcome::Success,
        3,
    );
    m.apply_operation(
        "eks-prod",
        Controller::Remediator,
        Operation::Update,
        Outcome::Error,
    );
    m.apply_operation(
        "aks",
        Controller::Applier,
        Operation::Delete,
        Outcome::Success,
    );
    m.observe_apply(
        "eks-prod",
        Some("abc123"),
        Outcome::Success,
        2.5,
        at(1_705_314_599),
    );
    m.observe_reconcile("eks-prod", Outcome::Success, 3.0);
    m.observe_parser("eks-prod", Outcome::Error, "sync", "git", 0.2);
    m.resource_fight("eks-prod", Outcome::Success);
    m.resource_conflict("eks-prod", None);
    m.observe_remediate("eks-prod", Outcome::Success, 0.004);
    m.observe_drift("eks-prod", 0.004);
    let mut bad = synced_report("aks", "def456");
    bad.source_errors.push(ReportError::new("KNV1009", "bad"));
    monitor.update(synced_report("eks-prod", "abc123"));
    monitor.update(bad);

    let text = monitor.render();
    let all = samples(&text);
    // Every series names its cluster.
    for s in &all {
        assert!(!s.label("cluster").is_empty(), "{s:?} has no cluster label");
    }
    let eks = ("cluster", "eks-prod");
    assert_eq!(
        value(
            &all,
            "config_sync_apply_operations_total",
            &[
                eks,
                ("controller", "applier"),
                ("operation", "apply"),
                ("status", "success")
            ]
        ),
        3.0
    );
    assert_eq!(
        value(
            &all,
            "config_sync_apply_operations_total",
            &[
                eks,
                ("controller", "remediator"),
                ("operation", "update"),
                ("status", "error")
            ]
        ),
        1.0
    );
    assert_eq!(
        value(
            &all,
            "config_sync_apply_operations_total",
            &[("cluster", "aks"), ("operation", "delete")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &all,
            "config_sync_apply_duration_seconds_count",
            &[eks, ("commit", "abc123"), ("status", "success")]
        ),
        1.0
    );
    assert_eq!(
        value(&all, "config_sync_apply_duration_seconds_sum", &[eks]),
        2.5
    );
    assert_eq!(
        value(
            &all,
            "config_sync_last_apply_timestamp",
            &[eks, ("commit", "abc123"), ("status", "success")]
        ),
        1_705_314_599.0
    );
    assert_eq!(
        value(
            &all,
            "config_sync_reconcile_duration_seconds_count",
            &[eks, ("status", "success")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &all,
            "config_sync_parser_duration_seconds_count",
            &[
                eks,
                ("status", "error"),
                ("trigger", "sync"),
                ("source", "git")
            ]
        ),
        1.0
    );
    assert_eq!(
        value(
            &all,
            "config_sync_resource_fights_total",
            &[eks, ("status", "success")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &all,
            "config_sync_resource_conflicts_total",
            &[eks, ("commit", "NONE")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &all,
            "config_sync_remediate_duration_seconds_count",
            &[eks, ("status", "success")]
        ),
        1.0
    );
    // The drift histogram's buckets: 0.004 s is above 0.002 and within 0.005.
    assert_eq!(
        value(
            &all,
            "nomos_drift_correction_seconds_bucket",
            &[eks, ("le", "0.002")]
        ),
        0.0
    );
    assert_eq!(
        value(
            &all,
            "nomos_drift_correction_seconds_bucket",
            &[eks, ("le", "0.005")]
        ),
        1.0
    );
    // Report-derived last values.
    assert_eq!(
        value(
            &all,
            "config_sync_last_sync_timestamp",
            &[eks, ("commit", "abc123"), ("status", "success")]
        ),
        1_705_314_600.0
    );
    assert_eq!(
        value(
            &all,
            "config_sync_last_sync_timestamp",
            &[
                ("cluster", "aks"),
                ("commit", "def456"),
                ("status", "error")
            ]
        ),
        1_705_314_600.0
    );
    assert_eq!(
        value(
            &all,
            "config_sync_declared_resources",
            &[eks, ("commit", "abc123")]
        ),
        42.0
    );
    let pipeline = |cluster: &str, component: &str| {
        value(
            &all,
            "config_sync_pipeline_error_observed",
            &[
                ("cluster", cluster),
                ("name", "root-sync"),
                ("reconciler", "root-reconciler"),
                ("component", component),
            ],
        )
    };
    assert_eq!(pipeline("aks", "source"), 1.0);
    assert_eq!(pipeline("aks", "sync"), 0.0);
    assert_eq!(pipeline("eks-prod", "source"), 0.0);
    assert_eq!(
        value(
            &all,
            "config_sync_reconciler_errors",
            &[
                ("cluster", "aks"),
                ("component", "source"),
                ("errorclass", "1xxx")
            ]
        ),
        1.0
    );
    assert_eq!(value(&all, "nomos_cluster_synced", &[eks]), 1.0);
    assert_eq!(
        value(&all, "nomos_cluster_synced", &[("cluster", "aks")]),
        0.0
    );

    // Metric types as Prometheus sees them.
    let kinds: Vec<(String, String)> = families(&text)
        .into_iter()
        .map(|f| (f.name, f.kind))
        .collect();
    for (name, kind) in [
        ("config_sync_apply_operations", "counter"),
        ("config_sync_resource_fights", "counter"),
        ("config_sync_resource_conflicts", "counter"),
        ("config_sync_apply_duration_seconds", "histogram"),
        ("config_sync_reconcile_duration_seconds", "histogram"),
        ("config_sync_parser_duration_seconds", "histogram"),
        ("config_sync_remediate_duration_seconds", "histogram"),
        ("nomos_drift_correction_seconds", "histogram"),
        ("config_sync_last_sync_timestamp", "gauge"),
        ("config_sync_declared_resources", "gauge"),
        ("config_sync_pipeline_error_observed", "gauge"),
    ] {
        assert!(
            kinds.contains(&(name.to_string(), kind.to_string())),
            "{name} {kind} in {kinds:?}"
        );
    }
    assert!(text.ends_with("# EOF\n"));
}

#[test]
fn last_values_follow_the_report_without_stale_series() {
    let monitor = Monitor::new();
    monitor.update(synced_report("c", "old"));
    monitor.update(synced_report("c", "new"));
    let all = samples(&monitor.render());
    assert!(find(&all, "config_sync_declared_resources", &[("commit", "old")]).is_empty());
    assert_eq!(
        value(&all, "config_sync_declared_resources", &[("commit", "new")]),
        42.0
    );
    monitor.remove("c");
    let all = samples(&monitor.render());
    assert!(find(&all, "config_sync_declared_resources", &[]).is_empty());
}

#[tokio::test]
async fn endpoints_serve_metrics_status_health_and_readiness() {
    let monitor = Arc::new(Monitor::new());
    let mut pending = synced_report("eks-prod", "abc");
    pending.synced_commit = None;
    monitor.update(pending);
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let addr = serve("127.0.0.1:0".parse().unwrap(), monitor.clone(), stop)
        .await
        .unwrap();
    let base = format!("http://{addr}");
    let t = Duration::from_secs(5);
    assert_eq!(scrape::get(&base, "/healthz", t).await.unwrap(), "ok\n");
    let not_ready = scrape::get(&base, "/readyz", t).await.unwrap_err();
    assert!(
        not_ready.to_string().contains("503") && not_ready.to_string().contains("eks-prod"),
        "{not_ready}"
    );
    monitor.update(synced_report("eks-prod", "abc"));
    assert_eq!(scrape::get(&base, "/readyz", t).await.unwrap(), "ready\n");
    let doc: StatusDocument = scrape::status(&base, t).await.unwrap();
    assert_eq!(doc.clusters, vec![synced_report("eks-prod", "abc")]);
    let text = scrape::metrics(&base, t).await.unwrap();
    assert_eq!(
        value(
            &samples(&text),
            "config_sync_declared_resources",
            &[("cluster", "eks-prod"), ("commit", "abc")]
        ),
        42.0
    );
    let missing = scrape::get(&base, "/nope", t).await.unwrap_err();
    assert!(missing.to_string().contains("404"), "{missing}");
    stop_tx.send(true).unwrap();
}

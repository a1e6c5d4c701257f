//! The per-cluster reporter task: status channel → monitor and RootSync, retried on failure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nomos_cluster::{ClusterClient, TokioSleeper};
use nomos_monitor::reporter::{ReporterOptions, run_reporter};
use nomos_monitor::{ClusterReport, Monitor, Publisher};
use nomos_testcluster::Cluster;
use serde_json::Value;

fn root_sync(c: &Cluster) -> Option<Value> {
    c.get(
        "configsync.gke.io/v1beta1",
        "RootSync",
        Some("config-management-system"),
        "root-sync",
    )
}

async fn until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn synced_commit(c: &Cluster) -> Option<String> {
    root_sync(c)?["status"]["lastSyncedCommit"]
        .as_str()
        .map(String::from)
}

/// What a syncer publishes (stands in for its own status type).
#[derive(Debug, Clone, PartialEq)]
struct SyncerStatus {
    commit: String,
    objects: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_flow_to_the_monitor_and_the_root_sync_and_failures_are_retried() {
    let cluster = Cluster::new();
    let client = ClusterClient::from_client(kube::Client::new(cluster.service(), "default"));
    let monitor = Arc::new(Monitor::new());
    let (tx, rx) = tokio::sync::watch::channel(SyncerStatus {
        commit: "c1".into(),
        objects: 3,
    });
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let convert = |s: &SyncerStatus| {
        let mut r = ClusterReport::new("prod");
        r.source_commit = Some(s.commit.clone());
        r.synced_commit = Some(s.commit.clone());
        r.managed_objects = s.objects as u64;
        r
    };
    let task = tokio::spawn(run_reporter(
        rx,
        convert,
        monitor.clone(),
        Some(Publisher::new(client)),
        ReporterOptions {
            retry: Duration::from_millis(50),
            resync: Duration::from_secs(3600),
            sleeper: Arc::new(TokioSleeper),
        },
        stop,
    ));
    until("c1 on the RootSync", || {
        synced_commit(&cluster).as_deref() == Some("c1")
    })
    .await;
    assert_eq!(monitor.report("prod").unwrap().managed_objects, 3);

    tx.send(SyncerStatus {
        commit: "c2".into(),
        objects: 4,
    })
    .unwrap();
    until("c2 on the RootSync", || {
        synced_commit(&cluster).as_deref() == Some("c2")
    })
    .await;

    // The cluster goes away: the monitor still gets the report, the RootSync catches up later.
    cluster.faults().set_reachable(false);
    tx.send(SyncerStatus {
        commit: "c3".into(),
        objects: 5,
    })
    .unwrap();
    until("c3 in the monitor", || {
        monitor
            .report("prod")
            .and_then(|r| r.synced_commit)
            .as_deref()
            == Some("c3")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(synced_commit(&cluster).as_deref(), Some("c2"));
    cluster.faults().set_reachable(true);
    until("c3 on the RootSync after the retry", || {
        synced_commit(&cluster).as_deref() == Some("c3")
    })
    .await;

    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the reporter stops")
        .unwrap();
}

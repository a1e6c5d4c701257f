//! The `nomos-monitor` binary: RootSyncs read from a kubeconfig context plus a syncer's
//! endpoints, served as one `/status` and `/metrics`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use nomos_cluster::ClusterClient;
use nomos_monitor::exposition::{families, samples};
use nomos_monitor::metrics::{Controller, Operation, Outcome};
use nomos_monitor::report::parse_group_kinds;
use nomos_monitor::{ClusterReport, Monitor, Publisher, StatusDocument, SyncRef, scrape};
use nomos_testcluster::Cluster;
use serde_json::json;

fn report(cluster: &str, commit: &str) -> ClusterReport {
    let mut r = ClusterReport::new(cluster);
    r.source.repo = "https://git.example/policy.git".into();
    r.managed_group_kinds = parse_group_kinds("Namespace,ConfigMap");
    r.source_commit = Some(commit.into());
    r.synced_commit = Some(commit.into());
    r.last_sync = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_705_314_600));
    r.updated = r.last_sync;
    r
}

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_root_syncs_and_syncers() {
    // A cluster with a RootSync and two objects carrying its ApplySet label.
    let cluster = Cluster::new();
    let served = cluster.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let kc = tmp.path().join("kubeconfig");
    std::fs::write(
        &kc,
        nomos_testcluster::kubeconfig(&[("prod".into(), served.url())]),
    )
    .unwrap();
    let client = ClusterClient::from_kubeconfig(Some(&kc), Some("prod"))
        .await
        .unwrap();
    Publisher::new(client)
        .publish(&report("prod", "aaaaaaaa11111111"))
        .await
        .unwrap();
    let labels = json!({"applyset.kubernetes.io/part-of": SyncRef::default().applyset_id()});
    let actor = cluster.external("configsync.gke.io");
    actor
        .apply(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": labels}}))
        .unwrap();
    actor
        .apply(&json!({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "a", "namespace": "shop", "labels": labels}}))
        .unwrap();

    // A syncer serving its own endpoints for another cluster.
    let syncer = Arc::new(Monitor::new());
    syncer.metrics().apply_operation(
        "edge-1",
        Controller::Applier,
        Operation::Apply,
        Outcome::Success,
    );
    let mut edge = report("edge-1", "bbbbbbbb22222222");
    edge.managed_objects = 7;
    syncer.update(edge.clone());
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let syncer_addr = nomos_monitor::metrics::serve("127.0.0.1:0".parse().unwrap(), syncer, stop)
        .await
        .unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let _child = Child(
        std::process::Command::new(env!("CARGO_BIN_EXE_nomos-monitor"))
            .args([
                "--kubeconfig",
                kc.to_str().unwrap(),
                "--syncer",
                &format!("http://{syncer_addr}"),
                "--listen",
                &listen,
                "--poll",
                "200ms",
                "--timeout",
                "5s",
            ])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://{listen}");
    let t = Duration::from_secs(2);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match scrape::get(&base, "/readyz", t).await {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => panic!("never ready: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }

    let doc: StatusDocument = scrape::status(&base, t).await.unwrap();
    let prod = doc.clusters.iter().find(|c| c.cluster == "prod").unwrap();
    assert_eq!(prod.synced_commit.as_deref(), Some("aaaaaaaa11111111"));
    assert_eq!(prod.managed_objects, 2);
    assert!(prod.reachable);
    let remote = doc.clusters.iter().find(|c| c.cluster == "edge-1").unwrap();
    assert_eq!(remote, &edge);

    let text = scrape::metrics(&base, t).await.unwrap();
    let all = samples(&text);
    let one = |name: &str, cluster: &str| -> f64 {
        let v: Vec<f64> = all
            .iter()
            .filter(|s| s.name == name && s.label("cluster") == cluster)
            .map(|s| s.value)
            .collect();
        assert_eq!(v.len(), 1, "{name} {cluster} in\n{text}");
        v[0]
    };
    assert_eq!(one("config_sync_declared_resources", "prod"), 2.0);
    assert_eq!(one("config_sync_declared_resources", "edge-1"), 7.0);
    assert_eq!(one("config_sync_apply_operations_total", "edge-1"), 1.0);
    assert_eq!(one("nomos_cluster_synced", "prod"), 1.0);
    // One descriptor per family even though two registries contributed.
    let names: Vec<String> = families(&text).into_iter().map(|f| f.name).collect();
    let mut dedup = names.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(names.len(), dedup.len(), "{names:?}");
    assert_eq!(text.matches("# EOF").count(), 1);
    stop_tx.send(true).unwrap();
    served.shutdown().await;
}

//! The syncer fed by a Git repository (nomos-importer's fetcher), end to end: commits reach the
//! cluster (a signed webhook fetches at once, a forged one is refused), a bad commit changes
//! nothing, the next good commit is applied.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nomos_cluster::ClusterClient;
use nomos_core::SourceFormat;
use nomos_importer::{Bounds, Fetcher, GitSource as Repo};
use nomos_syncer::{ClusterTarget, GitSource, SyncStatus, Syncer, SyncerConfig};
use nomos_testcluster::Cluster;
use nomos_testgit::git;

fn commit(dir: &Path, files: &[(&str, &str)], message: &str) -> String {
    nomos_testgit::Repo::open(dir).commit_files(files, message)
}

async fn wait(
    rx: &mut tokio::sync::watch::Receiver<SyncStatus>,
    what: &str,
    pred: impl Fn(&SyncStatus) -> bool,
) -> SyncStatus {
    let start = Instant::now();
    loop {
        let s = rx.borrow_and_update().clone();
        if pred(&s) {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}: {s:#?}"
        );
        let _ = tokio::time::timeout(Duration::from_millis(200), rx.changed()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_flow_from_git_to_the_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "master"]);
    let ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n";
    let cm = |v: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: shop\ndata:\n  k: {v}\n"
        )
    };
    let c1 = commit(
        &repo,
        &[("policy/ns.yaml", ns), ("policy/cm.yaml", &cm("one"))],
        "one",
    );

    let cluster = Cluster::new();
    let client = ClusterClient::from_client(kube::Client::new(cluster.service(), "default"))
        .with_cluster_name("c");
    let source = Repo::new(format!("file://{}", repo.display())).with_dir("policy");
    let fetcher = Fetcher::new(
        source,
        SourceFormat::Unstructured,
        Bounds::default(),
        &tmp.path().join("cache"),
    )
    .unwrap();
    let cfg = SyncerConfig {
        format: SourceFormat::Unstructured,
        k8s_version: None,
        ..SyncerConfig::default()
    };
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let (trigger, trigger_rx) = tokio::sync::mpsc::channel(1);
    let rx = GitSource::new(Box::new(fetcher), Duration::from_secs(3600)).spawn(
        Arc::new(nomos_cluster::TokioSleeper),
        trigger_rx,
        stop.clone(),
    );
    let handle =
        Syncer::new(cfg).start(vec![ClusterTarget::new("c", "c", client)], rx, stop.clone());
    let mut st = handle.subscribe("c").unwrap();

    let s = wait(&mut st, "first commit synced", |s| {
        s.synced && s.commit.as_deref() == Some(c1.as_str())
    })
    .await;
    assert_eq!(s.errors.len(), 0);
    let k = || {
        cluster
            .get("v1", "ConfigMap", Some("shop"), "app")
            .map(|v| v["data"]["k"].as_str().unwrap_or("").to_string())
    };
    assert_eq!(k().as_deref(), Some("one"));

    // A new commit, picked up at once through the webhook (the period is an hour): a bad
    // signature is refused and fetches nothing; a signed GitHub push fetches.
    let hook = {
        let trigger = trigger.clone();
        nomos_importer::webhook::serve(
            "127.0.0.1:0".parse().unwrap(),
            nomos_importer::webhook::WebhookConfig::new(
                nomos_importer::webhook::Secret::new("hook-secret"),
                Some("master".into()),
            ),
            move || {
                let _ = trigger.try_send(());
            },
            stop.clone(),
        )
        .await
        .unwrap()
    };
    let c2 = commit(&repo, &[("policy/cm.yaml", &cm("two"))], "two");
    let body = br#"{"ref":"refs/heads/master"}"#;
    let post = |signature: String| {
        let body = body.to_vec();
        tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(hook).unwrap();
            let head = format!(
                "POST /webhook HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(&body).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        })
    };
    let bad = post(format!("sha256={}", "0".repeat(64))).await.unwrap();
    assert!(bad.starts_with("HTTP/1.1 401"), "{bad}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(k().as_deref(), Some("one"), "a refused webhook fetched");
    let mac = nomos_importer::webhook::hmac_sha256(b"hook-secret", body);
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    let good = post(format!("sha256={hex}")).await.unwrap();
    assert!(good.starts_with("HTTP/1.1 202"), "{good}");
    wait(&mut st, "second commit synced", |s| {
        s.synced && s.commit.as_deref() == Some(c2.as_str())
    })
    .await;
    assert_eq!(k().as_deref(), Some("two"));

    // A bad commit: reported, nothing changes on the cluster.
    let c3 = commit(
        &repo,
        &[(
            "policy/bad.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: shop\n",
        )],
        "bad",
    );
    trigger.send(()).await.unwrap();
    let s = wait(&mut st, "bad commit reported", |s| {
        s.source_token.as_deref() == Some(c3.as_str()) && !s.errors.is_empty()
    })
    .await;
    assert!(s.errors.iter().any(|e| e.code == "KNV1036"), "{s:#?}");
    assert_eq!(k().as_deref(), Some("two"));
    assert!(cluster.get("v1", "Namespace", None, "shop").is_some());

    // Fixed: applied.
    git(&repo, &["rm", "-q", "policy/bad.yaml"]);
    let c4 = commit(&repo, &[("policy/cm.yaml", &cm("four"))], "four");
    trigger.send(()).await.unwrap();
    wait(&mut st, "fixed commit synced", |s| {
        s.synced && s.commit.as_deref() == Some(c4.as_str())
    })
    .await;
    assert_eq!(k().as_deref(), Some("four"));

    stop_tx.send(true).unwrap();
    handle.join().await;
}

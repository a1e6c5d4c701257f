//! nomos-syncer against in-memory clusters (nomos-testcluster, in process).

use std::time::{Duration, Instant};

use nomos_cluster::{ClusterClient, ExecOptions, RetryPolicy};
use nomos_core::{SourceFile, SourceFormat};
use nomos_syncer::{
    ClusterTarget, DirSource, FightConfig, Snapshot, SyncStatus, Syncer, SyncerConfig, SyncerHandle,
};
use nomos_testcluster::{Cluster, Fault};
use serde_json::{Value, json};
use tokio::sync::watch;

const TIMEOUT: Duration = Duration::from_secs(20);

fn config() -> SyncerConfig {
    SyncerConfig {
        format: SourceFormat::Unstructured,
        k8s_version: None,
        retry_base: Duration::from_millis(50),
        retry_max: Duration::from_millis(500),
        exec: ExecOptions {
            retry: RetryPolicy {
                max_attempts: 5,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(50),
                jitter: 0.2,
            },
            ..ExecOptions::default()
        },
        ..SyncerConfig::default()
    }
}

fn cm(ns: &str, name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  k: {value}\n"
    )
}

fn ns(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

fn snapshot(files: &[(String, String)]) -> Snapshot {
    Snapshot::from_files(
        files
            .iter()
            .map(|(p, c)| SourceFile::new(p.clone(), c.clone()))
            .collect(),
        None,
    )
}

fn basic_files() -> Vec<(String, String)> {
    vec![
        ("ns.yaml".into(), ns("shop")),
        ("a.yaml".into(), cm("shop", "a", "v")),
        ("b.yaml".into(), cm("shop", "b", "v")),
    ]
}

fn client(c: &Cluster, name: &str) -> ClusterClient {
    ClusterClient::from_client(kube::Client::new(c.service(), "default")).with_cluster_name(name)
}

struct Env {
    handle: SyncerHandle,
    source: watch::Sender<Option<Snapshot>>,
    stop: watch::Sender<bool>,
}

impl Env {
    fn start(cfg: SyncerConfig, clusters: &[(&str, &str, &Cluster)], first: Snapshot) -> Env {
        let (source, source_rx) = watch::channel(Some(first));
        let (stop, stop_rx) = watch::channel(false);
        let targets = clusters
            .iter()
            .map(|(key, name, c)| ClusterTarget::new(*key, *name, client(c, name)))
            .collect();
        let handle = Syncer::new(cfg).start(targets, source_rx, stop_rx);
        Env {
            handle,
            source,
            stop,
        }
    }

    async fn wait(&self, key: &str, what: &str, pred: impl Fn(&SyncStatus) -> bool) -> SyncStatus {
        let mut rx = self.handle.subscribe(key).expect("a cluster");
        let r = tokio::time::timeout(TIMEOUT, async {
            loop {
                let s = rx.borrow_and_update().clone();
                if pred(&s) {
                    return s;
                }
                if rx.changed().await.is_err() {
                    panic!("status channel closed");
                }
            }
        })
        .await;
        match r {
            Ok(s) => s,
            Err(_) => panic!(
                "timed out waiting for {what}: {:#?}",
                self.handle.status(key)
            ),
        }
    }

    async fn stop(self) {
        self.stop.send(true).ok();
        tokio::time::timeout(TIMEOUT, self.handle.join())
            .await
            .expect("the syncer stops");
    }
}

/// Poll `f` every 10 ms until it holds (bounded).
async fn eventually(what: &str, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn data_k(c: &Cluster, ns: &str, name: &str) -> Option<String> {
    c.get("v1", "ConfigMap", Some(ns), name)?
        .pointer("/data/k")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Someone else (`who`) sets `data.k` of a ConfigMap: drift.
fn edit(c: &Cluster, who: &str, ns: &str, name: &str, value: &str) {
    c.external(who)
        .merge_patch(
            "v1",
            "ConfigMap",
            Some(ns),
            name,
            &json!({"data": {"k": value}}),
        )
        .unwrap();
}

fn synced(s: &SyncStatus) -> bool {
    s.synced
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_sync_creates_everything_and_a_resync_writes_nothing() {
    let c = Cluster::new();
    let cfg = SyncerConfig {
        resync_period: Duration::from_millis(200),
        ..config()
    };
    let env = Env::start(cfg, &[("one", "one", &c)], snapshot(&basic_files()));
    let s = env.wait("one", "synced", synced).await;
    assert_eq!(s.managed_objects, 3);
    assert_eq!(s.applies, 3);
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert!(s.last_sync.is_some());
    assert_eq!(s.commit, s.source_token);
    assert_eq!(data_k(&c, "shop", "a").as_deref(), Some("v"));
    assert!(c.get("v1", "Namespace", None, "shop").is_some());
    let rv = c.resource_version();
    // Two more full syncs (periodic resync): nothing is written.
    let full = s.full_syncs;
    let s = env
        .wait("one", "two resyncs", |s| s.full_syncs >= full + 2)
        .await;
    assert_eq!(s.applies, 3);
    assert_eq!(
        c.resource_version(),
        rv,
        "a resync with no drift writes nothing"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_corrected_deleted_objects_recreated_other_fields_kept() {
    let c = Cluster::new();
    let env = Env::start(config(), &[("one", "one", &c)], snapshot(&basic_files()));
    env.wait("one", "synced", synced).await;
    // Wait until the watchers are up: a first drift gets corrected.
    let editor = c.external("kubectl-edit");
    let t0 = Instant::now();
    editor
        .merge_patch(
            "v1",
            "ConfigMap",
            Some("shop"),
            "a",
            &json!({"data": {"k": "drifted"}}),
        )
        .unwrap();
    eventually("drift on a declared field restored", || {
        data_k(&c, "shop", "a").as_deref() == Some("v")
    })
    .await;
    let observed = t0.elapsed();
    let s = env
        .wait("one", "a drift correction", |s| s.drift_corrections >= 1)
        .await;
    eprintln!(
        "drift corrected in {observed:?} (external write to restored); syncer latency {:?}",
        s.drift_latency
    );

    // An undeclared field added by someone else stays.
    editor
        .merge_patch(
            "v1",
            "ConfigMap",
            Some("shop"),
            "b",
            &json!({"data": {"extra": "theirs"}}),
        )
        .unwrap();
    // Then a declared drift on the same object: once it is restored, the extra field was seen.
    editor
        .merge_patch(
            "v1",
            "ConfigMap",
            Some("shop"),
            "b",
            &json!({"data": {"k": "x"}}),
        )
        .unwrap();
    eventually("drift on b restored", || {
        data_k(&c, "shop", "b").as_deref() == Some("v")
    })
    .await;
    let b = c.get("v1", "ConfigMap", Some("shop"), "b").unwrap();
    assert_eq!(b.pointer("/data/extra"), Some(&json!("theirs")));

    // Deleted behind our back: recreated.
    editor.delete("v1", "ConfigMap", Some("shop"), "a").unwrap();
    eventually("a recreated", || {
        c.get("v1", "ConfigMap", Some("shop"), "a").is_some()
    })
    .await;
    assert_eq!(data_k(&c, "shop", "a").as_deref(), Some("v"));

    // Stripped metadata (our ApplySet label and the managed annotation): restored.
    editor
        .merge_patch(
            "v1",
            "ConfigMap",
            Some("shop"),
            "b",
            &json!({"metadata": {
                "labels": {"applyset.kubernetes.io/part-of": null},
                "annotations": {"configmanagement.gke.io/managed": null}
            }}),
        )
        .unwrap();
    eventually("metadata restored", || {
        let b = c.get("v1", "ConfigMap", Some("shop"), "b").unwrap();
        b.pointer("/metadata/labels/applyset.kubernetes.io~1part-of")
            .is_some()
            && b.pointer("/metadata/annotations/configmanagement.gke.io~1managed")
                == Some(&json!("enabled"))
    })
    .await;
    let s = env.handle.status("one").unwrap();
    assert!(s.drift_corrections >= 4, "{s:#?}");
    assert!(s.drift_latency.p50_ms.is_some());
    env.wait("one", "synced after corrections", synced).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_directory_changes_propagate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ns.yaml"), ns("shop")).unwrap();
    std::fs::write(dir.path().join("a.yaml"), cm("shop", "a", "v")).unwrap();
    let c = Cluster::new();
    let cfg = config();
    let (stop, stop_rx) = watch::channel(false);
    let mut src = DirSource::new(dir.path().to_path_buf(), SourceFormat::Unstructured);
    src.poll = Duration::from_millis(300);
    src.debounce = Duration::from_millis(50);
    let source = src.spawn(cfg.sleeper.clone(), stop_rx.clone());
    let handle = Syncer::new(cfg).start(
        vec![ClusterTarget::new("one", "one", client(&c, "one"))],
        source,
        stop_rx,
    );
    let env = Env {
        handle,
        source: watch::channel(None).0,
        stop,
    };
    let first = env.wait("one", "synced", synced).await;
    assert_eq!(data_k(&c, "shop", "a").as_deref(), Some("v"));
    std::fs::write(dir.path().join("b.yaml"), cm("shop", "b", "new")).unwrap();
    std::fs::write(dir.path().join("a.yaml"), cm("shop", "a", "changed")).unwrap();
    eventually("the new file applied", || {
        data_k(&c, "shop", "b").as_deref() == Some("new")
            && data_k(&c, "shop", "a").as_deref() == Some("changed")
    })
    .await;
    let s = env
        .wait("one", "synced to the new token", |s| {
            s.synced && s.commit != first.commit
        })
        .await;
    assert_eq!(s.managed_objects, 3);
    // A removed file is pruned.
    std::fs::remove_file(dir.path().join("b.yaml")).unwrap();
    eventually("b pruned", || {
        c.get("v1", "ConfigMap", Some("shop"), "b").is_none()
    })
    .await;
    env.wait("one", "a prune counted", |s| s.prunes == 1).await;
    env.stop().await;
}

/// A new source that differs from a fully synced one in a few objects is applied by reading
/// and writing just those objects: no listing, no full sync, nothing else written; lifecycle
/// rules still hold (a removed `deletion: detach` object is left in place).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_change_writes_only_the_changed_objects() {
    let c = Cluster::new();
    let mut files = basic_files();
    files.push((
        "kept.yaml".into(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kept\n  namespace: shop\n  annotations:\n    client.lifecycle.config.k8s.io/deletion: detach\ndata:\n  k: v\n".into(),
    ));
    let env = Env::start(config(), &[("one", "one", &c)], snapshot(&files));
    let first = env.wait("one", "synced", synced).await;
    assert_eq!(first.full_syncs, 1);
    let rv = |name: &str| {
        c.get("v1", "ConfigMap", Some("shop"), name)
            .and_then(|v| v.pointer("/metadata/resourceVersion").cloned())
    };
    let b_rv = rv("b");
    let writes_before = c.resource_version();
    // Listing fails from now on: a full sync could not succeed, an incremental one does not list.
    c.faults().inject(Fault::error(500).verb("list"));
    // Change a, add c, remove kept (detach) and b stays as it is.
    let next = vec![
        ("ns.yaml".into(), ns("shop")),
        ("a.yaml".into(), cm("shop", "a", "changed")),
        ("b.yaml".into(), cm("shop", "b", "v")),
        ("c.yaml".into(), cm("shop", "c", "new")),
    ];
    env.source.send_replace(Some(snapshot(&next)));
    let s = env
        .wait("one", "synced to the new source", |s| {
            s.synced && s.commit != first.commit
        })
        .await;
    assert_eq!(data_k(&c, "shop", "a").as_deref(), Some("changed"));
    assert_eq!(data_k(&c, "shop", "c").as_deref(), Some("new"));
    assert_eq!(rv("b"), b_rv, "an unchanged object was written");
    let kept = c
        .get("v1", "ConfigMap", Some("shop"), "kept")
        .expect("detached, not deleted");
    assert!(
        kept.pointer("/metadata/labels/applyset.kubernetes.io~1part-of")
            .is_none(),
        "abandoned: our metadata removed: {kept}"
    );
    assert_eq!(s.full_syncs, 1, "no full sync: {s:#?}");
    assert_eq!(s.applies, first.applies + 2, "{s:#?}");
    // Three writes: a updated, c created, kept's metadata removed.
    assert_eq!(c.resource_version() - writes_before, 3);
    c.faults().clear();
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_source_is_reported_and_nothing_is_pruned() {
    let c = Cluster::new();
    let env = Env::start(config(), &[("one", "one", &c)], snapshot(&basic_files()));
    let good = env.wait("one", "synced", synced).await;
    // `b` is gone from the source, and a ConfigMap without a name is invalid.
    let bad = vec![
        ("ns.yaml".to_string(), ns("shop")),
        ("a.yaml".to_string(), cm("shop", "a", "v")),
        (
            "broken.yaml".to_string(),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  namespace: shop\n".to_string(),
        ),
    ];
    let bad_snap = snapshot(&bad);
    let bad_token = bad_snap.token.clone();
    env.source.send(Some(bad_snap)).unwrap();
    let s = env
        .wait("one", "the source error", |s| {
            s.source_token.as_deref() == Some(bad_token.as_str()) && !s.errors.is_empty()
        })
        .await;
    assert!(!s.synced);
    assert_eq!(s.commit, good.commit, "the last good state stays in force");
    assert!(
        s.errors.iter().any(|e| e.code.starts_with("KNV1")),
        "{:?}",
        s.errors
    );
    assert_eq!(s.prunes, 0);
    assert!(
        c.get("v1", "ConfigMap", Some("shop"), "b").is_some(),
        "nothing pruned"
    );
    // Drift is still corrected against the last good state.
    edit(&c, "kubectl-edit", "shop", "b", "x");
    eventually("b restored", || {
        data_k(&c, "shop", "b").as_deref() == Some("v")
    })
    .await;
    // Fixing the source syncs again.
    let fixed = snapshot(&bad[..2]);
    env.source.send(Some(fixed)).unwrap();
    let s = env.wait("one", "synced after the fix", synced).await;
    assert_eq!(s.prunes, 1);
    assert!(c.get("v1", "ConfigMap", Some("shop"), "b").is_none());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_does_not_delay_others_and_converges_when_back() {
    let down = Cluster::new();
    let up = Cluster::new();
    down.faults().set_reachable(false);
    let env = Env::start(
        config(),
        &[("down", "down", &down), ("up", "up", &up)],
        snapshot(&basic_files()),
    );
    env.wait("up", "the reachable cluster synced", synced).await;
    let d = env
        .wait("down", "an error on the unreachable cluster", |s| {
            !s.errors.is_empty()
        })
        .await;
    assert!(!d.synced && !d.reachable, "{d:#?}");
    assert!(down.get("v1", "ConfigMap", Some("shop"), "a").is_none());
    down.faults().set_reachable(true);
    let d = env
        .wait("down", "converged after coming back", synced)
        .await;
    assert!(d.reachable && d.errors.is_empty());
    assert_eq!(data_k(&down, "shop", "a").as_deref(), Some("v"));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_are_computed_once_per_distinct_cluster_name() {
    let (a, b, c) = (Cluster::new(), Cluster::new(), Cluster::new());
    let mut files = basic_files();
    files.push((
        "prod-only.yaml".into(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: prod-only\n  namespace: shop\n  annotations:\n    configsync.gke.io/cluster-name-selector: prod\ndata:\n  k: v\n".into(),
    ));
    let env = Env::start(
        config(),
        &[("a", "prod", &a), ("b", "prod", &b), ("c", "dev", &c)],
        snapshot(&files),
    );
    for k in ["a", "b", "c"] {
        env.wait(k, "synced", synced).await;
    }
    assert_eq!(env.handle.compilations(), 2);
    assert!(
        a.get("v1", "ConfigMap", Some("shop"), "prod-only")
            .is_some()
    );
    assert!(
        b.get("v1", "ConfigMap", Some("shop"), "prod-only")
            .is_some()
    );
    assert!(
        c.get("v1", "ConfigMap", Some("shop"), "prod-only")
            .is_none()
    );
    assert_eq!(env.handle.statuses().len(), 3);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// The fault scenario: 1,002 ConfigMaps and 3 Namespaces synced while 30% of all
/// requests fail with 503: everything converges, nothing is lost.
async fn converges_through_30_percent_503s_without_losing_objects() {
    let c = Cluster::new();
    let mut files = Vec::new();
    for n in 0..3 {
        files.push((format!("ns{n}.yaml"), ns(&format!("ns{n}"))));
        for i in 0..334 {
            files.push((
                format!("ns{n}/cm{i}.yaml"),
                cm(&format!("ns{n}"), &format!("cm{i}"), "v"),
            ));
        }
    }
    c.faults().inject(Fault::error(503).fraction(0.3));
    let env = Env::start(config(), &[("one", "one", &c)], snapshot(&files));
    let s = tokio::time::timeout(Duration::from_secs(60), env.wait("one", "synced", synced))
        .await
        .expect("converges");
    c.faults().clear();
    assert_eq!(s.managed_objects, 1005);
    assert!(s.retries > 0, "faults were retried: {s:#?}");
    for n in 0..3 {
        for i in 0..334 {
            assert_eq!(
                data_k(&c, &format!("ns{n}"), &format!("cm{i}")).as_deref(),
                Some("v"),
                "ns{n}/cm{i}"
            );
        }
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fight_is_reported_as_knv2005_and_backed_off() {
    let c = Cluster::new();
    let cfg = SyncerConfig {
        fight: FightConfig {
            backoff_base: Duration::from_secs(30),
            ..FightConfig::default()
        },
        ..config()
    };
    let env = Env::start(cfg, &[("one", "one", &c)], snapshot(&basic_files()));
    env.wait("one", "synced", synced).await;
    let fighter = c.external("other-controller");
    let base = env.handle.status("one").unwrap().drift_corrections;
    let mut rounds = 0;
    loop {
        let s = env.handle.status("one").unwrap();
        if s.has_error("KNV2005") {
            break;
        }
        rounds += 1;
        assert!(rounds <= 20, "no fight detected: {s:#?}");
        fighter
            .merge_patch(
                "v1",
                "ConfigMap",
                Some("shop"),
                "a",
                &json!({"data": {"k": format!("theirs-{rounds}")}}),
            )
            .unwrap();
        // Wait until the syncer answered (restored it, or declared a fight)...
        eventually("the syncer answers", || {
            data_k(&c, "shop", "a").as_deref() == Some("v")
                || env.handle.status("one").unwrap().has_error("KNV2005")
        })
        .await;
        // ...and published that answer: the correction is counted in the same status update
        // that carries a fight it revealed.
        env.wait("one", "the correction published", |s| {
            s.drift_corrections >= base + rounds || s.has_error("KNV2005")
        })
        .await;
    }
    let s = env.handle.status("one").unwrap();
    let e = s.errors.iter().find(|e| e.code == "KNV2005").unwrap();
    assert!(
        e.message
            .starts_with("detected excessive object updates, approximately"),
        "{}",
        e.message
    );
    assert!(e.message.contains("other-controller"), "{}", e.message);
    assert_eq!(e.object.as_deref(), Some("ConfigMap/shop/a"));
    assert!(!s.synced);
    assert_eq!(rounds, 6, "the sixth correction in a minute is a fight");
    // Backed off: the next rewrite is not corrected at once.
    let corrections = s.drift_corrections;
    fighter
        .merge_patch(
            "v1",
            "ConfigMap",
            Some("shop"),
            "a",
            &json!({"data": {"k": "theirs-last"}}),
        )
        .unwrap();
    // Another object still gets corrected (the worker is not blocked)...
    fighter
        .merge_patch(
            "v1",
            "ConfigMap",
            Some("shop"),
            "b",
            &json!({"data": {"k": "x"}}),
        )
        .unwrap();
    eventually("b restored", || {
        data_k(&c, "shop", "b").as_deref() == Some("v")
    })
    .await;
    // ...while `a` is left alone during the back-off.
    assert_eq!(data_k(&c, "shop", "a").as_deref(), Some("theirs-last"));
    let s = env.handle.status("one").unwrap();
    assert_eq!(s.drift_corrections, corrections + 1);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_survive_drops_and_expiry_and_relists_catch_missed_deletes() {
    let c = Cluster::new();
    let env = Env::start(config(), &[("one", "one", &c)], snapshot(&basic_files()));
    env.wait("one", "synced", synced).await;
    let editor = c.external("kubectl-edit");
    // First make sure the watches are established (a drift gets corrected).
    editor
        .merge_patch(
            "v1",
            "ConfigMap",
            Some("shop"),
            "a",
            &json!({"data": {"k": "x"}}),
        )
        .unwrap();
    eventually("a restored", || {
        data_k(&c, "shop", "a").as_deref() == Some("v")
    })
    .await;
    // Cut every watch and make the next ones fail with 410 Gone after forgetting history:
    // the watchers relist; a delete made meanwhile is noticed by the relist.
    c.compact();
    c.faults().expire_next_watches(4);
    c.faults().drop_watches();
    editor.delete("v1", "ConfigMap", Some("shop"), "b").unwrap();
    eventually("b recreated", || {
        c.get("v1", "ConfigMap", Some("shop"), "b").is_some()
    })
    .await;
    editor
        .merge_patch(
            "v1",
            "ConfigMap",
            Some("shop"),
            "a",
            &json!({"data": {"k": "y"}}),
        )
        .unwrap();
    eventually("a restored after the relist", || {
        data_k(&c, "shop", "a").as_deref() == Some("v")
    })
    .await;
    env.stop().await;
}

/// The syncer also runs on a current-thread runtime.
#[tokio::test]
async fn runs_on_a_current_thread_runtime() {
    let c = Cluster::new();
    let env = Env::start(config(), &[("one", "one", &c)], snapshot(&basic_files()));
    env.wait("one", "synced", synced).await;
    edit(&c, "kubectl-edit", "shop", "a", "x");
    eventually("a restored", || {
        data_k(&c, "shop", "a").as_deref() == Some("v")
    })
    .await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_cluster_does_not_delay_a_fast_one() {
    let slow = Cluster::new();
    let fast = Cluster::new();
    slow.faults()
        .inject(Fault::latency(Duration::from_millis(100)));
    let env = Env::start(
        config(),
        &[("slow", "slow", &slow), ("fast", "fast", &fast)],
        snapshot(&basic_files()),
    );
    let t0 = Instant::now();
    env.wait("fast", "the fast cluster synced", synced).await;
    let fast_took = t0.elapsed();
    assert!(!env.handle.status("slow").unwrap().synced);
    env.wait("slow", "the slow cluster synced", synced).await;
    assert!(
        t0.elapsed() > fast_took,
        "fast {fast_took:?}, slow {:?}",
        t0.elapsed()
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_implicit_namespace_comes_back_with_its_contents() {
    let c = Cluster::new();
    // No Namespace declared: unstructured repositories create it implicitly.
    let files = vec![
        ("a.yaml".to_string(), cm("shop", "a", "v")),
        ("b.yaml".to_string(), cm("shop", "b", "v")),
    ];
    let env = Env::start(config(), &[("one", "one", &c)], snapshot(&files));
    env.wait("one", "synced", synced).await;
    assert!(c.get("v1", "Namespace", None, "shop").is_some());
    c.external("kubectl")
        .delete("v1", "Namespace", None, "shop")
        .unwrap();
    eventually("namespace and contents recreated", || {
        c.get("v1", "Namespace", None, "shop").is_some()
            && data_k(&c, "shop", "a").as_deref() == Some("v")
            && data_k(&c, "shop", "b").as_deref() == Some("v")
    })
    .await;
    env.wait("one", "synced again", synced).await;
    env.stop().await;
}

/// The hierarchical example repository (CRD and custom resources, RBAC, selectors) syncs to
/// clusters of two names from the directory, and drift on a custom resource is corrected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hierarchical_example_syncs_per_cluster_name() {
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy-examples/hierarchical");
    let snap = nomos_syncer::source::read_dir(&root, SourceFormat::Hierarchy).unwrap();
    let (prod, dev) = (Cluster::new(), Cluster::new());
    let cfg = SyncerConfig {
        format: SourceFormat::Hierarchy,
        k8s_version: Some(nomos_core::k8s::default_version().to_string()),
        ..config()
    };
    let env = Env::start(
        cfg,
        &[("prod", "eks-prod", &prod), ("dev", "onprem-dev", &dev)],
        snap,
    );
    let p = env.wait("prod", "prod synced", synced).await;
    let d = env.wait("dev", "dev synced", synced).await;
    eprintln!(
        "eks-prod: {} objects, onprem-dev: {} objects",
        p.managed_objects, d.managed_objects
    );
    assert!(p.managed_objects > 10 && d.managed_objects > 10);
    assert_ne!(
        p.managed_objects, d.managed_objects,
        "cluster selectors differ per name"
    );
    env.stop().await;
}

/// Drift-correction latency over many objects, end to end (external write → restored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_correction_latency() {
    let c = Cluster::new();
    let mut files = vec![("ns.yaml".to_string(), ns("shop"))];
    for i in 0..20 {
        files.push((format!("cm{i}.yaml"), cm("shop", &format!("cm{i}"), "v")));
    }
    let env = Env::start(config(), &[("one", "one", &c)], snapshot(&files));
    env.wait("one", "synced", synced).await;
    // Watches up: the first correction.
    edit(&c, "x", "shop", "cm0", "x");
    eventually("cm0 restored", || {
        data_k(&c, "shop", "cm0").as_deref() == Some("v")
    })
    .await;
    let mut took = Vec::new();
    for i in 1..20 {
        let name = format!("cm{i}");
        let t0 = Instant::now();
        c.external("x")
            .merge_patch(
                "v1",
                "ConfigMap",
                Some("shop"),
                &name,
                &json!({"data": {"k": "x"}}),
            )
            .unwrap();
        let start = Instant::now();
        while data_k(&c, "shop", &name).as_deref() != Some("v") {
            assert!(start.elapsed() < TIMEOUT, "{name} not restored");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        took.push(t0.elapsed());
    }
    took.sort();
    let s = env
        .wait("one", "20 corrections", |s| s.drift_corrections >= 20)
        .await;
    eprintln!(
        "drift correction end to end: p50 {:?}, max {:?}; syncer-measured: {:?}",
        took[took.len() / 2],
        took[took.len() - 1],
        s.drift_latency
    );
    assert!(took[took.len() / 2] < Duration::from_secs(2));
    env.stop().await;
}

/// A cluster that goes away after syncing and comes back: drift made meanwhile is corrected
/// once the watches reconnect, without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_made_while_unreachable_is_corrected_when_back() {
    let c = Cluster::new();
    let env = Env::start(config(), &[("one", "one", &c)], snapshot(&basic_files()));
    env.wait("one", "synced", synced).await;
    edit(&c, "x", "shop", "a", "x");
    eventually("a restored", || {
        data_k(&c, "shop", "a").as_deref() == Some("v")
    })
    .await;
    c.faults().set_reachable(false);
    c.faults().drop_watches();
    edit(&c, "x", "shop", "b", "x");
    c.external("x")
        .delete("v1", "ConfigMap", Some("shop"), "a")
        .unwrap();
    // Give the watchers a moment to fail against the unreachable cluster.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(data_k(&c, "shop", "b").as_deref(), Some("x"));
    c.faults().set_reachable(true);
    eventually("b restored and a recreated", || {
        data_k(&c, "shop", "b").as_deref() == Some("v")
            && data_k(&c, "shop", "a").as_deref() == Some("v")
    })
    .await;
    env.stop().await;
}

/// A syncer stopped in the middle of its first sync leaves a half-synced cluster; a new syncer
/// (no local state) converges it from the source and the cluster alone, and never touches an
/// unmanaged object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_sync_then_restarted_converges() {
    let c = Cluster::new();
    c.external("kubectl")
        .create(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}))
        .unwrap();
    c.external("kubectl")
        .create(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "stranger", "namespace": "shop"}, "data": {"k": "mine"}}))
        .unwrap();
    let mut files = vec![("ns.yaml".to_string(), ns("shop"))];
    for i in 0..200 {
        files.push((format!("cm{i}.yaml"), cm("shop", &format!("cm{i}"), "v")));
    }
    // Slow writes so the first syncer is stopped part-way.
    c.faults()
        .inject(Fault::latency(Duration::from_millis(20)).verb("patch"));
    let first = Env::start(config(), &[("c", "c", &c)], snapshot(&files));
    eventually("some objects applied", || {
        (0..200).any(|i| {
            c.get("v1", "ConfigMap", Some("shop"), &format!("cm{i}"))
                .is_some()
        })
    })
    .await;
    first.stop().await;
    let present = (0..200)
        .filter(|i| {
            c.get("v1", "ConfigMap", Some("shop"), &format!("cm{i}"))
                .is_some()
        })
        .count();
    assert!(
        present < 200,
        "the first syncer was meant to stop part-way ({present} applied)"
    );
    c.faults().clear();

    let second = Env::start(config(), &[("c", "c", &c)], snapshot(&files));
    second.wait("c", "converged after restart", synced).await;
    for i in 0..200 {
        assert_eq!(
            data_k(&c, "shop", &format!("cm{i}")).as_deref(),
            Some("v"),
            "cm{i}"
        );
    }
    assert_eq!(data_k(&c, "shop", "stranger").as_deref(), Some("mine"));
    let stranger = c.get("v1", "ConfigMap", Some("shop"), "stranger").unwrap();
    assert!(
        stranger["metadata"].get("labels").is_none(),
        "unmanaged object untouched: {stranger}"
    );
    second.stop().await;
}

/// The monitor wired to the syncer: metrics with Config Sync's names per cluster, `/status`,
/// health endpoints, and the cluster's RootSync object (CRD registered, ApplySet parent metadata,
/// status with the synced commit), each read back and checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_status_endpoint_and_root_sync_object() {
    use nomos_monitor::reporter::{ReporterOptions, run_reporter};
    use nomos_syncer::report::{ReportContext, report_of};
    let c = Cluster::new();
    let monitor = std::sync::Arc::new(nomos_monitor::Monitor::new());
    let mut cfg = config();
    cfg.metrics = monitor.metrics().clone();
    let env = Env::start(cfg, &[("one", "one", &c)], snapshot(&basic_files()));
    let (_stop_tx, stop) = watch::channel(false);
    let ctx = ReportContext {
        sync: Default::default(),
        source: nomos_monitor::SourceSpec {
            source_format: "unstructured".into(),
            repo: "/srv/policy".into(),
            ..Default::default()
        },
    };
    tokio::spawn(run_reporter(
        env.handle.subscribe("one").unwrap(),
        move |s: &SyncStatus| report_of(s, &ctx, std::time::SystemTime::now()),
        monitor.clone(),
        Some(nomos_monitor::Publisher::new(client(&c, "one"))),
        ReporterOptions::default(),
        stop.clone(),
    ));
    let addr = nomos_monitor::metrics::serve("127.0.0.1:0".parse().unwrap(), monitor.clone(), stop)
        .await
        .unwrap();
    let get = |path: &str| {
        let path = path.to_string();
        async move {
            tokio::task::spawn_blocking(move || {
                use std::io::{Read, Write};
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(
                    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).unwrap();
                out
            })
            .await
            .unwrap()
        }
    };
    assert!(get("/healthz").await.starts_with("HTTP/1.1 200"));
    let st = env.wait("one", "synced", synced).await;
    let token = st.commit.clone().unwrap();
    // A drift correction feeds the remediator counters and the latency histogram.
    edit(&c, "kubectl", "shop", "a", "drift");
    env.wait("one", "drift corrected", |s| s.drift_corrections >= 1)
        .await;
    // The reporter publishes asynchronously: wait for the RootSync to carry the commit.
    let rs = || {
        c.get(
            "configsync.gke.io/v1beta1",
            "RootSync",
            Some("config-management-system"),
            "root-sync",
        )
    };
    eventually("the RootSync status names the synced commit", || {
        rs().is_some_and(|r| {
            r.pointer("/status/lastSyncedCommit")
                .and_then(Value::as_str)
                == Some(token.as_str())
        })
    })
    .await;
    let rs = rs().unwrap();
    assert_eq!(
        rs.pointer("/metadata/labels/applyset.kubernetes.io~1id")
            .and_then(Value::as_str),
        Some(
            nomos_core::desired::SyncIdentity::default()
                .applyset_id()
                .as_str()
        ),
        "{rs:#}"
    );
    assert_eq!(
        rs.pointer("/metadata/annotations/applyset.kubernetes.io~1contains-group-kinds")
            .and_then(Value::as_str),
        Some("ConfigMap,Namespace"),
        "{rs:#}"
    );
    assert_eq!(
        rs.pointer("/spec/git/repo").and_then(Value::as_str),
        Some("/srv/policy")
    );
    assert_eq!(
        rs.pointer("/status/sync/commit").and_then(Value::as_str),
        Some(token.as_str())
    );
    assert!(
        c.get(
            "apiextensions.k8s.io/v1",
            "CustomResourceDefinition",
            None,
            "rootsyncs.configsync.gke.io"
        )
        .is_some()
    );

    assert!(get("/readyz").await.starts_with("HTTP/1.1 200"));
    let text = get("/metrics").await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    for want in [
        "config_sync_last_sync_timestamp{",
        "config_sync_declared_resources{",
        "config_sync_apply_operations_total{cluster=\"one\",controller=\"applier\",operation=\"apply\",status=\"success\"} 3",
        "config_sync_apply_operations_total{cluster=\"one\",controller=\"remediator\",operation=\"update\",status=\"success\"} 1",
        "config_sync_apply_duration_seconds_count{",
        "config_sync_reconcile_duration_seconds_count{cluster=\"one\",status=\"success\"}",
        "config_sync_parser_duration_seconds_count{cluster=\"one\",status=\"success\",trigger=\"sync\",source=\"dir\"} 1",
        "config_sync_remediate_duration_seconds_count{cluster=\"one\",status=\"success\"} 1",
        "nomos_drift_correction_seconds_count{cluster=\"one\"} 1",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let status = get("/status").await;
    let body = &status[status.find("\r\n\r\n").unwrap() + 4..];
    let doc: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {status}"));
    assert_eq!(doc["clusters"][0]["cluster"], "one");
    assert_eq!(doc["clusters"][0]["syncedCommit"], token.as_str());
    assert_eq!(doc["clusters"][0]["managedObjects"], 3);
    assert!(get("/nope").await.starts_with("HTTP/1.1 404"));
    env.stop().await;
}

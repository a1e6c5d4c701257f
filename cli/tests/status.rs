//! `nomos status` (the real binary) against in-memory test clusters served on loopback.

use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use nomos_cluster::ClusterClient;
use nomos_monitor::report::parse_group_kinds;
use nomos_monitor::{ClusterReport, Publisher, ReportError, SourceSpec, SyncRef};
use nomos_testcluster::{Cluster, ServeHandle};
use serde_json::json;

fn nomos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nomos"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

fn report(cluster: &str) -> ClusterReport {
    let mut r = ClusterReport::new(cluster);
    r.source = SourceSpec {
        source_format: "unstructured".into(),
        repo: "https://git.example/platform/policy.git".into(),
        branch: "main".into(),
        dir: "clusters".into(),
        ..SourceSpec::default()
    };
    r.managed_group_kinds = parse_group_kinds("Namespace,ConfigMap");
    r.source_commit = Some(COMMIT.into());
    r.synced_commit = Some(COMMIT.into());
    r.last_sync = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_705_314_600));
    r.updated = r.last_sync;
    r
}

/// Objects as the syncer leaves them: carrying the ApplySet label of root-sync.
fn seed_managed(c: &Cluster) {
    let id = SyncRef::default().applyset_id();
    let labels = json!({"applyset.kubernetes.io/part-of": id});
    let actor = c.external("configsync.gke.io");
    actor
        .apply(&json!({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": "shop", "labels": labels}}))
        .unwrap();
    actor
        .apply(&json!({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "settings", "namespace": "shop", "labels": labels},
                       "data": {"k": "v"}}))
        .unwrap();
    // Not ours: no label.
    actor
        .apply(&json!({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "unmanaged", "namespace": "shop"}}))
        .unwrap();
}

struct Env {
    rt: tokio::runtime::Runtime,
    handles: Vec<ServeHandle>,
    _tmp: tempfile::TempDir,
    kubeconfig: std::path::PathBuf,
}

impl Env {
    /// Serve `clusters` (context name, cluster) with one kubeconfig, plus `dead` contexts
    /// pointing at a closed port.
    fn start(clusters: Vec<(&str, Cluster)>, dead: &[&str]) -> Env {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut handles = Vec::new();
        let mut entries = Vec::new();
        for (name, c) in &clusters {
            let h = rt
                .block_on(c.serve("127.0.0.1:0".parse().unwrap()))
                .unwrap();
            entries.push((name.to_string(), h.url()));
            handles.push(h);
        }
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        for d in dead {
            entries.push((d.to_string(), format!("http://{closed}")));
        }
        let tmp = tempfile::tempdir().unwrap();
        let kubeconfig = tmp.path().join("kubeconfig");
        std::fs::write(&kubeconfig, nomos_testcluster::kubeconfig(&entries)).unwrap();
        Env {
            rt,
            handles,
            _tmp: tmp,
            kubeconfig,
        }
    }

    fn client(&self, context: &str) -> ClusterClient {
        self.rt
            .block_on(ClusterClient::from_kubeconfig(
                Some(&self.kubeconfig),
                Some(context),
            ))
            .unwrap()
    }

    fn publish(&self, context: &str, r: &ClusterReport) {
        let mut p = Publisher::new(self.client(context));
        self.rt.block_on(p.publish(r)).unwrap();
    }

    fn status(&self, extra: &[&str]) -> Output {
        let mut args = vec!["status", "--kubeconfig", self.kubeconfig.to_str().unwrap()];
        args.extend_from_slice(extra);
        nomos(&args)
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for h in self.handles.drain(..) {
            self.rt.block_on(h.shutdown());
        }
    }
}

/// The block of lines printed for `context` (up to the next context).
fn block<'a>(out: &'a str, context: &str) -> &'a str {
    let start = out
        .find(&format!("\n{context}\n"))
        .or_else(|| out.find(&format!("\n*{context}\n")))
        .unwrap_or_else(|| panic!("no {context} in:\n{out}"));
    let rest = &out[start + 1..];
    let end = rest[1..].find("\n\n").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

#[test]
fn status_shows_synced_error_not_installed_not_configured_and_unreachable() {
    let synced = Cluster::new();
    seed_managed(&synced);
    let broken = Cluster::new();
    let bare = Cluster::new();
    let crd_only = Cluster::new();
    let env = Env::start(
        vec![
            ("synced", synced),
            ("broken", broken),
            ("bare", bare),
            ("crd-only", crd_only),
        ],
        &["gone"],
    );
    env.publish("synced", &report("synced"));
    let mut bad = report("broken");
    bad.source_commit = Some("fedcba9876543210".into());
    bad.sync_errors = vec![ReportError::new(
        "KNV2009",
        "failed to apply ConfigMap/shop/settings: the server refused it",
    )];
    env.publish("broken", &bad);
    env.rt
        .block_on(nomos_monitor::ensure_crd(&env.client("crd-only")))
        .unwrap();

    let o = env.status(&["--timeout", "5s"]);
    let out = stdout(&o);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.starts_with("Connecting to clusters...\n"), "{out}");

    let s = block(&out, "synced");
    assert!(
        s.starts_with("*synced\n"),
        "the current context is marked:\n{s}"
    );
    let source_line = s
        .lines()
        .find(|l| l.starts_with("  <root>:root-sync "))
        .unwrap_or_else(|| panic!("{s}"));
    assert_eq!(
        source_line.split_whitespace().collect::<Vec<_>>(),
        [
            "<root>:root-sync",
            "https://git.example/platform/policy.git/clusters@main"
        ]
    );
    assert!(
        s.contains("  SYNCED @ 2024-01-15 10:30:00 +0000 UTC   01234567"),
        "{s}"
    );
    assert!(s.contains("  Managed resources:\n"), "{s}");
    assert!(s.contains("NAMESPACE   NAME                 STATUS"), "{s}");
    assert!(
        s.contains("shop        configmap/settings   Current"),
        "{s}"
    );
    assert!(s.contains("namespace/shop"), "{s}");
    assert!(
        !s.contains("unmanaged"),
        "only objects with our ApplySet label:\n{s}"
    );

    let b = block(&out, "broken");
    assert!(b.contains("  ERROR              fedcba98"), "{b}");
    assert!(b.contains("  TotalErrorCount: 1\n"), "{b}");
    assert!(
        b.contains(
            "  Error:   KNV2009: failed to apply ConfigMap/shop/settings: the server refused it"
        ),
        "{b}"
    );
    assert!(!b.contains("Managed resources"), "{b}");

    let n = block(&out, "bare");
    assert!(
        n.contains(
            "  --------------------\n  NOT INSTALLED   The RootSync CustomResourceDefinition"
        ),
        "{n}"
    );
    let c = block(&out, "crd-only");
    assert!(
        c.contains("  NOT CONFIGURED   No RootSync resources found"),
        "{c}"
    );
    let g = block(&out, "gone");
    assert!(g.contains("  N/A   Failed to connect to cluster"), "{g}");

    // Filters and --resources=false.
    let o = env.status(&["--contexts", "synced", "--resources=false"]);
    let out = stdout(&o);
    assert!(out.contains("SYNCED @"), "{out}");
    assert!(!out.contains("Managed resources"), "{out}");
    assert!(!out.contains("broken"), "{out}");
    let o = env.status(&["--contexts=synced,broken", "--name", "other-sync"]);
    let out = stdout(&o);
    assert!(block(&out, "synced").contains("NOT CONFIGURED"), "{out}");
    assert!(block(&out, "broken").contains("NOT CONFIGURED"), "{out}");
    let o = env.status(&[
        "--contexts",
        "synced",
        "--namespace",
        "config-management-system",
    ]);
    assert!(stdout(&o).contains("SYNCED @"), "{}", stdout(&o));
}

#[test]
fn no_clusters_found() {
    let tmp = tempfile::tempdir().unwrap();
    let kc = tmp.path().join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n",
    )
    .unwrap();
    let o = nomos(&["status", "--kubeconfig", kc.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Error: no clusters found"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = nomos(&[
        "status",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--poll",
        "soon",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--poll"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

//! `--root-sync`: the source settings and credentials read from a RootSync and its Secret in
//! the cluster (nomos-testcluster, in process).

use std::path::Path;

use base64::Engine;
use nomos_cluster::ClusterClient;
use nomos_core::syncspec::Auth;
use nomos_syncer::config::{ConfigError, SyncObjectRef, read};
use nomos_testcluster::Cluster;
use serde_json::json;

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn cluster_with_root_sync(secret_data: serde_json::Value) -> (Cluster, ClusterClient) {
    let c = Cluster::new();
    let client = ClusterClient::from_client(kube::Client::new(c.service(), "default"));
    nomos_monitor::ensure_crd(&client).await.unwrap();
    c.external("kubectl")
        .create(&json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "config-management-system"}}))
        .unwrap();
    c.external("kubectl")
        .create(&json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "git-creds", "namespace": "config-management-system"},
        "data": secret_data}))
        .unwrap();
    c.external("kubectl")
        .create(
            &json!({"apiVersion": "configsync.gke.io/v1beta1", "kind": "RootSync",
        "metadata": {"name": "root-sync", "namespace": "config-management-system"},
        "spec": {"sourceFormat": "unstructured", "git": {
            "repo": "https://git.example/policy.git", "branch": "main", "dir": "clusters/prod",
            "period": "30s", "auth": "token", "secretRef": {"name": "git-creds"}}}}),
        )
        .unwrap();
    (c, client)
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn root_sync_and_its_secret_become_source_settings_and_private_files() {
    let (_c, client) =
        cluster_with_root_sync(json!({"username": b64("robot"), "token": b64("s3cr3t-token")}))
            .await;
    let dir = tempfile::tempdir().unwrap();
    let what = SyncObjectRef::parse("config-management-system/root-sync").unwrap();
    let cfg = read(&client, &what, dir.path()).await.unwrap();
    assert_eq!(cfg.spec.git.repo, "https://git.example/policy.git");
    assert_eq!(cfg.spec.git.git_ref(), "main");
    assert_eq!(cfg.spec.git.dir, "clusters/prod");
    assert_eq!(cfg.spec.git.period, std::time::Duration::from_secs(30));
    assert_eq!(cfg.spec.git.auth, Auth::Token);
    assert_eq!(
        cfg.spec.source_format,
        nomos_core::SourceFormat::Unstructured
    );
    let secrets = cfg.secret_dir.unwrap();
    assert_eq!(
        std::fs::read_to_string(secrets.join("username")).unwrap(),
        "robot"
    );
    assert_eq!(
        std::fs::read_to_string(secrets.join("token")).unwrap(),
        "s3cr3t-token"
    );
    #[cfg(unix)]
    {
        assert_eq!(mode(&secrets), 0o700);
        assert_eq!(mode(&secrets.join("token")), 0o600);
    }
}

#[tokio::test]
async fn a_secret_missing_a_key_is_knv1061_without_the_secret() {
    let (_c, client) = cluster_with_root_sync(json!({"token": b64("s3cr3t-token")})).await;
    let dir = tempfile::tempdir().unwrap();
    let what = SyncObjectRef::parse("root-sync").unwrap();
    let e = read(&client, &what, dir.path()).await.unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(
        text.contains("KNV1061") && text.contains("username"),
        "{text}"
    );
    assert!(!text.contains("s3cr3t"), "the secret leaked: {text}");
    assert!(!dir.path().join("git-creds").exists(), "nothing written");
}

#[tokio::test]
async fn a_missing_root_sync_says_how_to_fix_it() {
    let c = Cluster::new();
    let client = ClusterClient::from_client(kube::Client::new(c.service(), "default"));
    nomos_monitor::ensure_crd(&client).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let what = SyncObjectRef::parse("config-management-system/root-sync").unwrap();
    let e = read(&client, &what, dir.path()).await.unwrap_err();
    assert!(
        matches!(
            e,
            ConfigError::Missing {
                kind: "RootSync",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("deploy/examples/root-sync.yaml"),
        "{e}"
    );
}

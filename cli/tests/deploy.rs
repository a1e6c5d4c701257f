//! The shipped deployment manifests (`deploy/`) are checked by our own `nomos vet`, both as files
//! and as `kubectl kustomize` renders them, and carry the RootSync CRD the monitor registers.
//!
//! They install nomos-rs itself, so they hold exactly what a policy repository must not: the
//! `config-management-system` Namespace (KNV1034) and Config Sync's own CRD, with its
//! `configmanagement.gke.io/` labels (KNV1043, KNV1011). Those three findings are expected, and
//! likewise the example RootSync, which configures the reconciler itself (KNV1069). Anything
//! else (a schema error, a bad name, a duplicate) fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

type Finding = (String, String, String);

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .canonicalize()
        .unwrap()
}

/// `nomos vet --diagnostics json` of `path`: (code, kind, name) of every finding, sorted.
fn vet(path: &Path) -> Vec<Finding> {
    let out = Command::new(env!("CARGO_BIN_EXE_nomos"))
        .args([
            "vet",
            "--source-format=unstructured",
            "--diagnostics=json",
            "--path",
        ])
        .arg(path)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "nomos vet {}: no JSON report ({e}): {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let mut found: Vec<Finding> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let o = &e["objects"][0];
            (s(&e["code"]), s(&o["kind"]), s(&o["name"]))
        })
        .collect();
    found.sort();
    found
}

fn expected_install_findings() -> Vec<Finding> {
    let crd = ("CustomResourceDefinition", "rootsyncs.configsync.gke.io");
    let mut v: Vec<Finding> = [
        ("KNV1011", crd.0, crd.1),
        ("KNV1034", "Namespace", "config-management-system"),
        ("KNV1043", crd.0, crd.1),
    ]
    .iter()
    .map(|(c, k, n)| (c.to_string(), k.to_string(), n.to_string()))
    .collect();
    v.sort();
    v
}

#[test]
fn deploy_manifests_vet_with_only_the_install_findings() {
    assert_eq!(vet(&deploy().join("base")), expected_install_findings());
    // The example RootSync configures the reconciler itself: applied by hand, never synced.
    assert_eq!(
        vet(&deploy().join("examples")),
        vec![("KNV1069".into(), "RootSync".into(), "root-sync".into())]
    );
}

#[test]
fn kustomize_output_vets_with_only_the_install_findings() {
    let out = Command::new("kubectl")
        .args(["kustomize"])
        .arg(deploy().join("base"))
        .output()
        .expect("kubectl (with its built-in kustomize) is required");
    assert!(
        out.status.success(),
        "kubectl kustomize failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "kind: Namespace",
        "kind: CustomResourceDefinition",
        "name: rootsyncs.configsync.gke.io",
        "kind: ServiceAccount",
        "kind: ClusterRoleBinding",
        "kind: Deployment",
        "kind: Service",
    ] {
        assert!(text.contains(want), "kustomize output lacks {want:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("all.yaml"), text).unwrap();
    assert_eq!(vet(dir.path()), expected_install_findings());
}

#[test]
fn deployed_crd_is_the_one_the_monitor_registers() {
    let shipped = std::fs::read_to_string(deploy().join("base/rootsync-crd.yaml")).unwrap();
    assert_eq!(
        shipped.trim(),
        nomos_monitor::rootsync::CRD_YAML.trim(),
        "deploy/base/rootsync-crd.yaml differs from monitor/manifests/rootsync-crd.yaml; copy it over"
    );
}

//! Behaviour of the `nomos` command line: flags, exit codes, files written.

use std::path::Path;
use std::process::{Command, Output};

fn nomos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nomos"))
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

#[test]
fn init_creates_a_valid_skeleton_and_refuses_non_empty_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    let p = root.to_str().unwrap();
    assert!(nomos(&["init", "--path", p]).status.success());
    for f in [
        "README.md",
        "system/repo.yaml",
        "system/README.md",
        "cluster/README.md",
        "clusterregistry/README.md",
        "namespaces/README.md",
    ] {
        assert!(root.join(f).is_file(), "{f} missing");
    }
    let (out, err) = text(&nomos(&["vet", "--path", p]));
    assert_eq!(out.trim(), "✅ No validation issues found.", "{err}");
    let again = nomos(&["init", "--path", p]);
    assert!(!again.status.success());
    assert!(text(&again).1.contains("--force"));
    assert!(nomos(&["init", "--path", p, "--force"]).status.success());
}

#[test]
fn vet_flag_errors_are_clear() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().to_str().unwrap();
    let o = nomos(&[
        "vet",
        "--path",
        p,
        "--namespace",
        "shop",
        "--source-format",
        "hierarchy",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains(
        "if --namespace is provided, --source-format must be omitted or set to unstructured"
    ));
    let o = nomos(&["vet", "--path", p, "--source-format", "flat"]);
    assert!(text(&o).1.contains("unknown source-format value \"flat\""));
    let o = nomos(&["vet", "--path", "/definitely/not/here"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("/definitely/not/here"));
    let o = nomos(&["vet", "--path", p, "--k8s-version", "1.2"]);
    assert!(text(&o).1.contains("shipped versions"));
}

#[test]
fn vet_reports_errors_in_config_sync_format_and_threshold() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: shop\n",
    );
    write(
        tmp.path(),
        "b.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: shop\n  annotations:\n    configsync.gke.io/nope: x\n",
    );
    let p = tmp.path().to_str().unwrap();
    let o = nomos(&["vet", "--path", p, "--source-format=unstructured"]);
    assert_eq!(o.status.code(), Some(1));
    let (_, err) = text(&o);
    assert!(
        err.starts_with("Error: 1 error(s)\n\n\n[1] KNV1010: "),
        "{err}"
    );
    assert!(
        err.contains("\nnamespace: shop\nmetadata.name: b\ngroup:\nversion: v1\nkind: ConfigMap\n"),
        "{err}"
    );
    assert!(err.contains("For more information, see https://g.co/cloud/acm-errors#knv1010"));
    std::fs::remove_file(tmp.path().join("b.yaml")).unwrap();
    write(
        tmp.path(),
        "b.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: shop\n",
    );
    assert!(
        nomos(&["vet", "--path", p, "--source-format=unstructured"])
            .status
            .success()
    );
    let o = nomos(&[
        "vet",
        "--path",
        p,
        "--source-format=unstructured",
        "--threshold=1",
    ]);
    assert!(text(&o).1.contains("KNV1070"));
}

#[test]
fn vet_warns_about_yaml_1_1_scalars_without_failing() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  country: \"NO\"\n  enabled: \"true\"\n",
    );
    write(
        tmp.path(),
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: busybox\n  volumes:\n  - name: v\n    secret:\n      secretName: s\n      defaultMode: 0755\n",
    );
    let o = nomos(&[
        "vet",
        "--path",
        tmp.path().to_str().unwrap(),
        "--source-format=unstructured",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("No validation issues found"));
    assert!(err.contains("warning: pod.yaml:13:"), "{err}");
    assert!(err.contains("493"), "{err}");
}

#[test]
fn hydrate_writes_yaml_json_and_flat_output() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write(
        &src,
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    );
    write(
        &src,
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: shop\ndata:\n  on: \"yes\"\n",
    );
    let s = src.to_str().unwrap();
    let out = tmp.path().join("out");
    let o = nomos(&[
        "hydrate",
        "--path",
        s,
        "--source-format=unstructured",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let cm = std::fs::read_to_string(out.join("shop/configmap_app.yaml")).unwrap();
    // `on` is read as the key "true" (YAML 1.1, as kubectl reads it); the value stays a quoted string.
    assert!(cm.contains("\"true\": \"yes\""), "{cm}");
    assert!(out.join("namespace_shop.yaml").is_file());
    let outj = tmp.path().join("outj");
    assert!(
        nomos(&[
            "hydrate",
            "--path",
            s,
            "--source-format=unstructured",
            "--format=json",
            "--output",
            outj.to_str().unwrap()
        ])
        .status
        .success()
    );
    let v: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(outj.join("shop/configmap_app.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(v["kind"], "List");
    assert_eq!(v["items"][0]["metadata"]["name"], "app");
    let flat = tmp.path().join("all.yaml");
    assert!(
        nomos(&[
            "hydrate",
            "--path",
            s,
            "--source-format=unstructured",
            "--flat",
            "--output",
            flat.to_str().unwrap()
        ])
        .status
        .success()
    );
    let all = std::fs::read_to_string(flat).unwrap();
    assert_eq!(all.matches("---\n").count(), 2);
}

#[test]
fn vet_keep_output_writes_hydrated_files() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write(
        &src,
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n",
    );
    let out = tmp.path().join("kept");
    let o = nomos(&[
        "vet",
        "--path",
        src.to_str().unwrap(),
        "--source-format=unstructured",
        "--keep-output",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert!(out.join("default/configmap_app.yaml").is_file());
}

#[test]
fn version_prints_the_version() {
    let (out, _) = text(&nomos(&["version"]));
    assert_eq!(out.trim(), env!("CARGO_PKG_VERSION"));
    let (out, _) = text(&nomos(&["--version"]));
    assert!(out.contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn hydrate_rewrites_only_what_changed_and_removes_stale_files() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write(
        &src,
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
    );
    write(
        &src,
        "b.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
    );
    let out = tmp.path().join("out");
    let run = || {
        let o = nomos(&[
            "hydrate",
            "--path",
            src.to_str().unwrap(),
            "--source-format=unstructured",
            "--output",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o).1);
        text(&o).1
    };
    assert!(run().contains("wrote 2 file(s)"));
    write(&out, "stale/configmap_old.yaml", "old");
    write(
        &src,
        "b.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  k: v\n",
    );
    assert!(run().contains("wrote 1 file(s)"));
    assert!(!out.join("stale").exists(), "stale output removed");
    assert!(
        std::fs::read_to_string(out.join("default/configmap_b.yaml"))
            .unwrap()
            .contains("k: v")
    );
    assert!(run().contains("wrote 0 file(s)"));
}

#[test]
fn demo_runs_the_whole_product_on_in_process_clusters() {
    let o = nomos(&["demo"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}\n{err}");
    for want in [
        "starting 3 in-process test clusters",
        "all clusters synced",
        "drift reverted in",
        "every cluster had the commit",
        "eks-prod",
        "<root>:root-sync",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
    // `nomos status`'s layout, read back from the RootSync objects the monitor wrote: every
    // cluster SYNCED, twice (after the first sync and after the commit), never an error.
    assert_eq!(out.matches("SYNCED @").count(), 6, "{out}");
    assert!(!out.contains("ERROR") && !out.contains("PENDING"), "{out}");
}

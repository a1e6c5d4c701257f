//! `nomos plan` and `nomos sync --once` against an in-memory test cluster served on loopback.

use std::path::Path;
use std::process::{Command, Output};

use nomos_testcluster::{Cluster, ClusterConfig};
use serde_json::json;

fn nomos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nomos"))
        .args(args)
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A test cluster served on loopback for the duration of a test, with a kubeconfig file.
struct Served {
    rt: tokio::runtime::Runtime,
    cluster: Cluster,
    handle: Option<nomos_testcluster::ServeHandle>,
    tmp: tempfile::TempDir,
    kc: std::path::PathBuf,
}

impl Served {
    fn start(cluster: Cluster) -> Served {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let handle = rt
            .block_on(cluster.serve("127.0.0.1:0".parse().unwrap()))
            .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let kc = tmp.path().join("kubeconfig");
        std::fs::write(&kc, handle.kubeconfig()).unwrap();
        Served {
            rt,
            cluster,
            handle: Some(handle),
            tmp,
            kc,
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            self.rt.block_on(h.shutdown());
        }
    }
}

#[test]
fn plan_sync_and_drift_against_a_test_cluster() {
    let served = Served::start(
        Cluster::with_config(ClusterConfig {
            name: "onprem-dev".into(),
            ..Default::default()
        })
        .unwrap(),
    );
    let (cluster, tmp, kc) = (&served.cluster, &served.tmp, &served.kc);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy-examples/unstructured");
    let base = [
        "--path",
        repo.to_str().unwrap(),
        "--source-format=unstructured",
        "--kubeconfig",
        kc.to_str().unwrap(),
    ];
    let args = |cmd: &[&'static str]| -> Vec<String> {
        cmd.iter()
            .map(|s| s.to_string())
            .chain(base.iter().map(|s| s.to_string()))
            .collect()
    };
    let run = |cmd: &[&'static str]| {
        let a = args(cmd);
        nomos(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };

    // An empty cluster: everything to create (the cluster name comes from the context).
    let p = run(&["plan"]);
    assert_eq!(p.status.code(), Some(2), "{}", out(&p));
    let text = out(&p);
    assert!(text.starts_with("Cluster onprem-dev: "), "{text}");
    assert!(text.contains("+ create CustomResourceDefinition.apiextensions.k8s.io/backupschedules.platform.acme.io"), "{text}");
    assert!(
        text.contains("+ create Namespace/robotics-sandbox"),
        "dev-only namespace selected by cluster name: {text}"
    );

    let s = run(&["sync", "--once"]);
    assert!(s.status.success(), "{}", out(&s));
    assert!(out(&s).contains("0 failed"), "{}", out(&s));

    let p = run(&["plan"]);
    assert_eq!(
        p.status.code(),
        Some(0),
        "a second plan after sync is empty:\n{}",
        out(&p)
    );
    assert!(out(&p).contains("in sync: nothing to do"));

    // Drift by someone else on a declared field is planned as an update with a diff.
    let cm = cluster
        .get(
            "v1",
            "ConfigMap",
            Some("payments-api"),
            "payments-api-config",
        )
        .expect("synced ConfigMap");
    let key = cm["data"]
        .as_object()
        .unwrap()
        .keys()
        .next()
        .unwrap()
        .clone();
    cluster
        .external("kubectl-edit")
        .merge_patch(
            "v1",
            "ConfigMap",
            Some("payments-api"),
            "payments-api-config",
            &json!({"data": {key.clone(): "edited"}}),
        )
        .unwrap();
    let p = run(&["plan"]);
    assert_eq!(p.status.code(), Some(2), "{}", out(&p));
    assert!(
        out(&p).contains(&format!(
            "~ update ConfigMap/payments-api/payments-api-config: data.{key}"
        )),
        "{}",
        out(&p)
    );
    assert!(
        out(&p).contains("+  ") && out(&p).contains("-  "),
        "{}",
        out(&p)
    );
    let s = run(&["sync", "--once"]);
    assert!(s.status.success(), "{}", out(&s));
    assert_eq!(run(&["plan"]).status.code(), Some(0));

    // A source error plans nothing.
    let bad = tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n",
    )
    .unwrap();
    let o = nomos(&[
        "plan",
        "--path",
        bad.to_str().unwrap(),
        "--source-format=unstructured",
        "--kubeconfig",
        kc.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(out(&o).contains("KNV1036"), "{}", out(&o));
}

/// A source with errors must never reach a cluster, and never prune: `sync --once` refuses it.
#[test]
fn sync_refuses_a_bad_source_and_prunes_nothing() {
    let served = Served::start(Cluster::new());
    let (cluster, tmp, kc) = (&served.cluster, &served.tmp, &served.kc);
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for i in 0..3 {
        std::fs::write(
            src.join(format!("ns{i}.yaml")),
            format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-{i}\n"),
        )
        .unwrap();
    }
    let sync = || {
        nomos(&[
            "sync",
            "--once",
            "--path",
            src.to_str().unwrap(),
            "--source-format=unstructured",
            "--kubeconfig",
            kc.to_str().unwrap(),
        ])
    };
    assert!(sync().status.success());
    assert!(cluster.get("v1", "Namespace", None, "team-2").is_some());
    // Break the source: an invalid object makes the whole commit unsyncable.
    std::fs::write(
        src.join("bad.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_Valid\n",
    )
    .unwrap();
    let o = sync();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        out(&o).contains("nothing was planned or changed"),
        "{}",
        out(&o)
    );
    for i in 0..3 {
        assert!(
            cluster
                .get("v1", "Namespace", None, &format!("team-{i}"))
                .is_some(),
            "team-{i} must survive a bad source"
        );
    }
}

/// The real-world repository into an empty cluster: every CRD applied (and served) before its
/// custom resources, List documents flattened, every object present; a second sync writes nothing.
#[test]
fn kube_prometheus_syncs_into_an_empty_cluster_and_resyncs_without_writes() {
    let manifests = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/realworld/kube-prometheus/manifests");
    assert!(
        manifests.is_dir(),
        "{} is missing (shared/ lives beside the checkout)",
        manifests.display()
    );
    let served = Served::start(Cluster::new());
    let (cluster, kc) = (&served.cluster, &served.kc);
    let sync = || {
        nomos(&[
            "sync",
            "--once",
            "--path",
            manifests.to_str().unwrap(),
            "--source-format=unstructured",
            "--kubeconfig",
            kc.to_str().unwrap(),
        ])
    };

    let o = sync();
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains(" 0 failed, 0 skipped"), "{}", out(&o));
    // Custom resources exist, so their CRDs were applied and served first.
    assert!(
        cluster
            .get(
                "monitoring.coreos.com/v1",
                "Prometheus",
                Some("monitoring"),
                "k8s"
            )
            .is_some()
    );
    assert!(
        cluster
            .get(
                "monitoring.coreos.com/v1",
                "Alertmanager",
                Some("monitoring"),
                "main"
            )
            .is_some()
    );
    // Objects from List documents were flattened and applied.
    let lists = [
        "prometheus-roleBindingConfig.yaml",
        "prometheus-roleSpecificNamespaces.yaml",
        "prometheus-roleBindingSpecificNamespaces.yaml",
    ];
    for f in lists {
        let text = std::fs::read_to_string(manifests.join(f)).unwrap_or_default();
        if text.is_empty() {
            continue;
        }
        let doc = nomos_core::yaml::parse(&text, &Default::default())
            .unwrap()
            .documents
            .remove(0)
            .value;
        for item in doc["items"].as_array().cloned().unwrap_or_default() {
            let md = &item["metadata"];
            assert!(
                cluster
                    .get(
                        item["apiVersion"].as_str().unwrap(),
                        item["kind"].as_str().unwrap(),
                        md["namespace"].as_str(),
                        md["name"].as_str().unwrap()
                    )
                    .is_some(),
                "{f}: {} {} missing",
                item["kind"],
                md["name"]
            );
        }
    }
    // Every declared object is present.
    let files: Vec<nomos_core::SourceFile> = walk(&manifests);
    let r = nomos_core::vet(
        &files,
        &nomos_core::VetOptions::new(nomos_core::SourceFormat::Unstructured),
    );
    let pass = &r.passes[0];
    assert!(pass.objects.len() > 100);
    for o in &pass.objects {
        assert!(
            cluster
                .get(
                    o.api_version(),
                    o.kind(),
                    Some(o.namespace()).filter(|n| !n.is_empty()),
                    o.name()
                )
                .is_some(),
            "{} missing",
            o.id()
        );
    }
    // A second sync writes nothing.
    let rv = cluster.resource_version();
    let o = sync();
    assert!(o.status.success(), "{}", out(&o));
    assert!(
        out(&o).contains("0 applied, 0 deleted, 0 abandoned"),
        "{}",
        out(&o)
    );
    assert_eq!(
        cluster.resource_version(),
        rv,
        "the second sync wrote something"
    );
}

fn walk(root: &Path) -> Vec<nomos_core::SourceFile> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(root).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if nomos_core::read::wants_file(&rel, nomos_core::SourceFormat::Unstructured) {
                out.push(nomos_core::SourceFile::new(
                    rel,
                    std::fs::read(e.path()).unwrap(),
                ));
            }
        }
    }
    out
}

/// Create, adopt, conflict, mutation: ignore, prune, deletion: detach, special namespaces,
/// managed: disabled, and unmanaged objects in managed namespaces, end to end.
#[test]
fn lifecycle_rules_end_to_end() {
    let served = Served::start(Cluster::new());
    let (cluster, tmp, kc) = (&served.cluster, &served.tmp, &served.kc);
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let put = |name: &str, text: &str| std::fs::write(src.join(name), text).unwrap();
    let rm = |name: &str| std::fs::remove_file(src.join(name)).unwrap();
    let cm = |name: &str, annotations: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: shop\n{annotations}data:\n  k: declared\n"
        )
    };
    let ext = cluster.external("kubectl");
    // Already on the cluster: one to adopt, one stranger, one managed by another reconciler.
    let create = |name: &str, annotations: serde_json::Value| {
        ext.create(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "shop", "annotations": annotations}, "data": {"k": "old"}}))
            .unwrap()
    };
    ext.create(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}))
        .unwrap();
    create("adopt-me", json!({}));
    create("stranger", json!({}));
    create(
        "theirs",
        json!({"configmanagement.gke.io/managed": "enabled", "configsync.gke.io/resource-id": "_configmap_shop_theirs", "configsync.gke.io/manager": ":root_other"}),
    );

    put(
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
    );
    put(
        "default.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: default\n",
    );
    put("a.yaml", &cm("a", ""));
    put(
        "b.yaml",
        &cm(
            "b",
            "  annotations:\n    client.lifecycle.config.k8s.io/deletion: detach\n",
        ),
    );
    put(
        "c.yaml",
        &cm(
            "c",
            "  annotations:\n    client.lifecycle.config.k8s.io/mutation: ignore\n",
        ),
    );
    put("adopt.yaml", &cm("adopt-me", ""));
    put("theirs.yaml", &cm("theirs", ""));
    let sync = || {
        nomos(&[
            "sync",
            "--once",
            "--path",
            src.to_str().unwrap(),
            "--source-format=unstructured",
            "--kubeconfig",
            kc.to_str().unwrap(),
        ])
    };
    let get = |name: &str| cluster.get("v1", "ConfigMap", Some("shop"), name);
    let managed = |v: &serde_json::Value| {
        v["metadata"]["annotations"]["configmanagement.gke.io/managed"] == "enabled"
    };

    let o = sync();
    assert_eq!(
        o.status.code(),
        Some(1),
        "the conflict is an error:\n{}",
        out(&o)
    );
    assert!(out(&o).contains("KNV1060"), "{}", out(&o));
    assert_eq!(
        get("theirs").unwrap()["data"]["k"],
        "old",
        "the other reconciler keeps its object"
    );
    assert!(managed(&get("a").unwrap()));
    let adopted = get("adopt-me").unwrap();
    assert!(
        managed(&adopted) && adopted["data"]["k"] == "declared",
        "adopted: {adopted}"
    );
    assert!(
        get("stranger").unwrap()["metadata"]
            .get("annotations")
            .is_none_or(|a| a.get("configmanagement.gke.io/managed").is_none()),
        "unmanaged objects are untouched"
    );

    rm("theirs.yaml");
    assert!(sync().status.success());
    // mutation: ignore — an edit on the cluster stays.
    ext.merge_patch(
        "v1",
        "ConfigMap",
        Some("shop"),
        "c",
        &json!({"data": {"k": "edited"}}),
    )
    .unwrap();
    assert!(sync().status.success());
    assert_eq!(get("c").unwrap()["data"]["k"], "edited");

    // Prune: a is deleted; b (deletion: detach) and the special namespace default are abandoned.
    rm("a.yaml");
    rm("b.yaml");
    rm("default.yaml");
    let o = sync();
    assert!(o.status.success(), "{}", out(&o));
    assert!(get("a").is_none(), "a pruned");
    let b = get("b").expect("b is left on the cluster");
    assert!(!managed(&b), "b abandoned: {b}");
    let default_ns = cluster
        .get("v1", "Namespace", None, "default")
        .expect("default namespace stays");
    assert!(
        default_ns["metadata"]
            .get("annotations")
            .is_none_or(|a| a.get("configsync.gke.io/resource-id").is_none()),
        "{default_ns}"
    );
    assert!(get("stranger").is_some());

    // managed: disabled — stop managing, strip our metadata, keep the object.
    put(
        "adopt.yaml",
        &cm(
            "adopt-me",
            "  annotations:\n    configmanagement.gke.io/managed: disabled\n",
        ),
    );
    assert!(sync().status.success());
    let a = get("adopt-me").expect("kept");
    assert!(
        a["metadata"]["annotations"]
            .get("configsync.gke.io/resource-id")
            .is_none(),
        "{a}"
    );
}

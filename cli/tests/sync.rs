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

#[test]
fn plan_sync_and_drift_against_a_test_cluster() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cluster = Cluster::with_config(ClusterConfig {
        name: "onprem-dev".into(),
        ..Default::default()
    })
    .unwrap();
    let served = rt
        .block_on(cluster.serve("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let kc = tmp.path().join("kubeconfig");
    std::fs::write(&kc, served.kubeconfig()).unwrap();
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
    rt.block_on(served.shutdown());
}

/// A source with errors must never reach a cluster, and never prune: `sync --once` refuses it.
#[test]
fn sync_refuses_a_bad_source_and_prunes_nothing() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cluster = Cluster::new();
    let served = rt
        .block_on(cluster.serve("127.0.0.1:0".parse().unwrap()))
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let kc = tmp.path().join("kubeconfig");
    std::fs::write(&kc, served.kubeconfig()).unwrap();
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
    rt.block_on(served.shutdown());
}

//! nomos-cluster against the in-memory API server (nomos-testcluster, in process).

use std::sync::Arc;
use std::time::Duration;

use nomos_cluster::{
    ClusterClient, ExecOptions, ExecReport, InstantSleeper, Outcome, RetryPolicy, execute,
};
use nomos_core::desired::{self, DesiredState};
use nomos_core::plan::{Plan, PlanOptions, plan};
use nomos_core::{Gvk, SourceFile, SourceFormat, VetOptions, vet};
use nomos_testcluster::{Cluster, Fault};
use serde_json::{Value, json};

fn desired(files: &[(&str, &str)]) -> DesiredState {
    let files: Vec<SourceFile> = files.iter().map(|(p, c)| SourceFile::new(*p, *c)).collect();
    let result = vet(&files, &VetOptions::new(SourceFormat::Unstructured));
    assert!(!result.passes.is_empty(), "vet failed");
    desired::build(
        &result.passes[0],
        |o| result.repository.scope_of(o),
        &Default::default(),
    )
}

fn setup() -> (Cluster, ClusterClient) {
    let cluster = Cluster::new();
    let client = ClusterClient::from_client(kube::Client::new(cluster.service(), "default"))
        .with_cluster_name("test");
    (cluster, client)
}

fn opts() -> (ExecOptions, Arc<InstantSleeper>) {
    let sleeper = Arc::new(InstantSleeper::new());
    let opts = ExecOptions {
        sleeper: sleeper.clone(),
        ..ExecOptions::default()
    };
    (opts, sleeper)
}

fn gvk(api: &str, kind: &str) -> Gvk {
    Gvk::from_api_version(api, kind)
}

/// Live objects of the kinds in `state` (ours and everybody else's).
async fn live(client: &ClusterClient, state: &DesiredState) -> Vec<Value> {
    let mut kinds: Vec<Gvk> = state.objects.iter().map(|d| d.gvk.clone()).collect();
    kinds.push(gvk("v1", "Namespace"));
    kinds.sort();
    kinds.dedup();
    let mut out = Vec::new();
    for k in kinds {
        out.extend(client.list(&k, "").await.unwrap());
    }
    out
}

fn outcome<'a>(r: &'a ExecReport, id: &str) -> &'a Outcome {
    &r.items
        .iter()
        .find(|i| i.id.to_string() == id)
        .unwrap_or_else(|| panic!("{id} not in report {r:#?}"))
        .outcome
}

const CM: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: shop\ndata:\n  k: v\n";
const CM2: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n  namespace: shop\ndata:\n  k: v\n";

#[tokio::test]
async fn apply_creates_and_reapply_is_a_noop() {
    let (cluster, client) = setup();
    let (opts, _) = opts();
    let state = desired(&[("cm.yaml", CM)]);
    let p = plan(&state, &[], &PlanOptions::default());
    let report = execute(&p, &client, &opts).await;
    assert!(report.is_success(), "{report:#?}");
    assert_eq!((report.applies, report.retries), (2, 0));

    let got = client
        .get(&gvk("v1", "ConfigMap"), Some("shop"), "app")
        .await
        .unwrap()
        .expect("created");
    assert_eq!(got["data"]["k"], "v");
    let managers: Vec<&str> = got["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(managers, ["configsync.gke.io"]);
    let rv = got["metadata"]["resourceVersion"].clone();
    let cluster_rv = cluster.resource_version();

    // Same plan again: server-side apply of identical content changes nothing.
    let again = execute(&p, &client, &opts).await;
    assert!(again.is_success());
    let got = client
        .get(&gvk("v1", "ConfigMap"), Some("shop"), "app")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got["metadata"]["resourceVersion"], rv);
    assert_eq!(cluster.resource_version(), cluster_rv);

    // And the planner, fed what the cluster says, has nothing left to do.
    assert!(
        plan(
            &state,
            &live(&client, &state).await,
            &PlanOptions::default()
        )
        .is_empty()
    );
    // Missing objects are None.
    assert!(
        client
            .get(&gvk("v1", "ConfigMap"), Some("shop"), "nope")
            .await
            .unwrap()
            .is_none()
    );
}

const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    kind: Widget
    plural: widgets
    singular: widget
    listKind: WidgetList
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;
const WIDGET: &str = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: shop\nspec:\n  size: 3\n";

#[tokio::test]
async fn crd_then_custom_resource_in_one_plan() {
    let (_cluster, client) = setup();
    let (opts, _) = opts();
    client.refresh_discovery().await.unwrap();
    let widget = gvk("example.com/v1", "Widget");
    assert!(matches!(
        client.resolve(&widget).await,
        Err(nomos_cluster::Error::UnknownKind { .. })
    ));

    let state = desired(&[("crd.yaml", CRD), ("w.yaml", WIDGET)]);
    let p = plan(&state, &[], &PlanOptions::default());
    let w = p.items.iter().find(|i| i.id.kind == "Widget").unwrap();
    assert!(
        w.depends_on
            .iter()
            .any(|d| d.kind == "CustomResourceDefinition")
    );

    let report = execute(&p, &client, &opts).await;
    assert!(report.is_success(), "{report:#?}");
    let got = client
        .get(&widget, Some("shop"), "w")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got["spec"]["size"], 3);
    let m = client.mapper().cached(&widget).unwrap();
    assert!(m.namespaced);
    assert_eq!(m.resource.plural, "widgets");
}

#[tokio::test]
async fn delete_and_list_by_applyset_label() {
    let (_cluster, client) = setup();
    let (opts, _) = opts();
    let popts = PlanOptions::default();
    let state = desired(&[("a.yaml", CM), ("b.yaml", CM2)]);
    assert!(
        execute(&plan(&state, &[], &popts), &client, &opts)
            .await
            .is_success()
    );

    // Someone else's ConfigMap in the same namespace is not part of our ApplySet.
    client
        .apply(
            &json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "theirs", "namespace": "shop"}}),
            "kubectl",
            false,
        )
        .await
        .unwrap();
    let selector = format!(
        "applyset.kubernetes.io/part-of={}",
        popts.sync.applyset_id()
    );
    let cms = gvk("v1", "ConfigMap");
    let mut names: Vec<String> = client
        .list(&cms, &selector)
        .await
        .unwrap()
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["app", "other"]);
    assert_eq!(client.list(&cms, "").await.unwrap().len(), 3);
    // List items carry apiVersion and kind (the planner needs them).
    assert!(
        client
            .list(&cms, &selector)
            .await
            .unwrap()
            .iter()
            .all(|o| o["apiVersion"] == "v1" && o["kind"] == "ConfigMap")
    );

    // Drop `other` from the source: the plan deletes it.
    let state = desired(&[("a.yaml", CM)]);
    let p = plan(&state, &live(&client, &state).await, &popts);
    assert_eq!(p.count("delete"), 1, "{p:#?}");
    let report = execute(&p, &client, &opts).await;
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(report.deletes, 1);
    assert!(
        client
            .get(&cms, Some("shop"), "other")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        client
            .get(&cms, Some("shop"), "theirs")
            .await
            .unwrap()
            .is_some()
    );
    // Deleting what is gone is not an error.
    assert_eq!(
        client.delete(&cms, Some("shop"), "other").await.unwrap(),
        nomos_cluster::Deleted::NotFound
    );
}

#[tokio::test]
async fn abandon_strips_only_config_sync_metadata() {
    let (cluster, client) = setup();
    let (opts, _) = opts();
    let popts = PlanOptions::default();
    let state = desired(&[("cm.yaml", CM)]);
    assert!(
        execute(&plan(&state, &[], &popts), &client, &opts)
            .await
            .is_success()
    );
    cluster
        .external("kubectl-edit")
        .merge_patch(
            "v1",
            "ConfigMap",
            Some("shop"),
            "app",
            &json!({"metadata": {"labels": {"team": "a"}, "annotations": {"note": "keep"}}}),
        )
        .unwrap();

    // Declared `managed: disabled`: the plan abandons the object.
    let disabled = CM.replace(
        "  namespace: shop\n",
        "  namespace: shop\n  annotations:\n    configmanagement.gke.io/managed: disabled\n",
    );
    let state = desired(&[("cm.yaml", &disabled)]);
    let p = plan(&state, &live(&client, &state).await, &popts);
    assert_eq!(p.count("abandon"), 1, "{p:#?}");
    let report = execute(&p, &client, &opts).await;
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(report.abandons, 1);

    let got = client
        .get(&gvk("v1", "ConfigMap"), Some("shop"), "app")
        .await
        .unwrap()
        .unwrap();
    let md = &got["metadata"];
    assert_eq!(md["labels"], json!({"team": "a"}), "{md:#}");
    assert_eq!(md["annotations"], json!({"note": "keep"}), "{md:#}");
    assert_eq!(got["data"]["k"], "v");
    assert!(!nomos_core::plan::has_config_sync_metadata(&got));
    // Abandoning again has nothing to remove and writes nothing.
    let rv = cluster.resource_version();
    client.abandon(&got, &popts.sync).await.unwrap();
    assert_eq!(cluster.resource_version(), rv);
}

#[tokio::test]
async fn transient_faults_are_retried_to_success() {
    let (cluster, client) = setup();
    let (opts, sleeper) = opts();
    cluster.faults().inject(
        Fault::error(503)
            .verb("patch")
            .resource("configmaps")
            .times(2),
    );
    cluster.faults().inject(
        Fault::error(429)
            .verb("patch")
            .resource("namespaces")
            .times(1),
    );
    let state = desired(&[("cm.yaml", CM)]);
    let report = execute(&plan(&state, &[], &PlanOptions::default()), &client, &opts).await;
    assert!(report.is_success(), "{report:#?}");
    assert_eq!(report.retries, 3);
    let cm = report
        .items
        .iter()
        .find(|i| i.id.to_string() == "ConfigMap/shop/app");
    assert_eq!(cm.unwrap().retries, 2);
    let slept = sleeper.slept();
    assert_eq!(slept.len(), 3);
    // The 429 carried retryAfterSeconds: 1, which is honoured.
    assert_eq!(slept[0], Duration::from_secs(1));
    assert!(
        client
            .get(&gvk("v1", "ConfigMap"), Some("shop"), "app")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn permanent_errors_are_not_retried_and_do_not_stop_others() {
    let (cluster, client) = setup();
    let (opts, sleeper) = opts();
    cluster.faults().inject(
        Fault::error(422)
            .verb("patch")
            .resource("configmaps")
            .times(1),
    );
    cluster
        .faults()
        .inject(Fault::error(400).verb("patch").resource("secrets").times(1));
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: shop\n";
    let role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: r\n  namespace: shop\nrules: []\n";
    let state = desired(&[("cm.yaml", CM), ("s.yaml", secret), ("r.yaml", role)]);
    let report = execute(&plan(&state, &[], &PlanOptions::default()), &client, &opts).await;
    assert_eq!(
        (report.failed, report.skipped, report.retries),
        (2, 0, 0),
        "{report:#?}"
    );
    assert!(sleeper.slept().is_empty());
    match outcome(&report, "ConfigMap/shop/app") {
        Outcome::Failed { message, status } => {
            assert!(
                message.starts_with("failed to apply ConfigMap/shop/app: "),
                "{message}"
            );
            assert_eq!(*status, Some(422));
        }
        o => panic!("{o:?}"),
    }
    assert!(matches!(
        outcome(&report, "Secret/shop/s"),
        Outcome::Failed {
            status: Some(400),
            ..
        }
    ));
    assert_eq!(
        outcome(&report, "Role.rbac.authorization.k8s.io/shop/r"),
        &Outcome::Ok
    );
    let errors = report.errors();
    assert_eq!(errors.len(), 2);
    assert!(errors.iter().all(|e| e.code.knv() == "KNV2009"));
}

#[tokio::test]
async fn a_failed_dependency_skips_its_dependents() {
    let (cluster, client) = setup();
    let (opts, _) = opts();
    cluster
        .faults()
        .inject(Fault::error(403).verb("patch").resource("namespaces"));
    let other_ns = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: default\n";
    let default_ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: default\n";
    let state = desired(&[
        ("cm.yaml", CM),
        ("x.yaml", other_ns),
        ("ns.yaml", default_ns),
    ]);
    let report = execute(&plan(&state, &[], &PlanOptions::default()), &client, &opts).await;
    assert!(matches!(
        outcome(&report, "Namespace/shop"),
        Outcome::Failed { .. }
    ));
    match outcome(&report, "ConfigMap/shop/app") {
        Outcome::Skipped { dependency } => assert_eq!(dependency.to_string(), "Namespace/shop"),
        o => panic!("{o:?}"),
    }
    assert_eq!(report.skipped, 2, "{report:#?}");
    assert!(!report.is_success());
    assert!(
        client
            .get(&gvk("v1", "ConfigMap"), Some("shop"), "app")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn retries_are_bounded() {
    let (cluster, client) = setup();
    let (mut opts, sleeper) = opts();
    opts.retry = RetryPolicy {
        max_attempts: 3,
        ..RetryPolicy::default()
    };
    cluster.faults().inject(Fault::error(503).verb("patch"));
    let state = desired(&[("cm.yaml", CM)]);
    let report = execute(&plan(&state, &[], &PlanOptions::default()), &client, &opts).await;
    // The Namespace fails after 3 attempts; the ConfigMap is skipped.
    assert_eq!((report.failed, report.skipped, report.retries), (1, 1, 2));
    assert_eq!(sleeper.slept().len(), 2);
}

#[tokio::test]
async fn from_kubeconfig_over_loopback() {
    let cluster = Cluster::new();
    let served = cluster.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, served.kubeconfig()).unwrap();
    let client = ClusterClient::from_kubeconfig(Some(&path), None)
        .await
        .unwrap();
    assert!(!client.cluster_name().is_empty());
    assert!(client.context_name().is_some());
    let (opts, _) = opts();
    let state = desired(&[("cm.yaml", CM)]);
    let report = execute(&plan(&state, &[], &PlanOptions::default()), &client, &opts).await;
    assert!(report.is_success(), "{report:#?}");
    assert!(
        ClusterClient::from_kubeconfig(Some(&path), Some("no-such-context"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn empty_plan_is_a_noop() {
    let (_c, client) = setup();
    let report = execute(&Plan::default(), &client, &ExecOptions::default()).await;
    assert!(report.is_success() && report.items.is_empty());
}

/// An https cluster: the rustls client config builds (the `ring` provider is found without
/// any process-wide installation) and an unreachable server is a transient error.
#[tokio::test]
async fn https_kubeconfig_builds_a_tls_client() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://127.0.0.1:1\n    insecure-skip-tls-verify: true\ncontexts:\n- name: prod-admin\n  context:\n    cluster: prod\n    user: admin\ncurrent-context: prod-admin\nusers:\n- name: admin\n  user:\n    token: t\n",
    )
    .unwrap();
    let client = ClusterClient::from_kubeconfig(Some(&path), None)
        .await
        .unwrap();
    assert_eq!(client.cluster_name(), "prod");
    assert_eq!(client.context_name(), Some("prod-admin"));
    let err = client.refresh_discovery().await.unwrap_err();
    assert_eq!(
        nomos_cluster::retry::Classify::retry(&err),
        nomos_cluster::Retry::Backoff,
        "{err:?}"
    );
}

/// `execute` can run inside a spawned task (its future is `Send`).
#[tokio::test]
async fn execute_is_send() {
    let c = nomos_testcluster::Cluster::new();
    let client =
        nomos_cluster::ClusterClient::from_client(kube::Client::new(c.service(), "default"));
    let plan = nomos_core::plan::Plan::default();
    let report = tokio::spawn(async move {
        nomos_cluster::execute(&plan, &client, &nomos_cluster::ExecOptions::default()).await
    })
    .await
    .unwrap();
    assert!(report.is_success());
}

/// A malformed plan item (an apply without its object, a delete without anything naming the
/// kind) fails on its own, with what is wrong; the items beside it are carried out.
#[tokio::test]
async fn a_malformed_item_fails_alone() {
    use nomos_core::ObjectId;
    use nomos_core::plan::{Action, PlanItem};
    let (cluster, client) = setup();
    let (opts, _) = opts();
    let ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n";
    let state = desired(&[("ns.yaml", ns), ("cm.yaml", CM)]);
    let good = plan(&state, &[], &PlanOptions::default());
    let id = |kind: &str, name: &str| ObjectId {
        group: String::new(),
        kind: kind.into(),
        namespace: "shop".into(),
        name: name.into(),
    };
    let bad = |id: ObjectId, action: Action| PlanItem {
        id,
        action,
        wave: 1,
        desired: None,
        live: None,
        depends_on: Vec::new(),
    };
    let mut p = good.clone();
    p.items
        .push(bad(id("ConfigMap", "no-object"), Action::Create));
    p.items
        .push(bad(id("ConfigMap", "no-kind"), Action::Delete));
    let report = execute(&p, &client, &opts).await;
    for (name, why) in [
        (
            "ConfigMap/shop/no-object",
            "plan item has no desired object",
        ),
        ("ConfigMap/shop/no-kind", "plan item has no live object"),
    ] {
        match outcome(&report, name) {
            Outcome::Failed { message, .. } => {
                assert!(message.contains(why), "{name}: {message}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    assert_eq!(report.failed, 2);
    assert_eq!(report.applies, good.items.len());
    assert!(
        cluster
            .get("v1", "ConfigMap", Some("shop"), "app")
            .is_some()
    );
}

//! RootSync CRD, object and status against in-memory clusters (nomos-testcluster).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nomos_cluster::{ClusterClient, InstantSleeper};
use nomos_core::GroupKind;
use nomos_monitor::report::parse_group_kinds;
use nomos_monitor::rootsync::{
    self, APPLYSET_CONTAINS_GROUP_KINDS, APPLYSET_ID, APPLYSET_TOOLING, CRD_NAME, WaitOptions,
};
use nomos_monitor::{
    ClusterReport, CrdOutcome, ErrorResource, Publisher, ReportError, RootSyncSpec, SourceSpec,
    StatusLimits, SyncRef, ensure_crd, ensure_root_sync, report_from_root_sync, write_status,
};
use nomos_testcluster::{Cluster, Fault};
use serde_json::{Value, json};

fn client(c: &Cluster) -> ClusterClient {
    ClusterClient::from_client(kube::Client::new(c.service(), "default")).with_cluster_name("test")
}

fn crd_of(c: &Cluster) -> Option<Value> {
    c.get(
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        None,
        CRD_NAME,
    )
}

fn root_sync(c: &Cluster) -> Option<Value> {
    c.get(
        "configsync.gke.io/v1beta1",
        "RootSync",
        Some("config-management-system"),
        "root-sync",
    )
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn source() -> SourceSpec {
    SourceSpec {
        source_format: "unstructured".into(),
        repo: "https://git.example/platform/policy.git".into(),
        branch: "main".into(),
        dir: "clusters/prod".into(),
        period: "15s".into(),
        auth: "none".into(),
        ..SourceSpec::default()
    }
}

fn report() -> ClusterReport {
    let mut r = ClusterReport::new("prod");
    r.source = source();
    r.managed_group_kinds = parse_group_kinds("Namespace,ConfigMap,Deployment.apps");
    r.source_commit = Some("0123456789abcdef0123456789abcdef01234567".into());
    r.synced_commit = r.source_commit.clone();
    r.last_sync = Some(at(1_705_314_600));
    r.updated = Some(at(1_705_314_601));
    r.managed_objects = 3;
    r.reachable = true;
    r
}

#[tokio::test]
async fn crd_is_registered_when_missing_and_served_in_both_versions() {
    let cluster = Cluster::new();
    let c = client(&cluster);
    assert!(crd_of(&cluster).is_none());
    assert_eq!(ensure_crd(&c).await.unwrap(), CrdOutcome::Created);
    let crd = crd_of(&cluster).expect("the CRD exists");
    assert_eq!(crd["spec"]["group"], "configsync.gke.io");
    for version in ["v1beta1", "v1alpha1"] {
        let gvk = nomos_core::Gvk {
            group: "configsync.gke.io".into(),
            version: version.into(),
            kind: "RootSync".into(),
        };
        let m = c.mapper().cached(&gvk).expect("served");
        assert!(m.namespaced, "{version}");
    }
}

#[tokio::test]
async fn crd_present_is_not_recreated_or_changed() {
    let cluster = Cluster::new();
    // Someone installed Config Sync's CRD already (here: a reduced one with v1beta1 only).
    let mut theirs = rootsync::crd();
    theirs["spec"]["versions"] = json!([theirs["spec"]["versions"][1].clone()]);
    cluster.external("installer").create(&theirs).unwrap();
    let before = crd_of(&cluster).unwrap();
    assert_eq!(
        ensure_crd(&client(&cluster)).await.unwrap(),
        CrdOutcome::AlreadyPresent
    );
    // A second monitor process (fresh discovery cache) leaves it alone too.
    assert_eq!(
        ensure_crd(&client(&cluster)).await.unwrap(),
        CrdOutcome::AlreadyPresent
    );
    let after = crd_of(&cluster).unwrap();
    assert_eq!(after["metadata"]["uid"], before["metadata"]["uid"]);
    assert_eq!(
        after["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
    assert_eq!(after["spec"]["versions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_crd_that_does_not_serve_v1beta1_fails_after_waiting() {
    let cluster = Cluster::new();
    // An old CRD: v1alpha1 only (v1beta1 defined but not served).
    let mut old = rootsync::crd();
    old["spec"]["versions"][0]["storage"] = json!(true);
    old["spec"]["versions"][1]["storage"] = json!(false);
    old["spec"]["versions"][1]["served"] = json!(false);
    cluster.external("installer").create(&old).unwrap();
    let sleeper = Arc::new(InstantSleeper::new());
    let wait = WaitOptions {
        attempts: 3,
        delay: Duration::from_millis(100),
        sleeper: sleeper.clone(),
    };
    let err = rootsync::ensure_crd_with(&client(&cluster), &wait)
        .await
        .unwrap_err();
    assert!(
        matches!(err, nomos_monitor::Error::NotServed { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("configsync.gke.io/v1beta1, Kind=RootSync"),
        "{err}"
    );
    assert_eq!(sleeper.slept(), vec![Duration::from_millis(100); 2]);
    // The CRD was not touched.
    assert_eq!(
        crd_of(&cluster).unwrap()["spec"]["versions"][1]["served"],
        false
    );
}

#[tokio::test]
async fn root_sync_is_created_with_the_applyset_parent_metadata() {
    let cluster = Cluster::new();
    let c = client(&cluster);
    ensure_crd(&c).await.unwrap();
    assert!(
        cluster
            .get("v1", "Namespace", None, "config-management-system")
            .is_none()
    );
    let spec = RootSyncSpec::from(&report());
    ensure_root_sync(&c, &spec).await.unwrap();
    assert!(
        cluster
            .get("v1", "Namespace", None, "config-management-system")
            .is_some(),
        "the namespace is created"
    );
    let rs = root_sync(&cluster).expect("root-sync exists");
    let applyset = nomos_core::desired::SyncIdentity::default().applyset_id();
    assert_eq!(rs["metadata"]["labels"][APPLYSET_ID], applyset.as_str());
    assert_eq!(
        rs["metadata"]["annotations"][APPLYSET_TOOLING],
        "configsync.gke.io/v1"
    );
    assert_eq!(
        rs["metadata"]["annotations"][APPLYSET_CONTAINS_GROUP_KINDS],
        "ConfigMap,Deployment.apps,Namespace"
    );
    assert_eq!(rs["spec"]["sourceType"], "git");
    assert_eq!(rs["spec"]["sourceFormat"], "unstructured");
    assert_eq!(
        rs["spec"]["git"],
        json!({"repo": "https://git.example/platform/policy.git", "branch": "main",
               "dir": "clusters/prod", "period": "15s", "auth": "none"})
    );
    // The id is the one nomos-core stamps as `applyset.kubernetes.io/part-of` on managed
    // objects (`desired::build` uses `StampOptions::sync.applyset_id()`).
    assert_eq!(applyset, SyncRef::default().applyset_id());

    // Re-applying the same spec changes nothing; new group-kinds update the annotation.
    let rv = rs["metadata"]["resourceVersion"].clone();
    ensure_root_sync(&c, &spec).await.unwrap();
    assert_eq!(
        root_sync(&cluster).unwrap()["metadata"]["resourceVersion"],
        rv
    );
    let mut more = spec.clone();
    more.group_kinds
        .insert(GroupKind::new("rbac.authorization.k8s.io", "ClusterRole"));
    ensure_root_sync(&c, &more).await.unwrap();
    assert_eq!(
        root_sync(&cluster).unwrap()["metadata"]["annotations"][APPLYSET_CONTAINS_GROUP_KINDS],
        "ClusterRole.rbac.authorization.k8s.io,ConfigMap,Deployment.apps,Namespace"
    );
}

#[tokio::test]
async fn status_is_written_and_read_back() {
    let cluster = Cluster::new();
    let c = client(&cluster);
    ensure_crd(&c).await.unwrap();
    let mut r = report();
    ensure_root_sync(&c, &RootSyncSpec::from(&r)).await.unwrap();

    // Synced.
    write_status(&c, &r, &StatusLimits::default())
        .await
        .unwrap();
    let rs = root_sync(&cluster).unwrap();
    let st = &rs["status"];
    assert_eq!(st["observedGeneration"], rs["metadata"]["generation"]);
    assert_eq!(st["reconciler"], "root-reconciler");
    assert_eq!(st["lastSyncedCommit"], r.synced_commit.as_deref().unwrap());
    assert_eq!(st["source"]["commit"], r.source_commit.as_deref().unwrap());
    assert_eq!(st["sync"]["commit"], r.synced_commit.as_deref().unwrap());
    assert_eq!(st["sync"]["lastUpdate"], "2024-01-15T10:30:00Z");
    assert_eq!(
        st["source"]["gitStatus"],
        json!({"repo": "https://git.example/platform/policy.git", "revision": "HEAD",
               "branch": "main", "dir": "clusters/prod"})
    );
    assert!(st["sync"].get("errors").is_none());
    let conds = st["conditions"].as_array().unwrap();
    let cond = |t: &str| conds.iter().find(|c| c["type"] == t).unwrap().clone();
    assert_eq!(cond("Reconciling")["status"], "False");
    assert_eq!(cond("Stalled")["status"], "False");
    assert_eq!(cond("Syncing")["status"], "False");
    assert_eq!(cond("Syncing")["message"], "Sync Completed");
    let mut back = report_from_root_sync("prod", &rs);
    back.managed_objects = r.managed_objects;
    assert_eq!(back, r);

    // A new commit with a source error and a sync error about an object.
    r.source_commit = Some("fedcba9876543210fedcba9876543210fedcba98".into());
    r.updated = Some(at(1_705_315_000));
    r.source_errors =
        vec![
            ReportError::new("KNV1009", "bad namespace").with_resource(ErrorResource {
                source_path: "clusters/prod/cm.yaml".into(),
                name: "cm".into(),
                namespace: "other".into(),
                group: String::new(),
                version: "v1".into(),
                kind: "ConfigMap".into(),
            }),
        ];
    r.sync_errors = vec![
        ReportError::new("KNV2009", "apply failed")
            .with_resource(ErrorResource::from_object_ref("Deployment.apps/shop/web").unwrap()),
    ];
    write_status(&c, &r, &StatusLimits::default())
        .await
        .unwrap();
    let rs = root_sync(&cluster).unwrap();
    let st = &rs["status"];
    let e = &st["source"]["errors"][0];
    assert_eq!(e["code"], "1009");
    assert!(
        e["errorMessage"]
            .as_str()
            .unwrap()
            .starts_with("KNV1009: bad namespace")
    );
    assert_eq!(
        e["errorResources"][0],
        json!({"sourcePath": "clusters/prod/cm.yaml", "name": "cm", "namespace": "other",
               "gvk": {"group": "", "version": "v1", "kind": "ConfigMap"}})
    );
    assert_eq!(
        st["source"]["errorSummary"],
        json!({"totalCount": 1, "truncated": false, "errorCountAfterTruncation": 1})
    );
    assert_eq!(st["sync"]["errors"][0]["code"], "2009");
    let syncing = st["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Syncing")
        .unwrap();
    assert_eq!(syncing["status"], "False");
    assert_eq!(syncing["reason"], "Source");
    assert_eq!(
        syncing["errorSourceRefs"],
        json!(["status.source.errors", "status.sync.errors"])
    );
    assert_eq!(syncing["errorSummary"]["totalCount"], 2);
    let mut back = report_from_root_sync("prod", &rs);
    back.managed_objects = r.managed_objects;
    assert_eq!(back, r);

    // Fixed: the error lists disappear (server-side apply removes what is no longer sent).
    r.source_errors.clear();
    r.sync_errors.clear();
    r.synced_commit = r.source_commit.clone();
    write_status(&c, &r, &StatusLimits::default())
        .await
        .unwrap();
    let st = root_sync(&cluster).unwrap()["status"].clone();
    assert!(st["source"].get("errors").is_none(), "{st:#}");
    assert!(st["sync"].get("errors").is_none(), "{st:#}");
    assert_eq!(st["source"]["errorSummary"], json!({}));
}

#[tokio::test]
async fn long_error_lists_are_truncated() {
    let cluster = Cluster::new();
    let c = client(&cluster);
    ensure_crd(&c).await.unwrap();
    let mut r = report();
    ensure_root_sync(&c, &RootSyncSpec::from(&r)).await.unwrap();
    r.sync_errors = (0..150)
        .map(|i| ReportError::new("2009", format!("failed to apply object {i:03}")))
        .collect();
    let limits = StatusLimits {
        max_errors: 20,
        max_bytes: 1 << 20,
    };
    write_status(&c, &r, &limits).await.unwrap();
    let st = root_sync(&cluster).unwrap()["status"].clone();
    assert_eq!(st["sync"]["errors"].as_array().unwrap().len(), 20);
    assert_eq!(
        st["sync"]["errorSummary"],
        json!({"totalCount": 150, "truncated": true, "errorCountAfterTruncation": 20})
    );
    let back = report_from_root_sync("prod", &root_sync(&cluster).unwrap());
    assert_eq!(back.sync_errors.len(), 20);
    assert_eq!(back.sync_errors[0].message, "failed to apply object 000");

    // The API server refuses the write as too large once: half the errors are kept.
    cluster.faults().inject(
        Fault::error(413)
            .verb("patch")
            .resource("rootsyncs")
            .times(1),
    );
    r.sync_errors.push(ReportError::new("2009", "one more"));
    write_status(&c, &r, &limits).await.unwrap();
    let st = root_sync(&cluster).unwrap()["status"].clone();
    assert_eq!(st["sync"]["errors"].as_array().unwrap().len(), 10);
    assert_eq!(st["sync"]["errorSummary"]["totalCount"], 151);
    assert_eq!(st["sync"]["errorSummary"]["errorCountAfterTruncation"], 10);
}

#[tokio::test]
async fn stalled_is_a_condition() {
    let cluster = Cluster::new();
    let c = client(&cluster);
    ensure_crd(&c).await.unwrap();
    let mut r = report();
    r.stalled = Some("the source cannot be read: permission denied".into());
    ensure_root_sync(&c, &RootSyncSpec::from(&r)).await.unwrap();
    write_status(&c, &r, &StatusLimits::default())
        .await
        .unwrap();
    let rs = root_sync(&cluster).unwrap();
    let stalled = rootsync::find_condition(&rs, "Stalled").unwrap();
    assert_eq!(stalled["status"], "True");
    assert_eq!(
        stalled["message"],
        "the source cannot be read: permission denied"
    );
    assert_eq!(report_from_root_sync("prod", &rs).stalled, r.stalled);
}

#[tokio::test]
async fn write_status_without_root_sync_says_what_to_do() {
    let cluster = Cluster::new();
    let c = client(&cluster);
    ensure_crd(&c).await.unwrap();
    let err = write_status(&c, &report(), &StatusLimits::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("config-management-system/root-sync does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn publisher_writes_only_changes_and_recreates_what_was_deleted() {
    let cluster = Cluster::new();
    let mut p = Publisher::new(client(&cluster));
    let mut r = report();
    let first = p.publish(&r).await.unwrap();
    assert!(first.crd_created && first.root_sync_applied && first.status_written);
    // Counters and the report time alone do not rewrite anything.
    r.counters.applies += 10;
    r.updated = Some(at(1_705_399_999));
    let rv = root_sync(&cluster).unwrap()["metadata"]["resourceVersion"].clone();
    let second = p.publish(&r).await.unwrap();
    assert_eq!(second, nomos_monitor::Published::default());
    assert_eq!(
        root_sync(&cluster).unwrap()["metadata"]["resourceVersion"],
        rv
    );
    // A new commit rewrites the status only.
    r.source_commit = Some("feedface".into());
    let third = p.publish(&r).await.unwrap();
    assert!(!third.root_sync_applied && third.status_written);
    assert_eq!(
        root_sync(&cluster).unwrap()["status"]["source"]["commit"],
        "feedface"
    );
    // Someone deletes the RootSync: the next change recreates it.
    cluster
        .external("kubectl")
        .delete(
            "configsync.gke.io/v1beta1",
            "RootSync",
            Some("config-management-system"),
            "root-sync",
        )
        .unwrap();
    r.synced_commit = Some("feedface".into());
    let fourth = p.publish(&r).await.unwrap();
    assert!(fourth.root_sync_applied && fourth.status_written);
    let rs = root_sync(&cluster).unwrap();
    assert_eq!(rs["status"]["lastSyncedCommit"], "feedface");
    assert_eq!(
        rs["metadata"]["labels"][APPLYSET_ID],
        SyncRef::default().applyset_id()
    );
}

#[tokio::test]
async fn a_root_sync_written_by_its_owner_keeps_its_spec() {
    let cluster = Cluster::new();
    let c = client(&cluster);
    ensure_crd(&c).await.unwrap();
    let actor = cluster.external("kubectl");
    actor
        .apply(&json!({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": "config-management-system"}}))
        .unwrap();
    let spec = json!({"sourceFormat": "unstructured", "git": {
        "repo": "https://git.example/platform/policy.git", "branch": "main",
        "auth": "token", "secretRef": {"name": "git-creds"}}});
    actor
        .apply(
            &json!({"apiVersion": "configsync.gke.io/v1beta1", "kind": "RootSync",
                       "metadata": {"name": "root-sync", "namespace": "config-management-system"},
                       "spec": spec}),
        )
        .unwrap();
    let mut p = Publisher::new(c).leave_spec();
    let out = p.publish(&report()).await.unwrap();
    assert!(out.root_sync_applied && out.status_written && !out.crd_created);
    let rs = root_sync(&cluster).unwrap();
    assert_eq!(rs["spec"], spec, "the owner's spec is untouched");
    assert_eq!(
        rs["metadata"]["annotations"][APPLYSET_CONTAINS_GROUP_KINDS],
        "ConfigMap,Deployment.apps,Namespace"
    );
    assert_eq!(
        rs["status"]["lastSyncedCommit"],
        report().synced_commit.unwrap().as_str()
    );
}

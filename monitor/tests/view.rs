//! `nomos status` layout, one snapshot per status.

use std::time::{Duration, SystemTime};

use nomos_monitor::report::parse_group_kinds;
use nomos_monitor::rootsync::{RootSyncSpec, StatusLimits, root_sync_object, status_json};
use nomos_monitor::view::{ClusterView, RenderOptions, ResourceRow, render, repo_view};
use nomos_monitor::{ClusterReport, ErrorResource, ReportError, SourceSpec};
use serde_json::{Value, json};

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn report() -> ClusterReport {
    let mut r = ClusterReport::new("prod");
    r.source = SourceSpec {
        source_format: "unstructured".into(),
        repo: "https://git.example/platform/policy.git".into(),
        branch: "main".into(),
        dir: "clusters/prod".into(),
        ..SourceSpec::default()
    };
    r.managed_group_kinds = parse_group_kinds("Namespace,ConfigMap");
    r.source_commit = Some("0123456789abcdef0123456789abcdef01234567".into());
    r.synced_commit = r.source_commit.clone();
    r.last_sync = Some(at(1_705_314_600));
    r.updated = Some(at(1_705_314_601));
    r
}

/// The RootSync a syncer with this report writes.
fn root_sync(r: &ClusterReport) -> Value {
    let mut rs = root_sync_object(&RootSyncSpec::from(r));
    rs["metadata"]["generation"] = json!(1);
    rs["status"] = status_json(r, 1, None, &StatusLimits::default(), 1);
    rs
}

fn rows() -> Vec<ResourceRow> {
    vec![
        ResourceRow {
            namespace: "shop".into(),
            name: "settings".into(),
            kind: "ConfigMap".into(),
            status: "Current".into(),
            ..ResourceRow::default()
        },
        ResourceRow {
            namespace: String::new(),
            name: "shop".into(),
            kind: "Namespace".into(),
            status: "Current".into(),
            ..ResourceRow::default()
        },
        ResourceRow {
            namespace: "shop".into(),
            name: "web".into(),
            group: "apps".into(),
            kind: "Deployment".into(),
            status: "InProgress".into(),
            ..ResourceRow::default()
        },
    ]
}

fn one(rs: &Value, resources: Vec<ResourceRow>) -> String {
    let view = ClusterView::with_repos("prod", vec![repo_view(rs, resources)]);
    render(&[view], &RenderOptions::default())
}

#[test]
fn synced() {
    let rs = root_sync(&report());
    assert_eq!(repo_view(&rs, vec![]).status, "SYNCED");
    insta::assert_snapshot!(one(&rs, rows()));
}

#[test]
fn synced_with_source_hashes() {
    let rs = root_sync(&report());
    let mut rows = rows();
    for r in &mut rows {
        r.source_hash = "0123456".into();
    }
    insta::assert_snapshot!(one(&rs, rows));
}

#[test]
fn pending() {
    let mut r = report();
    r.source_commit = Some("fedcba9876543210fedcba9876543210fedcba98".into());
    let rs = root_sync(&r);
    assert_eq!(repo_view(&rs, vec![]).status, "PENDING");
    // Managed resources are shown only once synced.
    insta::assert_snapshot!(one(&rs, rows()));
}

#[test]
fn error() {
    let mut r = report();
    r.source_commit = Some("fedcba9876543210fedcba9876543210fedcba98".into());
    r.source_errors = vec![
        ReportError::new("KNV1009", "A config MUST either declare a `namespace` field exactly matching the directory containing the config, \"prod\", or leave the field blank")
            .with_resource(ErrorResource {
                source_path: "clusters/prod/namespaces/prod/rb.yaml".into(),
                name: "rb".into(),
                namespace: "other".into(),
                group: "rbac.authorization.k8s.io".into(),
                version: "v1".into(),
                kind: "RoleBinding".into(),
            }),
    ];
    r.sync_errors = vec![ReportError::new(
        "KNV2009",
        "failed to apply Deployment.apps/shop/web: admission webhook denied the request",
    )];
    let rs = root_sync(&r);
    assert_eq!(repo_view(&rs, vec![]).status, "ERROR");
    insta::assert_snapshot!(one(&rs, rows()));
}

#[test]
fn error_truncated() {
    let mut r = report();
    r.sync_errors = (0..5)
        .map(|i| ReportError::new("2009", format!("failed to apply ConfigMap/shop/cm-{i}")))
        .collect();
    let mut rs = root_sync(&r);
    rs["status"] = status_json(
        &r,
        1,
        None,
        &StatusLimits {
            max_errors: 2,
            max_bytes: 1 << 20,
        },
        1,
    );
    let v = repo_view(&rs, vec![]);
    assert_eq!(v.errors.len(), 2);
    insta::assert_snapshot!(one(&rs, vec![]));
}

#[test]
fn stalled() {
    let mut r = report();
    r.stalled = Some("KNV1061: RootSync objects are only allowed in the config-management-system namespace, not in shop".into());
    let rs = root_sync(&r);
    assert_eq!(repo_view(&rs, vec![]).status, "STALLED");
    insta::assert_snapshot!(one(&rs, rows()));
}

#[test]
fn reconciling() {
    let mut rs = root_sync(&report());
    rs["status"]["conditions"][0]["status"] = json!("True");
    rs["status"]["conditions"][0]["reason"] = json!("Deployment");
    assert_eq!(repo_view(&rs, vec![]).status, "RECONCILING");
    insta::assert_snapshot!(one(&rs, rows()));
}

#[test]
fn without_conditions_status_comes_from_commits_and_errors() {
    // A RootSync written by an older reconciler: no conditions.
    let mut rs = root_sync(&report());
    rs["status"].as_object_mut().unwrap().remove("conditions");
    assert_eq!(repo_view(&rs, vec![]).status, "SYNCED");
    rs["status"]["sync"]["commit"] = json!("aaaaaaaa");
    assert_eq!(repo_view(&rs, vec![]).status, "PENDING");
    rs["status"]["sync"]
        .as_object_mut()
        .unwrap()
        .remove("commit");
    assert_eq!(repo_view(&rs, vec![]).status, "PENDING");
    rs["status"]["rendering"]["errors"] =
        json!([{"code": "1068", "errorMessage": "KNV1068: rendering failed"}]);
    let v = repo_view(&rs, vec![]);
    assert_eq!(v.status, "ERROR");
    assert_eq!(v.errors, ["KNV1068: rendering failed"]);
}

#[test]
fn unknown_when_no_status_was_ever_written() {
    let mut rs = root_sync(&report());
    rs.as_object_mut().unwrap().remove("status");
    assert_eq!(repo_view(&rs, vec![]).status, "UNKNOWN");
    insta::assert_snapshot!(one(&rs, rows()));
}

#[test]
fn cluster_states() {
    let mut current =
        ClusterView::with_repos("eks-prod", vec![repo_view(&root_sync(&report()), vec![])]);
    current.current = true;
    let views = [
        ClusterView::not_installed("aks-staging"),
        current,
        ClusterView::not_configured("onprem-dev"),
        ClusterView::unavailable("edge-1", "connection refused"),
    ];
    insta::assert_snapshot!(render(&views, &RenderOptions::default()));
}

#[test]
fn resources_can_be_hidden() {
    let rs = root_sync(&report());
    let view = ClusterView::with_repos("prod", vec![repo_view(&rs, rows())]);
    let text = render(&[view], &RenderOptions { resources: false });
    assert!(!text.contains("Managed resources:"));
    assert!(text.contains("SYNCED @ 2024-01-15 10:30:00 +0000 UTC"));
}

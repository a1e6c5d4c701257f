//! The RootSync object: its CustomResourceDefinition, the `root-sync` object describing the
//! source and acting as the ApplySet parent (reference 4.3), and its status (reference 6.4).
//!
//! * [`ensure_crd`] registers the embedded CRD ([`CRD_YAML`]) when the cluster does not serve
//!   `RootSync`, then waits until it is served; a CRD already present is left alone.
//! * [`ensure_root_sync`] keeps `root-sync` in `config-management-system` (the namespace is
//!   created when missing) equal to a [`RootSyncSpec`]: `spec.sourceFormat`, `spec.git`, the
//!   label `applyset.kubernetes.io/id` and the annotations `applyset.kubernetes.io/tooling` and
//!   `applyset.kubernetes.io/contains-group-kinds` (the inventory is group-kinds only).
//! * [`write_status`] writes the status of a [`ClusterReport`] through the status subresource
//!   (server-side apply), truncating long error lists ([`StatusLimits`]).
//! * [`report_from_root_sync`] reads a RootSync back into a report.
//! * [`Publisher`] does all of it for a syncer, writing only what changed.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use nomos_cluster::{ClusterClient, Sleeper, TokioSleeper};
use nomos_core::{GroupKind, Gvk};
use serde_json::{Map, Value, json};

use crate::report::{
    ClusterReport, ErrorResource, ReportError, SourceSpec, SyncRef, parse_group_kinds,
};
use crate::time::{parse_rfc3339, rfc3339_seconds};
use crate::{Error, Result};

/// The API group of RootSync.
pub const GROUP: &str = "configsync.gke.io";
/// The kind.
pub const KIND: &str = "RootSync";
/// The CRD's name.
pub const CRD_NAME: &str = "rootsyncs.configsync.gke.io";
/// The RootSync CustomResourceDefinition (v1beta1 served and stored, v1alpha1 served, status
/// subresource), as a YAML manifest.
pub const CRD_YAML: &str = include_str!("../manifests/rootsync-crd.yaml");

/// Label on the ApplySet parent: its id (the `applyset.kubernetes.io/part-of` value of its members).
pub const APPLYSET_ID: &str = "applyset.kubernetes.io/id";
/// Annotation on the ApplySet parent naming the tool that manages the set.
pub const APPLYSET_TOOLING: &str = "applyset.kubernetes.io/tooling";
/// Config Sync's tooling value.
pub const APPLYSET_TOOLING_VALUE: &str = "configsync.gke.io/v1";
/// Annotation on the ApplySet parent: the group-kinds of its members, `Kind.group`, sorted.
pub const APPLYSET_CONTAINS_GROUP_KINDS: &str = "applyset.kubernetes.io/contains-group-kinds";

/// The field manager of the RootSync spec and status writes (Config Sync's).
pub const FIELD_MANAGER: &str = nomos_cluster::FIELD_MANAGER;

/// `configsync.gke.io/v1beta1, Kind=RootSync`.
pub fn v1beta1() -> Gvk {
    Gvk {
        group: GROUP.into(),
        version: "v1beta1".into(),
        kind: KIND.into(),
    }
}

fn crd_gvk() -> Gvk {
    Gvk {
        group: "apiextensions.k8s.io".into(),
        version: "v1".into(),
        kind: "CustomResourceDefinition".into(),
    }
}

fn namespace_gvk() -> Gvk {
    Gvk {
        group: String::new(),
        version: "v1".into(),
        kind: "Namespace".into(),
    }
}

/// The embedded CRD as JSON.
pub fn crd() -> Value {
    static CRD: OnceLock<Value> = OnceLock::new();
    CRD.get_or_init(|| {
        let parsed = nomos_core::yaml::parse(CRD_YAML, &nomos_core::yaml::Limits::default())
            .expect("the embedded RootSync CRD manifest is valid YAML (tested)");
        parsed
            .documents
            .into_iter()
            .next()
            .map(|d| d.value)
            .expect("the embedded RootSync CRD manifest has one document (tested)")
    })
    .clone()
}

/// How long [`ensure_crd`] waits for a new CRD to be served.
#[derive(Clone)]
pub struct WaitOptions {
    /// Discovery attempts after creating the CRD.
    pub attempts: u32,
    /// Wait between attempts.
    pub delay: Duration,
    pub sleeper: Arc<dyn Sleeper>,
}

impl Default for WaitOptions {
    /// 60 attempts, 500 ms apart (30 s), real time.
    fn default() -> Self {
        WaitOptions {
            attempts: 60,
            delay: Duration::from_millis(500),
            sleeper: Arc::new(TokioSleeper),
        }
    }
}

impl std::fmt::Debug for WaitOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitOptions")
            .field("attempts", &self.attempts)
            .field("delay", &self.delay)
            .finish_non_exhaustive()
    }
}

/// What [`ensure_crd`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrdOutcome {
    /// RootSync was already served (or its CRD existed): nothing was written.
    AlreadyPresent,
    /// The CRD was created and is now served.
    Created,
}

/// Register the RootSync CRD when the cluster does not serve RootSync, and wait until it is
/// served (default [`WaitOptions`]). A CRD already present is never re-created or changed.
pub async fn ensure_crd(client: &ClusterClient) -> Result<CrdOutcome> {
    ensure_crd_with(client, &WaitOptions::default()).await
}

/// [`ensure_crd`] with explicit waiting.
pub async fn ensure_crd_with(client: &ClusterClient, wait: &WaitOptions) -> Result<CrdOutcome> {
    let gvk = v1beta1();
    if client.mapper().cached(&gvk).is_some() {
        return Ok(CrdOutcome::AlreadyPresent);
    }
    client.refresh_discovery().await?;
    if client.mapper().cached(&gvk).is_some() {
        return Ok(CrdOutcome::AlreadyPresent);
    }
    let outcome = match client.get(&crd_gvk(), None, CRD_NAME).await? {
        Some(_) => CrdOutcome::AlreadyPresent,
        None => {
            tracing::info!(
                crd = CRD_NAME,
                "registering the RootSync CustomResourceDefinition"
            );
            client.apply(&crd(), FIELD_MANAGER, true).await?;
            CrdOutcome::Created
        }
    };
    for attempt in 0..wait.attempts.max(1) {
        client.refresh_discovery().await?;
        if client.mapper().cached(&gvk).is_some() {
            return Ok(outcome);
        }
        if attempt + 1 < wait.attempts {
            wait.sleeper.sleep(wait.delay).await;
        }
    }
    Err(Error::NotServed {
        gvk: nomos_cluster::discovery::gvk_string(&gvk),
        waited: wait.delay * wait.attempts.saturating_sub(1),
    })
}

/// What the `root-sync` object says about the source and the managed set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootSyncSpec {
    pub sync: SyncRef,
    pub source: SourceSpec,
    /// The group-kinds of the managed objects.
    pub group_kinds: BTreeSet<GroupKind>,
    /// Leave `spec` alone: for a syncer configured *by* its RootSync (someone else owns the
    /// spec), only the ApplySet metadata is written.
    pub leave_spec: bool,
}

impl From<&ClusterReport> for RootSyncSpec {
    fn from(r: &ClusterReport) -> Self {
        RootSyncSpec {
            sync: r.sync.clone(),
            source: r.source.clone(),
            group_kinds: r.managed_group_kinds.clone(),
            leave_spec: false,
        }
    }
}

fn put(map: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        map.insert(key.into(), Value::String(value.into()));
    }
}

/// The `root-sync` object [`ensure_root_sync`] applies (pure; without `spec` when
/// [`RootSyncSpec::leave_spec`]).
pub fn root_sync_object(spec: &RootSyncSpec) -> Value {
    let s = &spec.source;
    let mut git = Map::new();
    put(&mut git, "repo", &s.repo);
    put(&mut git, "branch", &s.branch);
    put(&mut git, "revision", &s.revision);
    put(&mut git, "dir", &s.dir);
    put(&mut git, "period", &s.period);
    git.insert(
        "auth".into(),
        Value::String(if s.auth.is_empty() { "none" } else { &s.auth }.into()),
    );
    let mut body = Map::new();
    body.insert("sourceType".into(), json!("git"));
    put(&mut body, "sourceFormat", &s.source_format);
    body.insert("git".into(), Value::Object(git));
    let mut obj = json!({
        "apiVersion": format!("{GROUP}/v1beta1"),
        "kind": KIND,
        "metadata": {
            "name": spec.sync.name,
            "namespace": spec.sync.namespace,
            "labels": { APPLYSET_ID: spec.sync.applyset_id() },
            "annotations": {
                APPLYSET_TOOLING: APPLYSET_TOOLING_VALUE,
                APPLYSET_CONTAINS_GROUP_KINDS: crate::report::contains_group_kinds(&spec.group_kinds),
            },
        },
        "spec": body,
    });
    if spec.leave_spec
        && let Some(o) = obj.as_object_mut()
    {
        o.remove("spec");
    }
    obj
}

/// Create the RootSync's namespace when missing, then server-side apply the `root-sync`
/// object of `spec` (a no-op when it already says the same; with force, so the syncer owns
/// the fields it describes: set [`RootSyncSpec::leave_spec`] when the RootSync is the
/// syncer's configuration rather than its description). Returns the object as stored. The
/// CRD must be served ([`ensure_crd`]).
pub async fn ensure_root_sync(client: &ClusterClient, spec: &RootSyncSpec) -> Result<Value> {
    let ns = &spec.sync.namespace;
    if client.get(&namespace_gvk(), None, ns).await?.is_none() {
        tracing::info!(namespace = %ns, "creating the RootSync namespace");
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        client.apply(&obj, FIELD_MANAGER, false).await?;
    }
    Ok(client
        .apply(&root_sync_object(spec), FIELD_MANAGER, true)
        .await?)
}

/// Bounds on the errors written to a RootSync status (the object must fit etcd's size limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusLimits {
    /// Errors kept per list (`status.source.errors`, `status.sync.errors`).
    pub max_errors: usize,
    /// Bytes of error messages kept per list.
    pub max_bytes: usize,
}

impl Default for StatusLimits {
    /// 100 errors and 256 KiB of messages per list.
    fn default() -> Self {
        StatusLimits {
            max_errors: 100,
            max_bytes: 256 * 1024,
        }
    }
}

fn error_json(e: &ReportError) -> Value {
    let mut o = json!({"code": e.code, "errorMessage": e.error_message()});
    if !e.resources.is_empty() {
        let rs: Vec<Value> = e
            .resources
            .iter()
            .map(|r| {
                let mut m = Map::new();
                put(&mut m, "sourcePath", &r.source_path);
                put(&mut m, "name", &r.name);
                put(&mut m, "namespace", &r.namespace);
                m.insert(
                    "gvk".into(),
                    json!({"group": r.group, "version": r.version, "kind": r.kind}),
                );
                Value::Object(m)
            })
            .collect();
        o["errorResources"] = Value::Array(rs);
    }
    o
}

/// An error list as written: sorted, de-duplicated, truncated to `limits` (and to the
/// `1/denominator` share of it, for retries after a too-large write). Returns the errors and
/// the `errorSummary`.
fn error_list(
    errors: &[ReportError],
    limits: &StatusLimits,
    denominator: usize,
) -> (Vec<Value>, Value) {
    let mut sorted: Vec<&ReportError> = errors.iter().collect();
    sorted.sort();
    sorted.dedup();
    let total = sorted.len();
    let cap = limits.max_errors.min(total) / denominator.max(1);
    let mut kept = Vec::new();
    let mut bytes = 0usize;
    for e in sorted.into_iter().take(cap) {
        let v = error_json(e);
        let size = v.to_string().len();
        if !kept.is_empty() && bytes + size > limits.max_bytes {
            break;
        }
        bytes += size;
        kept.push(v);
    }
    let summary = error_summary(total, kept.len());
    (kept, summary)
}

fn error_summary(total: usize, kept: usize) -> Value {
    if total == 0 {
        return json!({});
    }
    json!({
        "totalCount": total,
        "truncated": kept < total,
        "errorCountAfterTruncation": kept,
    })
}

fn git_status(s: &SourceSpec) -> Value {
    json!({
        "repo": s.repo,
        "revision": if s.revision.is_empty() { "HEAD" } else { &s.revision },
        "branch": if s.branch.is_empty() { "master" } else { &s.branch },
        "dir": if s.dir.is_empty() { "." } else { &s.dir },
    })
}

fn condition(
    previous: Option<&Value>,
    kind: &str,
    status: bool,
    now: Option<&str>,
    fields: Value,
) -> Value {
    let status_str = if status { "True" } else { "False" };
    let prev = previous
        .and_then(|p| p.get("conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind));
    let transition = match prev {
        Some(p) if p["status"] == status_str => p.get("lastTransitionTime").cloned(),
        _ => now.map(|n| json!(n)),
    };
    let mut c = json!({"type": kind, "status": status_str});
    if let Some(n) = now {
        c["lastUpdateTime"] = json!(n);
    }
    if let Some(t) = transition {
        c["lastTransitionTime"] = t;
    }
    if let Value::Object(extra) = fields {
        for (k, v) in extra {
            if !v.is_null() && v != "" {
                c[k.as_str()] = v;
            }
        }
    }
    c
}

/// The RootSync `status` for `report` (pure): `observedGeneration`, `reconciler`,
/// `lastSyncedCommit`, `source`, `rendering`, `sync` (each with the source descriptor, commit,
/// `lastUpdate`, errors and `errorSummary`) and the `Reconciling`, `Stalled` and `Syncing`
/// conditions. `previous` (the current status) keeps the `lastTransitionTime` of conditions
/// whose status did not change. `denominator` > 1 keeps only that share of each error list.
pub fn status_json(
    report: &ClusterReport,
    observed_generation: i64,
    previous: Option<&Value>,
    limits: &StatusLimits,
    denominator: usize,
) -> Value {
    let now = report.updated.map(rfc3339_seconds);
    let now = now.as_deref();
    let git = git_status(&report.source);
    let (source_errors, source_summary) = error_list(&report.source_errors, limits, denominator);
    let (sync_errors, sync_summary) = error_list(&report.sync_errors, limits, denominator);

    let mut source = json!({"gitStatus": git.clone()});
    if let Some(c) = &report.source_commit {
        source["commit"] = json!(c);
    }
    if let Some(n) = now {
        source["lastUpdate"] = json!(n);
    }
    if !source_errors.is_empty() {
        source["errors"] = Value::Array(source_errors);
    }
    source["errorSummary"] = source_summary;

    // The commit the sync status is about: the one being applied when applying it failed,
    // else the last one fully applied.
    let sync_commit = if !report.sync_errors.is_empty() && report.source_errors.is_empty() {
        report
            .source_commit
            .as_ref()
            .or(report.synced_commit.as_ref())
    } else {
        report.synced_commit.as_ref()
    };
    let mut sync = json!({"gitStatus": git.clone()});
    if let Some(c) = sync_commit {
        sync["commit"] = json!(c);
    }
    if let Some(t) = report.last_sync {
        sync["lastUpdate"] = json!(rfc3339_seconds(t));
    }
    if !sync_errors.is_empty() {
        sync["errors"] = Value::Array(sync_errors);
    }
    sync["errorSummary"] = sync_summary;

    let mut status = json!({
        "observedGeneration": observed_generation,
        "reconciler": report.sync.reconciler(),
        "source": source,
        "sync": sync,
    });
    if let Some(c) = &report.synced_commit {
        status["lastSyncedCommit"] = json!(c);
    }
    if let Some(c) = &report.source_commit {
        let mut rendering = json!({
            "gitStatus": git,
            "commit": c,
            "message": "Rendering skipped",
            "errorSummary": {},
        });
        if let Some(n) = now {
            rendering["lastUpdate"] = json!(n);
        }
        status["rendering"] = rendering;
    }

    let state = report.state();
    let mut refs = Vec::new();
    if !report.source_errors.is_empty() {
        refs.push("status.source.errors");
    }
    if !report.sync_errors.is_empty() {
        refs.push("status.sync.errors");
    }
    let total = status["source"]["errorSummary"]["totalCount"]
        .as_u64()
        .unwrap_or(0)
        + status["sync"]["errorSummary"]["totalCount"]
            .as_u64()
            .unwrap_or(0);
    let kept = status["source"]["errorSummary"]["errorCountAfterTruncation"]
        .as_u64()
        .unwrap_or(0)
        + status["sync"]["errorSummary"]["errorCountAfterTruncation"]
            .as_u64()
            .unwrap_or(0);
    let summary = error_summary(total as usize, kept as usize);
    let reconciling = condition(previous, "Reconciling", false, now, json!({}));
    let stalled = match &report.stalled {
        Some(msg) => condition(
            previous,
            "Stalled",
            true,
            now,
            json!({"reason": "Error", "message": msg, "errorSummary": error_summary(1, 1)}),
        ),
        None => condition(previous, "Stalled", false, now, json!({})),
    };
    let commit = report
        .source_commit
        .clone()
        .or_else(|| report.synced_commit.clone());
    let syncing = match state {
        crate::SyncState::Pending => condition(
            previous,
            "Syncing",
            true,
            now,
            json!({"reason": "Sync", "message": "Sync in progress", "commit": commit, "errorSummary": {}}),
        ),
        crate::SyncState::Synced => condition(
            previous,
            "Syncing",
            false,
            now,
            json!({"reason": "Sync", "message": "Sync Completed", "commit": commit, "errorSummary": {}}),
        ),
        _ => {
            let (reason, message) = if report.source_errors.is_empty() {
                ("Sync", "Sync failed")
            } else {
                ("Source", "Source error")
            };
            condition(
                previous,
                "Syncing",
                false,
                now,
                json!({
                    "reason": reason,
                    "message": message,
                    "commit": commit,
                    "errorSourceRefs": refs,
                    "errorSummary": summary,
                }),
            )
        }
    };
    status["conditions"] = json!([reconciling, stalled, syncing]);
    status
}

fn sync_api(client: &ClusterClient, m: &nomos_cluster::Mapping, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.kube().clone(), ns, &m.resource)
}

fn too_large(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => {
            s.code == 413
                || s.message.contains("too large")
                || s.message.contains("exceeds the maximum")
        }
        _ => false,
    }
}

/// Write `report`'s status to its RootSync through the status subresource (server-side apply
/// with [`FIELD_MANAGER`]; fields no longer reported are removed). A write refused as too
/// large is retried with half the errors, then a quarter, … Returns the stored object.
pub async fn write_status(
    client: &ClusterClient,
    report: &ClusterReport,
    limits: &StatusLimits,
) -> Result<Value> {
    let m = client.resolve(&v1beta1()).await?;
    let api = sync_api(client, &m, &report.sync.namespace);
    let current = api
        .get_opt(&report.sync.name)
        .await
        .map_err(nomos_cluster::Error::from)?
        .ok_or_else(|| Error::RootSyncMissing {
            name: report.sync.name.clone(),
            namespace: report.sync.namespace.clone(),
        })?;
    let current = serde_json::to_value(current).map_err(nomos_cluster::Error::from)?;
    let generation = current["metadata"]["generation"].as_i64().unwrap_or(0);
    let previous = current.get("status");
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut denominator = 1usize;
    loop {
        let status = status_json(report, generation, previous, limits, denominator);
        let patch = json!({
            "apiVersion": format!("{GROUP}/v1beta1"),
            "kind": KIND,
            "metadata": {"name": report.sync.name, "namespace": report.sync.namespace},
            "status": status,
        });
        match api
            .patch_status(&report.sync.name, &params, &Patch::Apply(&patch))
            .await
        {
            Ok(o) => return Ok(serde_json::to_value(o).map_err(nomos_cluster::Error::from)?),
            Err(e) if too_large(&e) && denominator < 1024 && report.has_errors() => {
                denominator *= 2;
                tracing::warn!(
                    denominator,
                    "RootSync status too large; truncating errors further"
                );
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                return Err(Error::RootSyncMissing {
                    name: report.sync.name.clone(),
                    namespace: report.sync.namespace.clone(),
                });
            }
            Err(e) => return Err(nomos_cluster::Error::from(e).into()),
        }
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(n) => cur = n,
            None => return "",
        }
    }
    cur.as_str().unwrap_or("")
}

fn opt_str(v: &Value, path: &[&str]) -> Option<String> {
    Some(str_at(v, path))
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn errors_at(v: &Value, path: &[&str]) -> Vec<ReportError> {
    let mut cur = v;
    for p in path {
        match cur.get(p) {
            Some(n) => cur = n,
            None => return Vec::new(),
        }
    }
    cur.as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    let code = e["code"].as_str().unwrap_or("");
                    let mut r = ReportError::from_error_message(
                        code,
                        e["errorMessage"].as_str().unwrap_or(""),
                    );
                    if let Some(rs) = e["errorResources"].as_array() {
                        r.resources = rs
                            .iter()
                            .map(|x| ErrorResource {
                                source_path: str_at(x, &["sourcePath"]).into(),
                                name: str_at(x, &["name"]).into(),
                                namespace: str_at(x, &["namespace"]).into(),
                                group: str_at(x, &["gvk", "group"]).into(),
                                version: str_at(x, &["gvk", "version"]).into(),
                                kind: str_at(x, &["gvk", "kind"]).into(),
                            })
                            .collect();
                    }
                    r
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A condition of a RootSync status by type.
pub fn find_condition<'a>(rs: &'a Value, kind: &str) -> Option<&'a Value> {
    rs.get("status")?
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// Read a RootSync object (as stored on a cluster) back into a report for `cluster`: the
/// source from `spec`, the group-kinds from the ApplySet annotation, commits, errors (the
/// rendering errors count as source errors), the `Stalled` message and the timestamps from
/// `status`. Counters and the managed-object count are not in a RootSync (zero).
pub fn report_from_root_sync(cluster: &str, rs: &Value) -> ClusterReport {
    let spec = &rs["spec"];
    let status = &rs["status"];
    let mut source_errors = errors_at(status, &["rendering", "errors"]);
    source_errors.extend(errors_at(status, &["source", "errors"]));
    let stalled = find_condition(rs, "Stalled")
        .filter(|c| c["status"] == "True")
        .map(|c| c["message"].as_str().unwrap_or("").to_string());
    ClusterReport {
        cluster: cluster.into(),
        cluster_name: cluster.into(),
        sync: SyncRef {
            name: str_at(rs, &["metadata", "name"]).into(),
            namespace: str_at(rs, &["metadata", "namespace"]).into(),
        },
        source: SourceSpec {
            source_format: str_at(spec, &["sourceFormat"]).into(),
            repo: str_at(spec, &["git", "repo"]).into(),
            branch: str_at(spec, &["git", "branch"]).into(),
            revision: str_at(spec, &["git", "revision"]).into(),
            dir: str_at(spec, &["git", "dir"]).into(),
            period: str_at(spec, &["git", "period"]).into(),
            auth: str_at(spec, &["git", "auth"]).into(),
        },
        source_commit: opt_str(status, &["source", "commit"]),
        synced_commit: opt_str(status, &["lastSyncedCommit"]),
        source_errors,
        sync_errors: errors_at(status, &["sync", "errors"]),
        stalled,
        managed_group_kinds: parse_group_kinds(str_at(
            rs,
            &["metadata", "annotations", APPLYSET_CONTAINS_GROUP_KINDS],
        )),
        managed_objects: 0,
        reachable: true,
        last_sync: parse_rfc3339(str_at(status, &["sync", "lastUpdate"])),
        updated: parse_rfc3339(str_at(status, &["source", "lastUpdate"])),
        counters: Default::default(),
    }
}

/// What one [`Publisher::publish`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    /// The CRD was created.
    pub crd_created: bool,
    /// The `root-sync` object was applied (its spec or ApplySet annotations changed).
    pub root_sync_applied: bool,
    /// The status was written.
    pub status_written: bool,
}

/// Keeps one cluster's RootSync up to date from reports, writing only what changed: the CRD
/// once, the object when its source or group-kinds change, the status when commits, errors or
/// the last sync time change (not on every counter change). A failed write is retried by the
/// next [`Publisher::publish`]; a RootSync or CRD deleted meanwhile is recreated.
#[derive(Debug)]
pub struct Publisher {
    client: ClusterClient,
    limits: StatusLimits,
    wait: WaitOptions,
    crd_ready: bool,
    leave_spec: bool,
    applied: Option<RootSyncSpec>,
    written: Option<Value>,
}

/// The parts of a report the status shows (timestamps of the report itself excluded).
fn status_key(r: &ClusterReport) -> Value {
    json!({
        "sync": [r.sync.name, r.sync.namespace],
        "source": serde_json::to_value(&r.source).unwrap_or(Value::Null),
        "sourceCommit": r.source_commit,
        "syncedCommit": r.synced_commit,
        "sourceErrors": serde_json::to_value(&r.source_errors).unwrap_or(Value::Null),
        "syncErrors": serde_json::to_value(&r.sync_errors).unwrap_or(Value::Null),
        "stalled": r.stalled,
        "lastSync": r.last_sync.map(rfc3339_seconds),
    })
}

impl Publisher {
    pub fn new(client: ClusterClient) -> Self {
        Publisher {
            client,
            limits: StatusLimits::default(),
            wait: WaitOptions::default(),
            crd_ready: false,
            leave_spec: false,
            applied: None,
            written: None,
        }
    }

    /// Use other error bounds.
    pub fn with_limits(mut self, limits: StatusLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Wait differently for a new CRD.
    pub fn with_wait(mut self, wait: WaitOptions) -> Self {
        self.wait = wait;
        self
    }

    /// Never write the RootSync's `spec` (see [`RootSyncSpec::leave_spec`]).
    pub fn leave_spec(mut self) -> Self {
        self.leave_spec = true;
        self
    }

    /// Forget what was written: the next [`Publisher::publish`] checks the CRD and writes the
    /// object and the status again (call it now and then, e.g. on each resync, to repair a
    /// RootSync someone edited or deleted while nothing changed).
    pub fn reset(&mut self) {
        self.crd_ready = false;
        self.applied = None;
        self.written = None;
    }

    /// Bring the cluster's RootSync up to date with `report`.
    pub async fn publish(&mut self, report: &ClusterReport) -> Result<Published> {
        let mut out = Published::default();
        for attempt in 0..2 {
            match self.publish_once(report, &mut out).await {
                Ok(()) => return Ok(out),
                Err(
                    e @ (Error::RootSyncMissing { .. }
                    | Error::Cluster(nomos_cluster::Error::UnknownKind { .. })),
                ) if attempt == 0 => {
                    tracing::info!(error = %e, "RootSync or its CRD disappeared; recreating");
                    self.reset();
                    let _ = self.client.refresh_discovery().await;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn publish_once(&mut self, report: &ClusterReport, out: &mut Published) -> Result<()> {
        if !self.crd_ready {
            out.crd_created |=
                ensure_crd_with(&self.client, &self.wait).await? == CrdOutcome::Created;
            self.crd_ready = true;
        }
        let mut spec = RootSyncSpec::from(report);
        spec.leave_spec = self.leave_spec;
        if self.applied.as_ref() != Some(&spec) {
            ensure_root_sync(&self.client, &spec).await?;
            self.applied = Some(spec);
            self.written = None;
            out.root_sync_applied = true;
        }
        let key = status_key(report);
        if self.written.as_ref() != Some(&key) {
            write_status(&self.client, report, &self.limits).await?;
            self.written = Some(key);
            out.status_written = true;
        }
        Ok(())
    }
}

/// The ApplySet id a RootSync carries (its label), else the one computed from its name and
/// namespace.
pub fn applyset_id_of(rs: &Value) -> String {
    let label = str_at(rs, &["metadata", "labels", APPLYSET_ID]);
    if !label.is_empty() {
        return label.to_string();
    }
    SyncRef {
        name: str_at(rs, &["metadata", "name"]).into(),
        namespace: str_at(rs, &["metadata", "namespace"]).into(),
    }
    .applyset_id()
}

/// The time a RootSync's sync status was last updated.
pub fn sync_last_update(rs: &Value) -> Option<SystemTime> {
    parse_rfc3339(str_at(rs, &["status", "sync", "lastUpdate"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_crd_parses_with_both_versions() {
        let c = crd();
        assert_eq!(c["metadata"]["name"], CRD_NAME);
        assert_eq!(c["spec"]["group"], GROUP);
        assert_eq!(c["spec"]["names"]["kind"], KIND);
        let versions = c["spec"]["versions"].as_array().unwrap();
        let v = |name: &str| versions.iter().find(|v| v["name"] == name).unwrap();
        assert_eq!(v("v1beta1")["served"], true);
        assert_eq!(v("v1beta1")["storage"], true);
        assert_eq!(v("v1alpha1")["served"], true);
        assert_eq!(v("v1alpha1")["storage"], false);
        for v in versions {
            assert!(v["subresources"]["status"].is_object());
        }
    }

    #[test]
    fn root_sync_object_has_the_applyset_parent_metadata() {
        let spec = RootSyncSpec {
            sync: SyncRef::default(),
            source: SourceSpec {
                source_format: "unstructured".into(),
                repo: "https://git.example/policy.git".into(),
                branch: "main".into(),
                dir: "config".into(),
                ..Default::default()
            },
            group_kinds: parse_group_kinds("Namespace,Deployment.apps"),
            leave_spec: false,
        };
        let o = root_sync_object(&spec);
        assert_eq!(
            o["metadata"]["labels"][APPLYSET_ID],
            nomos_core::desired::SyncIdentity::default().applyset_id()
        );
        assert_eq!(
            o["metadata"]["annotations"][APPLYSET_TOOLING],
            "configsync.gke.io/v1"
        );
        assert_eq!(
            o["metadata"]["annotations"][APPLYSET_CONTAINS_GROUP_KINDS],
            "Deployment.apps,Namespace"
        );
        assert_eq!(o["spec"]["git"]["auth"], "none");
        assert_eq!(o["spec"]["git"]["branch"], "main");
        assert!(o["spec"]["git"].get("revision").is_none());
        assert_eq!(o["spec"]["sourceFormat"], "unstructured");
        let o = root_sync_object(&RootSyncSpec {
            leave_spec: true,
            ..spec
        });
        assert!(o.get("spec").is_none());
        assert_eq!(
            o["metadata"]["annotations"][APPLYSET_TOOLING],
            "configsync.gke.io/v1"
        );
    }

    #[test]
    fn error_lists_are_truncated_by_count_and_bytes() {
        let errors: Vec<ReportError> = (0..10)
            .map(|i| ReportError::new("2009", format!("error {i:02}")))
            .collect();
        let limits = StatusLimits {
            max_errors: 4,
            max_bytes: 1 << 20,
        };
        let (kept, summary) = error_list(&errors, &limits, 1);
        assert_eq!(kept.len(), 4);
        assert_eq!(
            summary,
            json!({"totalCount": 10, "truncated": true, "errorCountAfterTruncation": 4})
        );
        let (kept, _) = error_list(&errors, &limits, 2);
        assert_eq!(kept.len(), 2);
        let one = error_json(&errors[0]).to_string().len();
        let limits = StatusLimits {
            max_errors: 100,
            max_bytes: one * 3,
        };
        let (kept, summary) = error_list(&errors, &limits, 1);
        assert_eq!(kept.len(), 3);
        assert_eq!(summary["truncated"], true);
        let (kept, summary) = error_list(&errors[..2], &StatusLimits::default(), 1);
        assert_eq!(kept.len(), 2);
        assert_eq!(
            summary,
            json!({"totalCount": 2, "truncated": false, "errorCountAfterTruncation": 2})
        );
    }

    #[test]
    fn transition_time_is_kept_while_the_status_holds() {
        let mut r = ClusterReport::new("c");
        r.source_commit = Some("abc".into());
        r.synced_commit = Some("abc".into());
        r.updated = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(100));
        let first = status_json(&r, 1, None, &StatusLimits::default(), 1);
        r.updated = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(200));
        let second = status_json(&r, 1, Some(&first), &StatusLimits::default(), 1);
        let syncing = &second["conditions"][2];
        assert_eq!(syncing["type"], "Syncing");
        assert_eq!(syncing["status"], "False");
        assert_eq!(syncing["lastTransitionTime"], "1970-01-01T00:01:40Z");
        assert_eq!(syncing["lastUpdateTime"], "1970-01-01T00:03:20Z");
        r.sync_errors.push(ReportError::new("2009", "boom"));
        let third = status_json(&r, 1, Some(&second), &StatusLimits::default(), 1);
        // Still False (now with errors): the transition time stays.
        assert_eq!(
            third["conditions"][2]["lastTransitionTime"],
            "1970-01-01T00:01:40Z"
        );
        assert_eq!(
            third["conditions"][2]["errorSourceRefs"],
            json!(["status.sync.errors"])
        );
    }
}

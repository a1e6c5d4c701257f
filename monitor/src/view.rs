//! `nomos status` views (reference 7): pure functions from RootSync objects (JSON as read from
//! a cluster) and managed objects to Config Sync's layout.
//!
//! Per context: a blank line, the context name (`*` marks the kubeconfig's current context),
//! then either `--------------------` and a cluster-level state (`NOT INSTALLED`, `NOT
//! CONFIGURED`, `N/A`, `ERROR`) with its reason, or per RootSync:
//!
//! ```text
//!   --------------------
//!   <root>:root-sync   https://git.example/repo/config@main
//!   SYNCED @ 2024-01-15 10:30:00 +0000 UTC   0123abcd
//!   Managed resources:
//!      NAMESPACE   NAME                 STATUS
//!      shop        configmap/settings   Current
//! ```
//!
//! The RootSync state is derived as Config Sync does (reference 6.4): `STALLED` and
//! `RECONCILING` from those conditions; then from the `Syncing` condition (`True`: `PENDING`;
//! `False` without errors: `SYNCED`; `False` with errors: `ERROR`); without a `Syncing`
//! condition, from the error lists and commits (`ERROR` if any of source, rendering or sync has
//! errors; `PENDING` when the sync commit is empty or differs from the source (or rendering)
//! commit; `SYNCED` otherwise). A RootSync with no `status` at all is `UNKNOWN`.

use std::time::SystemTime;

use serde_json::Value;

use crate::rootsync::find_condition;
use crate::time::{go_time_string, parse_rfc3339};

/// The separator line under a context name.
pub const SEPARATOR: &str = "--------------------";
/// Indentation of every row under a context name.
pub const INDENT: &str = "  ";
/// Commit shown when there is none.
pub const EMPTY_COMMIT: &str = "N/A";

pub const SYNCED: &str = "SYNCED";
pub const PENDING: &str = "PENDING";
pub const ERROR: &str = "ERROR";
pub const STALLED: &str = "STALLED";
pub const RECONCILING: &str = "RECONCILING";
pub const NOT_INSTALLED: &str = "NOT INSTALLED";
pub const NOT_CONFIGURED: &str = "NOT CONFIGURED";
pub const UNKNOWN: &str = "UNKNOWN";
/// The cluster could not be reached.
pub const UNAVAILABLE: &str = "N/A";

/// One managed object in the `Managed resources:` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceRow {
    pub namespace: String,
    pub name: String,
    pub group: String,
    pub kind: String,
    /// `Current`, `InProgress`, `Failed`, `Terminating`, `Conflict`, …
    pub status: String,
    /// The source commit the object was applied from (its `configmanagement.gke.io/token`
    /// annotation, first 7 characters), when known.
    pub source_hash: String,
    /// Messages of conditions worth showing (failures).
    pub conditions: Vec<String>,
}

impl ResourceRow {
    /// `kind.group/name` with the kind lower-cased (`kind/name` for the core group).
    pub fn display_name(&self) -> String {
        let kind = self.kind.to_lowercase();
        if self.group.is_empty() {
            format!("{kind}/{}", self.name)
        } else {
            format!("{kind}.{}/{}", self.group, self.name)
        }
    }
}

/// A row for a live object (its status by kstatus-like rules): `Terminating` with a deletion
/// timestamp; `Failed` with a `Stalled=True` or `Failed=True` condition; `InProgress` while
/// `status.observedGeneration` lags `metadata.generation` or with `Reconciling=True` or
/// `Ready=False`; `Current` otherwise.
pub fn resource_row(obj: &Value) -> ResourceRow {
    let md = &obj["metadata"];
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    let group = api_version
        .rsplit_once('/')
        .map(|(g, _)| g.to_string())
        .unwrap_or_default();
    let conditions: Vec<&Value> = obj["status"]["conditions"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let cond = |t: &str, st: &str| {
        conditions
            .iter()
            .find(|c| c["type"] == t && c["status"] == st)
            .copied()
    };
    let generation = md["generation"].as_i64();
    let observed = obj["status"]["observedGeneration"].as_i64();
    let mut messages = Vec::new();
    let status = if !md["deletionTimestamp"].is_null() {
        "Terminating"
    } else if let Some(c) = cond("Stalled", "True").or_else(|| cond("Failed", "True")) {
        if let Some(m) = c["message"].as_str().filter(|m| !m.is_empty()) {
            messages.push(m.to_string());
        }
        "Failed"
    } else if matches!((generation, observed), (Some(g), Some(o)) if o < g)
        || cond("Reconciling", "True").is_some()
        || cond("Ready", "False").is_some()
    {
        "InProgress"
    } else {
        "Current"
    };
    let token = md["annotations"][nomos_core::ann::TOKEN]
        .as_str()
        .unwrap_or("");
    ResourceRow {
        namespace: s(&md["namespace"]),
        name: s(&md["name"]),
        group,
        kind: s(&obj["kind"]),
        status: status.into(),
        source_hash: token.chars().take(7).collect(),
        conditions: messages,
    }
}

/// `errorSummary`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorSummary {
    pub total: u64,
    pub truncated: bool,
    pub after_truncation: u64,
}

impl ErrorSummary {
    fn of(v: &Value) -> Option<ErrorSummary> {
        v.as_object()?;
        Some(ErrorSummary {
            total: v["totalCount"].as_u64().unwrap_or(0),
            truncated: v["truncated"].as_bool().unwrap_or(false),
            after_truncation: v["errorCountAfterTruncation"].as_u64().unwrap_or(0),
        })
    }

    fn untruncated(n: usize) -> Option<ErrorSummary> {
        (n > 0).then_some(ErrorSummary {
            total: n as u64,
            truncated: false,
            after_truncation: n as u64,
        })
    }
}

/// One RootSync as `nomos status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoView {
    /// `<root>` for a RootSync.
    pub scope: String,
    pub sync_name: String,
    /// `repo/dir@branch` (git), `image/dir` (oci), `repo/chart:version` (helm).
    pub source: String,
    pub status: String,
    /// First 8 characters of the commit, or `N/A`.
    pub commit: String,
    /// When SYNCED: the sync's `lastUpdate`.
    pub last_sync: Option<SystemTime>,
    pub errors: Vec<String>,
    pub error_summary: Option<ErrorSummary>,
    pub resources: Vec<ResourceRow>,
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_str().unwrap_or("")
}

/// Go's `path.Clean` for relative slash paths.
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

fn with_dir(base: &str, dir: &str) -> String {
    let base = base.trim_end_matches('/');
    if dir.is_empty() || dir == "." || dir == "/" {
        base.to_string()
    } else {
        format!("{base}/{}", clean_path(dir.trim_start_matches('/')))
    }
}

/// The source column: `repo/dir@revision` (revision when set and not `HEAD`, else the branch,
/// else `master`), `image/dir` for OCI, `repo/chart:version` (`:latest`) for Helm, `N/A`
/// without a source.
pub fn source_string(spec: &Value) -> String {
    match spec["sourceType"].as_str().unwrap_or("git") {
        "oci" => {
            if !spec["oci"].is_object() {
                return EMPTY_COMMIT.into();
            }
            with_dir(
                str_at(spec, &["oci", "image"]),
                str_at(spec, &["oci", "dir"]),
            )
        }
        "helm" => {
            if !spec["helm"].is_object() {
                return EMPTY_COMMIT.into();
            }
            let version = str_at(spec, &["helm", "version"]);
            format!(
                "{}/{}:{}",
                str_at(spec, &["helm", "repo"]).trim_end_matches('/'),
                str_at(spec, &["helm", "chart"]),
                if version.is_empty() {
                    "latest"
                } else {
                    version
                }
            )
        }
        _ => {
            if !spec["git"].is_object() {
                return EMPTY_COMMIT.into();
            }
            let base = with_dir(
                str_at(spec, &["git", "repo"]),
                str_at(spec, &["git", "dir"]),
            );
            let revision = str_at(spec, &["git", "revision"]);
            let branch = str_at(spec, &["git", "branch"]);
            if !revision.is_empty() && revision != "HEAD" {
                format!("{base}@{revision}")
            } else if !branch.is_empty() {
                format!("{base}@{branch}")
            } else {
                format!("{base}@master")
            }
        }
    }
}

/// The first 8 characters of a commit, `N/A` when empty.
pub fn short_commit(c: &str) -> String {
    if c.is_empty() {
        EMPTY_COMMIT.into()
    } else {
        c.chars().take(8).collect()
    }
}

fn error_messages(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["errorMessage"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// The errors the `errorSourceRefs` of a condition point to.
fn referenced_errors(rs: &Value, refs: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for r in refs.as_array().into_iter().flatten() {
        let list = match r.as_str().unwrap_or("") {
            "status.source.errors" => &rs["status"]["source"]["errors"],
            "status.rendering.errors" => &rs["status"]["rendering"]["errors"],
            "status.sync.errors" => &rs["status"]["sync"]["errors"],
            _ => continue,
        };
        out.extend(error_messages(list));
    }
    out
}

fn condition_has_no_errors(c: &Value) -> bool {
    let summary_empty = ErrorSummary::of(&c["errorSummary"]).is_none_or(|s| s.total == 0);
    let errors_empty = c["errors"].as_array().is_none_or(Vec::is_empty);
    summary_empty && errors_empty
}

/// Errors of a condition: the referenced lists when it has an `errorSummary`, else its own.
fn condition_errors(rs: &Value, c: &Value) -> (Vec<String>, Option<ErrorSummary>) {
    if let Some(summary) = ErrorSummary::of(&c["errorSummary"]) {
        let errors = referenced_errors(rs, &c["errorSourceRefs"]);
        (errors, (summary.total > 0).then_some(summary))
    } else {
        let errors = error_messages(&c["errors"]);
        let summary = ErrorSummary::untruncated(errors.len());
        (errors, summary)
    }
}

/// The view of one RootSync (`resources`: its managed objects, shown when SYNCED or derived
/// without conditions).
pub fn repo_view(rs: &Value, resources: Vec<ResourceRow>) -> RepoView {
    let status = &rs["status"];
    let mut v = RepoView {
        scope: "<root>".into(),
        sync_name: str_at(rs, &["metadata", "name"]).into(),
        source: source_string(&rs["spec"]),
        commit: EMPTY_COMMIT.into(),
        ..RepoView::default()
    };
    let stalled = find_condition(rs, "Stalled").filter(|c| c["status"] == "True");
    let reconciling = find_condition(rs, "Reconciling").filter(|c| c["status"] == "True");
    let syncing = find_condition(rs, "Syncing");
    let last_sync = parse_rfc3339(str_at(status, &["sync", "lastUpdate"]));
    if let Some(c) = stalled {
        v.status = STALLED.into();
        v.errors = vec![c["message"].as_str().unwrap_or("").to_string()];
        v.error_summary = ErrorSummary::of(&c["errorSummary"])
            .filter(|s| s.total > 0)
            .or(ErrorSummary::untruncated(1));
    } else if reconciling.is_some() {
        v.status = RECONCILING.into();
    } else if let Some(c) = syncing {
        v.commit = short_commit(c["commit"].as_str().unwrap_or(""));
        if c["status"] == "True" {
            v.status = PENDING.into();
            (v.errors, v.error_summary) = condition_errors(rs, c);
        } else if condition_has_no_errors(c) {
            v.status = SYNCED.into();
            v.last_sync = last_sync;
            v.resources = resources;
        } else {
            v.status = ERROR.into();
            (v.errors, v.error_summary) = condition_errors(rs, c);
        }
    } else if !status.is_object() {
        v.status = UNKNOWN.into();
    } else {
        let mut errors = error_messages(&status["rendering"]["errors"]);
        errors.extend(error_messages(&status["source"]["errors"]));
        errors.extend(error_messages(&status["sync"]["errors"]));
        let sync_commit = str_at(status, &["sync", "commit"]);
        let source_commit = str_at(status, &["source", "commit"]);
        let rendering_commit = str_at(status, &["rendering", "commit"]);
        v.status = if !errors.is_empty() {
            ERROR
        } else if sync_commit.is_empty() {
            PENDING
        } else if sync_commit == source_commit
            && (rendering_commit.is_empty() || rendering_commit == sync_commit)
        {
            SYNCED
        } else {
            PENDING
        }
        .into();
        if v.status == SYNCED {
            v.last_sync = last_sync;
        }
        v.commit = short_commit(sync_commit);
        v.error_summary = ErrorSummary::untruncated(errors.len());
        v.errors = errors;
        v.resources = resources;
    }
    v
}

/// One context as `nomos status` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// The kubeconfig context.
    pub name: String,
    /// Whether it is the kubeconfig's current context (shown with a leading `*`).
    pub current: bool,
    /// A cluster-level state (`NOT INSTALLED`, …); empty when RootSyncs are shown.
    pub status: String,
    /// Why.
    pub error: String,
    pub repos: Vec<RepoView>,
}

impl ClusterView {
    /// RootSyncs found on the cluster (sorted by scope, then name).
    pub fn with_repos(name: &str, mut repos: Vec<RepoView>) -> Self {
        repos.sort_by(|a, b| (&a.scope, &a.sync_name).cmp(&(&b.scope, &b.sync_name)));
        ClusterView {
            name: name.into(),
            repos,
            ..ClusterView::default()
        }
    }

    /// The cluster does not serve RootSync.
    pub fn not_installed(name: &str) -> Self {
        Self::state(
            name,
            NOT_INSTALLED,
            "The RootSync CustomResourceDefinition (rootsyncs.configsync.gke.io) is not installed",
        )
    }

    /// RootSync is served but none exists (or none matches the filters).
    pub fn not_configured(name: &str) -> Self {
        Self::state(name, NOT_CONFIGURED, "No RootSync resources found")
    }

    /// The cluster could not be reached.
    pub fn unavailable(name: &str, why: &str) -> Self {
        let error = if why.is_empty() {
            "Failed to connect to cluster".to_string()
        } else {
            format!("Failed to connect to cluster: {why}")
        };
        Self::state(name, UNAVAILABLE, &error)
    }

    /// Reading the cluster failed.
    pub fn error(name: &str, why: &str) -> Self {
        Self::state(name, ERROR, why)
    }

    fn state(name: &str, status: &str, error: &str) -> Self {
        ClusterView {
            name: name.into(),
            status: status.into(),
            error: error.into(),
            ..ClusterView::default()
        }
    }
}

/// What to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// The `Managed resources:` tables (`--resources`).
    pub resources: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions { resources: true }
    }
}

fn repo_rows(r: &RepoView, opts: &RenderOptions, out: &mut String) {
    out.push_str(&format!(
        "{INDENT}{}:{}\t{}\t\n",
        r.scope, r.sync_name, r.source
    ));
    if r.status == SYNCED {
        let when = r
            .last_sync
            .map(go_time_string)
            .unwrap_or_else(|| "0001-01-01 00:00:00 +0000 UTC".into());
        out.push_str(&format!("{INDENT}{} @ {when}\t{}\t\n", r.status, r.commit));
    } else {
        out.push_str(&format!("{INDENT}{}\t{}\t\n", r.status, r.commit));
    }
    if let Some(s) = r.error_summary.filter(|s| s.total > 0) {
        if s.truncated {
            out.push_str(&format!(
                "{INDENT}TotalErrorCount: {}, ErrorTruncated: true, ErrorCountAfterTruncation: {}\n",
                s.total, s.after_truncation
            ));
        } else {
            out.push_str(&format!("{INDENT}TotalErrorCount: {}\n", s.total));
        }
    }
    for e in &r.errors {
        out.push_str(&format!("{INDENT}Error:\t{e}\t\n"));
    }
    if opts.resources && !r.resources.is_empty() {
        let mut rows = r.resources.clone();
        rows.sort_by_cached_key(|x| (x.namespace.clone(), x.display_name()));
        out.push_str(&format!("{INDENT}Managed resources:\n"));
        let hash = !rows[0].source_hash.is_empty();
        if hash {
            out.push_str(&format!("{INDENT}\tNAMESPACE\tNAME\tSTATUS\tSOURCEHASH\n"));
        } else {
            out.push_str(&format!("{INDENT}\tNAMESPACE\tNAME\tSTATUS\n"));
        }
        for x in &rows {
            if hash {
                out.push_str(&format!(
                    "{INDENT}\t{}\t{}\t{}\t{}\n",
                    x.namespace,
                    x.display_name(),
                    x.status,
                    x.source_hash
                ));
            } else {
                out.push_str(&format!(
                    "{INDENT}\t{}\t{}\t{}\n",
                    x.namespace,
                    x.display_name(),
                    x.status
                ));
            }
            for c in &x.conditions {
                out.push_str(&format!("{INDENT}{INDENT}{INDENT}{INDENT}{c}\n"));
            }
        }
    }
}

/// The rows of one context, before column alignment.
fn cluster_rows(c: &ClusterView, opts: &RenderOptions, out: &mut String) {
    out.push('\n');
    if c.current {
        out.push('*');
    }
    out.push_str(&c.name);
    out.push('\n');
    if !c.status.is_empty() || !c.error.is_empty() {
        out.push_str(&format!("{INDENT}{SEPARATOR}\n"));
        out.push_str(&format!("{INDENT}{}\t{}\n", c.status, c.error));
    }
    for r in &c.repos {
        out.push_str(&format!("{INDENT}{SEPARATOR}\n"));
        repo_rows(r, opts, out);
    }
}

/// Every context, aligned as Go's tabwriter with padding 3 aligns them.
pub fn render(clusters: &[ClusterView], opts: &RenderOptions) -> String {
    let mut raw = String::new();
    for c in clusters {
        cluster_rows(c, opts, &mut raw);
    }
    crate::tabwriter::format(&raw, 0, 3)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn source_strings() {
        let git = |g: Value| source_string(&json!({"git": g}));
        assert_eq!(
            git(json!({"repo": "https://g/r.git/"})),
            "https://g/r.git@master"
        );
        assert_eq!(
            git(json!({"repo": "r", "dir": "/a//b/./c/../d", "branch": "main"})),
            "r/a/b/d@main"
        );
        assert_eq!(
            git(json!({"repo": "r", "dir": ".", "branch": "main", "revision": "v1.2"})),
            "r@v1.2"
        );
        assert_eq!(
            git(json!({"repo": "r", "revision": "HEAD", "branch": "b"})),
            "r@b"
        );
        assert_eq!(
            source_string(
                &json!({"sourceType": "oci", "oci": {"image": "gcr.io/x/y:1", "dir": "cfg"}})
            ),
            "gcr.io/x/y:1/cfg"
        );
        assert_eq!(
            source_string(
                &json!({"sourceType": "helm", "helm": {"repo": "oci://r/", "chart": "c"}})
            ),
            "oci://r/c:latest"
        );
        assert_eq!(source_string(&json!({})), "N/A");
    }

    #[test]
    fn resource_rows() {
        let r = resource_row(&json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "generation": 3,
                         "annotations": {"configmanagement.gke.io/token": "0123456789abcdef"}},
            "status": {"observedGeneration": 2}
        }));
        assert_eq!(r.display_name(), "deployment.apps/web");
        assert_eq!(r.status, "InProgress");
        assert_eq!(r.source_hash, "0123456");
        let r = resource_row(
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n"}}),
        );
        assert_eq!(
            (r.display_name().as_str(), r.status.as_str()),
            ("configmap/a", "Current")
        );
        let r = resource_row(&json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "n", "deletionTimestamp": "2024-01-01T00:00:00Z"}}));
        assert_eq!(r.status, "Terminating");
        let r = resource_row(&json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w"},
            "status": {"conditions": [{"type": "Stalled", "status": "True", "message": "quota exceeded"}]}}));
        assert_eq!(r.status, "Failed");
        assert_eq!(r.conditions, ["quota exceeded"]);
    }
}

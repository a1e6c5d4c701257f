//! The monitor's input: one report per cluster, independent of the syncer's types.
//!
//! A syncer converts its own per-cluster status into a [`ClusterReport`]; the monitor turns
//! reports into RootSync status ([`crate::rootsync`]), metrics ([`crate::metrics`]) and the
//! `/status` JSON. Reports read back from RootSync objects ([`crate::rootsync::report_from_root_sync`])
//! or scraped from a syncer's `/status` have the same shape.

use std::collections::BTreeSet;
use std::time::SystemTime;

use nomos_core::GroupKind;
use serde::{Deserialize, Serialize};

use crate::time::opt_rfc3339;

/// Which RootSync a report belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SyncRef {
    pub name: String,
    pub namespace: String,
}

impl Default for SyncRef {
    /// `root-sync` in `config-management-system`.
    fn default() -> Self {
        SyncRef {
            name: crate::ROOT_SYNC_NAME.into(),
            namespace: crate::CONFIG_MANAGEMENT_SYSTEM.into(),
        }
    }
}

impl SyncRef {
    /// The core identity (for the ApplySet id and the manager annotation).
    pub fn identity(&self) -> nomos_core::desired::SyncIdentity {
        nomos_core::desired::SyncIdentity {
            kind: nomos_core::desired::SyncKind::RootSync,
            name: self.name.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// The ApplySet id of this RootSync (`applyset-…-v1`), equal to the
    /// `applyset.kubernetes.io/part-of` label on the objects it manages.
    pub fn applyset_id(&self) -> String {
        self.identity().applyset_id()
    }

    /// The reconciler's name as Config Sync writes it in `status.reconciler`:
    /// `root-reconciler` for `root-sync`, `root-reconciler-<name>` otherwise.
    pub fn reconciler(&self) -> String {
        if self.name == crate::ROOT_SYNC_NAME {
            "root-reconciler".into()
        } else {
            format!("root-reconciler-{}", self.name)
        }
    }
}

/// Where the source comes from (RootSync `spec.sourceFormat` and `spec.git`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SourceSpec {
    /// `hierarchy` or `unstructured` (empty: Config Sync's default, hierarchy).
    pub source_format: String,
    /// Repository URL (or the policy directory for a local source).
    pub repo: String,
    /// Branch followed (empty: `master`).
    pub branch: String,
    /// Pinned revision (empty or `HEAD`: follow the branch).
    pub revision: String,
    /// Directory inside the repository (empty: the root).
    pub dir: String,
    /// Poll period as a Go duration (`15s`); empty: Config Sync's default.
    pub period: String,
    /// `none`, `ssh`, `token`, … (empty: `none`).
    pub auth: String,
}

/// The object an error is about (Config Sync's `errorResources[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorResource {
    pub source_path: String,
    pub name: String,
    pub namespace: String,
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl ErrorResource {
    /// From an object reference `Kind[.group]/namespace/name` or `Kind[.group]/name` (the
    /// rendering of `nomos_core::ObjectId` and of the syncer's `StatusError::object`).
    /// `None` when the text has no `/`.
    ///
    /// ```
    /// use nomos_monitor::ErrorResource;
    /// let r = ErrorResource::from_object_ref("Deployment.apps/shop/web").unwrap();
    /// assert_eq!((r.kind.as_str(), r.group.as_str(), r.namespace.as_str(), r.name.as_str()),
    ///            ("Deployment", "apps", "shop", "web"));
    /// let r = ErrorResource::from_object_ref("Namespace/shop").unwrap();
    /// assert_eq!((r.kind.as_str(), r.namespace.as_str(), r.name.as_str()), ("Namespace", "", "shop"));
    /// ```
    pub fn from_object_ref(s: &str) -> Option<ErrorResource> {
        let parts: Vec<&str> = s.split('/').collect();
        let (gk, namespace, name) = match parts.as_slice() {
            [gk, name] => (*gk, "", *name),
            [gk, ns, name] => (*gk, *ns, *name),
            _ => return None,
        };
        let (kind, group) = gk.split_once('.').unwrap_or((gk, ""));
        Some(ErrorResource {
            name: name.into(),
            namespace: namespace.into(),
            group: group.into(),
            kind: kind.into(),
            ..ErrorResource::default()
        })
    }
}

/// One error (Config Sync's `ConfigSyncError`, with the KNV code).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReportError {
    /// The number of the KNV code, as Config Sync's status writes it (`"2009"`).
    pub code: String,
    /// The message, without the `KNVnnnn: ` prefix and the documentation link.
    pub message: String,
    pub resources: Vec<ErrorResource>,
}

impl ReportError {
    /// An error with a code given as `KNV2009`, `2009` or `knv2009`.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        ReportError {
            code: normalize_code(code),
            message: message.into(),
            resources: Vec::new(),
        }
    }

    /// Add the object the error is about.
    pub fn with_resource(mut self, r: ErrorResource) -> Self {
        self.resources.push(r);
        self
    }

    /// `KNV2009`.
    pub fn knv(&self) -> String {
        format!("KNV{}", self.code)
    }

    /// Whether the code is a source error (validation `KNV1xxx`, fetch `KNV2004`) rather than
    /// a sync error (apply, prune, fights, conflicts: the other `KNV2xxx`). For syncers that
    /// keep one error list: [`split_errors`] uses it.
    pub fn is_source_error(&self) -> bool {
        // KNV1060 (a management conflict) is found while applying: a sync error.
        (self.code.starts_with('1') && self.code != "1060") || self.code == "2004"
    }

    /// The `errorMessage` Config Sync writes:
    /// `KNV2009: <message>\n\nFor more information, see https://g.co/cloud/acm-errors#knv2009`.
    pub fn error_message(&self) -> String {
        format!(
            "{}: {}\n\nFor more information, see {}#knv{}",
            self.knv(),
            self.message,
            nomos_core::diag::ERRORS_URL,
            self.code
        )
    }

    /// The inverse of [`ReportError::error_message`] (other texts are kept whole).
    pub fn from_error_message(code: &str, text: &str) -> Self {
        let code = normalize_code(code);
        let prefix = format!("KNV{code}: ");
        let suffix = format!(
            "\n\nFor more information, see {}#knv{code}",
            nomos_core::diag::ERRORS_URL
        );
        let body = text.strip_prefix(&prefix).unwrap_or(text);
        let body = body.strip_suffix(&suffix).unwrap_or(body);
        ReportError {
            code,
            message: body.to_string(),
            resources: Vec::new(),
        }
    }
}

/// `KNV2009` / `knv2009` / `2009` → `2009`.
fn normalize_code(code: &str) -> String {
    let c = code.trim();
    let c = if c.len() > 3 && c[..3].eq_ignore_ascii_case("knv") {
        &c[3..]
    } else {
        c
    };
    c.to_string()
}

/// Split one error list into (source errors, sync errors) by code (see
/// [`ReportError::is_source_error`]).
pub fn split_errors(errors: Vec<ReportError>) -> (Vec<ReportError>, Vec<ReportError>) {
    errors.into_iter().partition(ReportError::is_source_error)
}

/// Totals since the syncer started (not written to RootSync status; served on `/status`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Counters {
    /// Server-side applies (full syncs and drift corrections).
    pub applies: u64,
    /// Objects pruned.
    pub prunes: u64,
    /// Retried API requests.
    pub retries: u64,
    /// Drift corrections.
    pub drift_corrections: u64,
    /// Full syncs completed.
    pub full_syncs: u64,
}

/// The state of one cluster's sync, as `nomos status` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SyncState {
    Synced,
    Pending,
    Error,
    Stalled,
    Reconciling,
}

impl SyncState {
    /// `SYNCED`, `PENDING`, …
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Synced => "SYNCED",
            SyncState::Pending => "PENDING",
            SyncState::Error => "ERROR",
            SyncState::Stalled => "STALLED",
            SyncState::Reconciling => "RECONCILING",
        }
    }
}

/// What one cluster's syncer knows about its sync: the monitor's input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClusterReport {
    /// The cluster's key (its kubeconfig context, or its name); unique per process.
    pub cluster: String,
    /// The cluster name cluster selectors see.
    pub cluster_name: String,
    /// The RootSync this report is written to.
    pub sync: SyncRef,
    pub source: SourceSpec,
    /// The newest source commit seen (valid or not).
    pub source_commit: Option<String>,
    /// The commit last fully applied (`status.lastSyncedCommit`).
    pub synced_commit: Option<String>,
    /// Errors reading, parsing or validating the source (`status.source.errors`).
    pub source_errors: Vec<ReportError>,
    /// Errors applying, pruning, correcting drift, fights, conflicts (`status.sync.errors`).
    pub sync_errors: Vec<ReportError>,
    /// A reason the syncer cannot make progress at all (the `Stalled` condition).
    pub stalled: Option<String>,
    /// The group-kinds of the managed objects (the ApplySet's `contains-group-kinds`).
    pub managed_group_kinds: BTreeSet<GroupKind>,
    /// Objects managed on this cluster.
    pub managed_objects: u64,
    /// Whether the last attempt to reach the cluster succeeded.
    pub reachable: bool,
    /// When the last full sync finished successfully.
    #[serde(with = "opt_rfc3339")]
    pub last_sync: Option<SystemTime>,
    /// When this report was made (the `lastUpdate` of the source status and the conditions).
    #[serde(with = "opt_rfc3339")]
    pub updated: Option<SystemTime>,
    pub counters: Counters,
}

impl ClusterReport {
    /// An empty report for `cluster` (key and cluster name) and the default RootSync.
    pub fn new(cluster: impl Into<String>) -> Self {
        let cluster = cluster.into();
        ClusterReport {
            cluster_name: cluster.clone(),
            cluster,
            ..ClusterReport::default()
        }
    }

    /// Whether the source or the sync has errors.
    pub fn has_errors(&self) -> bool {
        !self.source_errors.is_empty() || !self.sync_errors.is_empty()
    }

    /// The `nomos status` state (reference 6.4): STALLED, then ERROR when any error list is
    /// non-empty, PENDING when nothing was synced yet or the synced commit is not the source
    /// commit, SYNCED otherwise.
    pub fn state(&self) -> SyncState {
        if self.stalled.is_some() {
            SyncState::Stalled
        } else if self.has_errors() {
            SyncState::Error
        } else if self.synced_commit.is_none()
            || (self.source_commit.is_some() && self.source_commit != self.synced_commit)
        {
            SyncState::Pending
        } else {
            SyncState::Synced
        }
    }

    /// `success` or `error` (the `status` label of Config Sync's metrics).
    pub fn outcome(&self) -> &'static str {
        if self.has_errors() || self.stalled.is_some() {
            "error"
        } else {
            "success"
        }
    }

    /// The `applyset.kubernetes.io/contains-group-kinds` value: sorted `Kind.group` (`Kind`
    /// for the core group), comma-separated.
    pub fn contains_group_kinds(&self) -> String {
        contains_group_kinds(&self.managed_group_kinds)
    }
}

/// Sorted `Kind.group` list, comma-separated (kubectl's ApplySet format).
pub fn contains_group_kinds(gks: &BTreeSet<GroupKind>) -> String {
    let mut v: Vec<String> = gks.iter().map(ToString::to_string).collect();
    v.sort();
    v.dedup();
    v.join(",")
}

/// The inverse of [`contains_group_kinds`] (empty entries skipped; the group is what follows
/// the first `.`).
pub fn parse_group_kinds(s: &str) -> BTreeSet<GroupKind> {
    s.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| match e.split_once('.') {
            Some((kind, group)) => GroupKind::new(group, kind),
            None => GroupKind::new("", e),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_normalized() {
        assert_eq!(ReportError::new("KNV2009", "x").code, "2009");
        assert_eq!(ReportError::new("knv1021", "x").code, "1021");
        assert_eq!(ReportError::new("2004", "x").knv(), "KNV2004");
        assert!(ReportError::new("KNV1009", "x").is_source_error());
        assert!(ReportError::new("KNV2004", "x").is_source_error());
        assert!(!ReportError::new("KNV2009", "x").is_source_error());
    }

    #[test]
    fn error_message_round_trips() {
        let e = ReportError::new("KNV2009", "apply failed\nsecond line");
        let text = e.error_message();
        assert!(text.starts_with("KNV2009: apply failed"));
        assert!(text.ends_with("https://g.co/cloud/acm-errors#knv2009"));
        assert_eq!(ReportError::from_error_message("2009", &text), e);
        assert_eq!(
            ReportError::from_error_message("1000", "plain").message,
            "plain"
        );
    }

    #[test]
    fn group_kinds_format() {
        let gks: BTreeSet<GroupKind> = [
            GroupKind::new("apps", "Deployment"),
            GroupKind::new("", "Namespace"),
            GroupKind::new("", "ConfigMap"),
            GroupKind::new("rbac.authorization.k8s.io", "ClusterRole"),
        ]
        .into_iter()
        .collect();
        let s = contains_group_kinds(&gks);
        assert_eq!(
            s,
            "ClusterRole.rbac.authorization.k8s.io,ConfigMap,Deployment.apps,Namespace"
        );
        assert_eq!(parse_group_kinds(&s), gks);
    }

    #[test]
    fn states() {
        let mut r = ClusterReport::new("a");
        assert_eq!(r.state(), SyncState::Pending);
        r.source_commit = Some("c1".into());
        r.synced_commit = Some("c1".into());
        assert_eq!(r.state(), SyncState::Synced);
        r.source_commit = Some("c2".into());
        assert_eq!(r.state(), SyncState::Pending);
        r.sync_errors.push(ReportError::new("2009", "x"));
        assert_eq!(r.state(), SyncState::Error);
        r.stalled = Some("bad".into());
        assert_eq!(r.state(), SyncState::Stalled);
    }

    #[test]
    fn report_json_round_trips() {
        let mut r = ClusterReport::new("prod");
        r.last_sync = Some(SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000));
        r.managed_group_kinds
            .insert(GroupKind::new("apps", "Deployment"));
        r.source_errors.push(
            ReportError::new("1009", "bad").with_resource(ErrorResource {
                kind: "ConfigMap".into(),
                name: "a".into(),
                ..Default::default()
            }),
        );
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            text.contains("\"lastSync\":\"2023-11-14T22:13:20Z\""),
            "{text}"
        );
        let back: ClusterReport = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
    }
}

//! The syncer's per-cluster [`SyncStatus`] as the monitor's [`ClusterReport`]: what the
//! RootSync status, `/status` and the per-cluster metrics are made from.

use std::time::SystemTime;

use nomos_core::desired::SyncIdentity;
use nomos_monitor::{ClusterReport, Counters, ErrorResource, ReportError, SourceSpec, SyncRef};

use crate::status::{StatusError, SyncStatus};

/// What a report says about the source, besides the status (fixed for a syncer's lifetime).
#[derive(Debug, Clone, Default)]
pub struct ReportContext {
    pub sync: SyncIdentity,
    pub source: SourceSpec,
}

fn error(e: &StatusError) -> ReportError {
    let code = e.code.trim_start_matches("KNV");
    let mut r = ReportError::new(code, e.message.clone());
    if let Some(res) = e.object.as_deref().and_then(ErrorResource::from_object_ref) {
        r = r.with_resource(res);
    }
    r
}

/// Convert one cluster's status; `now` stamps the report.
pub fn report_of(s: &SyncStatus, ctx: &ReportContext, now: SystemTime) -> ClusterReport {
    let errors: Vec<ReportError> = s.errors.iter().map(error).collect();
    let (source_errors, sync_errors) = nomos_monitor::split_errors(errors);
    ClusterReport {
        cluster: s.cluster.clone(),
        cluster_name: s.cluster_name.clone(),
        sync: SyncRef {
            name: ctx.sync.name.clone(),
            namespace: ctx.sync.namespace.clone(),
        },
        source: ctx.source.clone(),
        source_commit: s.source_token.clone(),
        synced_commit: s.commit.clone(),
        source_errors,
        sync_errors,
        stalled: None,
        managed_group_kinds: s.managed_kinds.clone(),
        managed_objects: s.managed_objects as u64,
        reachable: s.reachable,
        last_sync: s.last_sync,
        updated: Some(now),
        counters: Counters {
            applies: s.applies,
            prunes: s.prunes,
            retries: s.retries,
            drift_corrections: s.drift_corrections,
            full_syncs: s.full_syncs,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nomos_core::{Code, GroupKind};

    #[test]
    fn errors_split_into_source_and_sync_with_their_objects() {
        let s = SyncStatus {
            cluster: "prod".into(),
            cluster_name: "prod".into(),
            source_token: Some("c2".into()),
            commit: Some("c1".into()),
            errors: vec![
                StatusError::new(Code::OBJECT_PARSE, "bad field", None),
                StatusError::new(
                    Code::APPLIER,
                    "rejected",
                    Some("Deployment.apps/shop/web".into()),
                ),
            ],
            managed_objects: 2,
            managed_kinds: [GroupKind {
                group: "apps".into(),
                kind: "Deployment".into(),
            }]
            .into(),
            applies: 7,
            ..Default::default()
        };
        let r = report_of(&s, &ReportContext::default(), SystemTime::UNIX_EPOCH);
        assert_eq!(r.source_errors.len(), 1);
        assert_eq!(r.source_errors[0].code, "1006");
        assert_eq!(r.sync_errors.len(), 1);
        assert_eq!(r.sync_errors[0].code, "2009");
        let res = &r.sync_errors[0].resources[0];
        assert_eq!(
            (res.kind.as_str(), res.group.as_str(), res.name.as_str()),
            ("Deployment", "apps", "web")
        );
        assert_eq!(r.source_commit.as_deref(), Some("c2"));
        assert_eq!(r.synced_commit.as_deref(), Some("c1"));
        assert_eq!(r.contains_group_kinds(), "Deployment.apps");
        assert_eq!(r.counters.applies, 7);
        assert_eq!(r.sync.name, "root-sync");
    }
}

//! Gathering the live state a plan needs: every object carrying our ApplySet label (prune
//! candidates, whatever their kind) and every object of a declared kind (adoption candidates).

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use nomos_core::Gvk;
use nomos_core::desired::{DesiredState, SyncIdentity};
use serde_json::Value;

use crate::client::ClusterClient;
use crate::error::Result;

/// What [`live_state`] found.
#[derive(Debug, Default)]
pub struct LiveState {
    /// Live objects, as the API server returned them (with `apiVersion` and `kind`).
    pub objects: Vec<Value>,
    /// Kinds that could not be listed (skipped, not fatal).
    pub skipped: Vec<SkippedKind>,
}

/// A kind [`live_state`] could not list.
#[derive(Debug, Clone)]
pub struct SkippedKind {
    pub gvk: Gvk,
    /// The error, for people.
    pub reason: String,
    /// The API server's HTTP status, when it answered.
    pub status: Option<u16>,
}

impl SkippedKind {
    /// The server does not list this kind at all (404 or 405: not served, or a kind without a
    /// list verb), so nothing of it can be ours; any other failure may hide managed objects.
    pub fn not_listable(&self) -> bool {
        matches!(self.status, Some(404 | 405))
    }
}

/// List what the syncer needs to plan `desired`: every served kind filtered by our ApplySet
/// label, and every object of the declared kinds (unfiltered, so pre-existing objects can be
/// adopted). Kinds that cannot be listed are skipped and reported. Discovery is refreshed first.
pub async fn live_state(
    client: &ClusterClient,
    desired: &DesiredState,
    sync: &SyncIdentity,
    concurrency: usize,
) -> Result<LiveState> {
    client.refresh_discovery().await?;
    let declared: BTreeSet<(String, String)> = desired
        .objects
        .iter()
        .map(|d| (d.gvk.group.clone(), d.gvk.kind.clone()))
        .collect();
    // One version per group-kind: the declared one when served, else the first served.
    let mut per_gk: BTreeMap<(String, String), Gvk> = BTreeMap::new();
    for gvk in client.mapper().kinds() {
        per_gk
            .entry((gvk.group.clone(), gvk.kind.clone()))
            .or_insert(gvk);
    }
    for d in &desired.objects {
        if client.mapper().cached(&d.gvk).is_some() {
            per_gk.insert((d.gvk.group.clone(), d.gvk.kind.clone()), d.gvk.clone());
        }
    }
    let selector = format!(
        "{}={}",
        nomos_core::ann::APPLYSET_PART_OF,
        sync.applyset_id()
    );
    let jobs: Vec<(Gvk, String)> = per_gk
        .into_iter()
        .map(|(gk, gvk)| {
            let sel = if declared.contains(&gk) {
                String::new()
            } else {
                selector.clone()
            };
            (gvk, sel)
        })
        .collect();
    let results: Vec<(Gvk, Result<Vec<Value>>)> = futures::stream::iter(jobs)
        .map(|(gvk, sel)| async move {
            let r = client.list(&gvk, &sel).await;
            (gvk, r)
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut out = LiveState::default();
    for (gvk, r) in results {
        match r {
            Ok(mut v) => out.objects.append(&mut v),
            Err(e) => out.skipped.push(SkippedKind {
                gvk,
                reason: e.to_string(),
                status: e.status(),
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skipped(status: Option<u16>, reason: &str) -> SkippedKind {
        SkippedKind {
            gvk: Gvk::from_api_version("v1", "ConfigMap"),
            reason: reason.into(),
            status,
        }
    }

    /// Only the server's own 404/405 means "not listable"; a connection error whose text
    /// happens to hold the digits (a port such as `:40412`) may hide managed objects.
    #[test]
    fn only_the_servers_status_makes_a_kind_not_listable() {
        assert!(skipped(Some(404), "NotFound").not_listable());
        assert!(skipped(Some(405), "MethodNotAllowed").not_listable());
        assert!(!skipped(Some(500), "internal").not_listable());
        assert!(!skipped(None, "connecting to 127.0.0.1:40412: refused").not_listable());
    }
}

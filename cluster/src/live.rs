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
    /// Kinds that could not be listed, with the reason (skipped, not fatal).
    pub skipped: Vec<(Gvk, String)>,
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
            Err(e) => out.skipped.push((gvk, e.to_string())),
        }
    }
    Ok(out)
}

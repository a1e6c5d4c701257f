//! Reading RootSyncs and their managed objects from clusters: what `nomos status` and the
//! standalone monitor show.

use std::path::Path;
use std::time::Duration;

use nomos_cluster::ClusterClient;
use nomos_core::Gvk;
use serde_json::Value;

use crate::report::parse_group_kinds;
use crate::rootsync::{APPLYSET_CONTAINS_GROUP_KINDS, GROUP, KIND, applyset_id_of};
use crate::view::{ClusterView, RenderOptions, ResourceRow, repo_view, resource_row};
use crate::{Error, Result};

/// Which RootSyncs to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Only the RootSync of this name (`--name`).
    pub name: Option<String>,
    /// Only RootSyncs in this namespace (`--namespace`).
    pub namespace: Option<String>,
    /// List the managed objects (`--resources`).
    pub resources: bool,
}

/// What a cluster holds.
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterRead {
    /// RootSync is not served (no CRD).
    NotInstalled,
    /// RootSync is served, but none matches.
    NotConfigured,
    /// The matching RootSyncs with their managed objects (empty when not asked for).
    RootSyncs(Vec<(Value, Vec<ResourceRow>)>),
}

/// The served RootSync kind (`v1beta1`, else `v1alpha1`), after a fresh discovery.
pub async fn root_sync_gvk(client: &ClusterClient) -> Result<Option<Gvk>> {
    client.refresh_discovery().await?;
    for version in ["v1beta1", "v1alpha1"] {
        let gvk = Gvk {
            group: GROUP.into(),
            version: version.into(),
            kind: KIND.into(),
        };
        if client.mapper().cached(&gvk).is_some() {
            return Ok(Some(gvk));
        }
    }
    Ok(None)
}

/// Read the RootSyncs matching `q` (and their managed objects when `q.resources`).
pub async fn read_cluster(client: &ClusterClient, q: &Query) -> Result<ClusterRead> {
    let Some(gvk) = root_sync_gvk(client).await? else {
        return Ok(ClusterRead::NotInstalled);
    };
    let mut syncs: Vec<Value> = client
        .list(&gvk, "")
        .await?
        .into_iter()
        .filter(|rs| {
            let name = rs["metadata"]["name"].as_str().unwrap_or("");
            let ns = rs["metadata"]["namespace"].as_str().unwrap_or("");
            q.name.as_deref().is_none_or(|n| n == name)
                && q.namespace.as_deref().is_none_or(|n| n == ns)
        })
        .collect();
    if syncs.is_empty() {
        return Ok(ClusterRead::NotConfigured);
    }
    syncs.sort_by_key(|rs| {
        (
            rs["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            rs["metadata"]["name"].as_str().unwrap_or("").to_string(),
        )
    });
    let mut out = Vec::with_capacity(syncs.len());
    for rs in syncs {
        let rows = if q.resources {
            managed_objects(client, &rs)
                .await?
                .iter()
                .map(resource_row)
                .collect()
        } else {
            Vec::new()
        };
        out.push((rs, rows));
    }
    Ok(ClusterRead::RootSyncs(out))
}

/// The objects a RootSync manages: of each kind in its `contains-group-kinds` annotation (at a
/// version the cluster serves), those carrying its ApplySet id as `applyset.kubernetes.io/part-of`.
/// Kinds no longer served are skipped.
pub async fn managed_objects(client: &ClusterClient, rs: &Value) -> Result<Vec<Value>> {
    let id = applyset_id_of(rs);
    let selector = format!("{}={id}", nomos_core::ann::APPLYSET_PART_OF);
    let gks = parse_group_kinds(
        rs["metadata"]["annotations"][APPLYSET_CONTAINS_GROUP_KINDS]
            .as_str()
            .unwrap_or(""),
    );
    let served = client.mapper().kinds();
    let mut out = Vec::new();
    for gk in gks {
        let Some(gvk) = served
            .iter()
            .find(|g| g.group == gk.group && g.kind == gk.kind)
        else {
            continue;
        };
        out.extend(client.list(gvk, &selector).await?);
    }
    Ok(out)
}

/// Whether an error means the cluster could not be reached (rather than an API answer).
pub fn is_unreachable(e: &Error) -> bool {
    match e {
        Error::Cluster(nomos_cluster::Error::Kube(kube::Error::Api(_))) => false,
        Error::Cluster(nomos_cluster::Error::Kube(_)) => true,
        _ => false,
    }
}

/// The view of one cluster (reading errors become `ERROR` or `N/A` views).
pub fn view_of(name: &str, read: Result<ClusterRead>) -> ClusterView {
    match read {
        Ok(ClusterRead::NotInstalled) => ClusterView::not_installed(name),
        Ok(ClusterRead::NotConfigured) => ClusterView::not_configured(name),
        Ok(ClusterRead::RootSyncs(rs)) => ClusterView::with_repos(
            name,
            rs.into_iter()
                .map(|(r, rows)| repo_view(&r, rows))
                .collect(),
        ),
        Err(e) if is_unreachable(&e) => ClusterView::unavailable(name, &e.to_string()),
        Err(e) => ClusterView::error(name, &e.to_string()),
    }
}

/// The contexts of a kubeconfig (`path`, else `$KUBECONFIG` / `~/.kube/config`) and its
/// current context.
pub fn kubeconfig_contexts(path: Option<&Path>) -> Result<(Vec<String>, Option<String>)> {
    let kc = match path {
        Some(p) => kube::config::Kubeconfig::read_from(p),
        None => kube::config::Kubeconfig::read(),
    }
    .map_err(|e| Error::Kubeconfig {
        path: path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "$KUBECONFIG or ~/.kube/config".into()),
        message: e.to_string(),
    })?;
    let names = kc.contexts.iter().map(|c| c.name.clone()).collect();
    Ok((names, kc.current_context.clone()))
}

/// `nomos status` for a kubeconfig: every context (or those named in `contexts`), read
/// concurrently, each within `timeout`. Errors only when there is no cluster at all
/// (`no clusters found`) or the kubeconfig cannot be read.
pub async fn status_of_contexts(
    kubeconfig: Option<&Path>,
    contexts: &[String],
    q: &Query,
    timeout: Duration,
) -> Result<Vec<ClusterView>> {
    let (all, current) = kubeconfig_contexts(kubeconfig)?;
    let names: Vec<String> = if contexts.is_empty() {
        all.clone()
    } else {
        contexts.to_vec()
    };
    let mut names = names;
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Err(Error::NoClusters);
    }
    let current = current.as_deref();
    let all = &all;
    let jobs = names.iter().map(|name| {
        let known = all.contains(name);
        async move {
            let mut v = if !known {
                ClusterView::unavailable(name, "no such context in the kubeconfig")
            } else {
                let work = async {
                    let client = ClusterClient::from_kubeconfig(kubeconfig, Some(name))
                        .await
                        .map_err(Error::from)?;
                    read_cluster(&client, q).await
                };
                match tokio::time::timeout(timeout, work).await {
                    Ok(read) => view_of(name, read),
                    Err(_) => ClusterView::unavailable(
                        name,
                        &format!(
                            "no answer within {}",
                            crate::time::go_duration_string(timeout)
                        ),
                    ),
                }
            };
            v.current = current == Some(name.as_str());
            v
        }
    });
    Ok(futures::future::join_all(jobs).await)
}

/// [`status_of_contexts`] rendered as `nomos status` prints it.
pub async fn status_text(
    kubeconfig: Option<&Path>,
    contexts: &[String],
    q: &Query,
    timeout: Duration,
) -> Result<String> {
    let views = status_of_contexts(kubeconfig, contexts, q, timeout).await?;
    Ok(crate::view::render(
        &views,
        &RenderOptions {
            resources: q.resources,
        },
    ))
}

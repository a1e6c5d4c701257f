//! Discovery / REST mapping: `Gvk` → [`ApiResource`] and scope, cached until [`RestMapper::refresh`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use kube::discovery::{ApiResource, Discovery, Scope};
use nomos_core::Gvk;

use crate::error::{Error, Result};

/// A resolved resource type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub resource: ApiResource,
    pub namespaced: bool,
}

/// Cached discovery of every served group/version/kind (subresources excluded). Cheap to
/// clone; clones share the cache.
#[derive(Clone, Default)]
pub struct RestMapper {
    cache: Arc<RwLock<Option<HashMap<Gvk, Mapping>>>>,
}

impl std::fmt::Debug for RestMapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.read().as_ref().map(HashMap::len);
        f.debug_struct("RestMapper").field("kinds", &n).finish()
    }
}

impl RestMapper {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<HashMap<Gvk, Mapping>>> {
        self.cache.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Run discovery again (aggregated discovery, falling back to per-group discovery), e.g.
    /// after applying CustomResourceDefinitions.
    pub async fn refresh(&self, client: &kube::Client) -> Result<()> {
        let discovery = match Discovery::new(client.clone()).run_aggregated().await {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(error = %e, "aggregated discovery failed; using legacy discovery");
                Discovery::new(client.clone()).run().await?
            }
        };
        let mut map = HashMap::new();
        for group in discovery.groups() {
            for version in group.versions() {
                for (ar, caps) in group.versioned_resources(version) {
                    let gvk = Gvk {
                        group: ar.group.clone(),
                        version: ar.version.clone(),
                        kind: ar.kind.clone(),
                    };
                    map.insert(
                        gvk,
                        Mapping {
                            namespaced: caps.scope == Scope::Namespaced,
                            resource: ar,
                        },
                    );
                }
            }
        }
        tracing::debug!(kinds = map.len(), "discovery refreshed");
        *self.cache.write().unwrap_or_else(|p| p.into_inner()) = Some(map);
        Ok(())
    }

    /// Whether discovery has run at least once.
    pub fn is_loaded(&self) -> bool {
        self.read().is_some()
    }

    /// Resolve from the cache only (`None` when not loaded yet or unknown).
    pub fn cached(&self, gvk: &Gvk) -> Option<Mapping> {
        self.read().as_ref()?.get(gvk).cloned()
    }

    /// Resolve a kind, running discovery first if it never ran. Unknown kinds are
    /// [`Error::UnknownKind`] (no automatic refresh: call [`RestMapper::refresh`] when new
    /// kinds are expected).
    pub async fn resolve(&self, client: &kube::Client, gvk: &Gvk) -> Result<Mapping> {
        if !self.is_loaded() {
            self.refresh(client).await?;
        }
        self.cached(gvk).ok_or_else(|| Error::UnknownKind {
            gvk: gvk_string(gvk),
        })
    }

    /// Every known kind.
    pub fn kinds(&self) -> Vec<Gvk> {
        let mut v: Vec<Gvk> = self
            .read()
            .as_ref()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// `apps/v1, Kind=Deployment` (the apimachinery rendering).
pub fn gvk_string(gvk: &Gvk) -> String {
    if gvk.group.is_empty() {
        format!("/{}, Kind={}", gvk.version, gvk.kind)
    } else {
        format!("{}/{}, Kind={}", gvk.group, gvk.version, gvk.kind)
    }
}

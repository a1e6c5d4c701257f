//! Object operations on `serde_json::Value`s (kube `DynamicObject`s underneath).

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use nomos_core::Gvk;
use nomos_core::desired::{Manifest, SyncIdentity};
use nomos_core::plan::strip_config_sync_metadata;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

use crate::client::ClusterClient;
use crate::discovery::Mapping;
use crate::error::{Error, Result};

/// Config Sync's server-side apply field manager.
pub const FIELD_MANAGER: &str = "configsync.gke.io";

/// Page size of [`ClusterClient::list`].
const PAGE: u32 = 500;

/// What [`ClusterClient::delete`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The object was deleted (or its deletion started: finalizers may keep it a while).
    Deleted,
    /// There was nothing to delete.
    NotFound,
}

/// The group/version/kind of an object.
pub fn gvk_of(obj: &Value) -> Result<Gvk> {
    let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if api.is_empty() || kind.is_empty() {
        return Err(Error::InvalidObject("missing apiVersion or kind".into()));
    }
    Ok(Gvk::from_api_version(api, kind))
}

/// What applying needs from a manifest, read without building the whole tree.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(rename = "apiVersion", borrow, default)]
    api_version: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    metadata: HeadMeta<'a>,
}

#[derive(serde::Deserialize, Default)]
struct HeadMeta<'a> {
    #[serde(borrow, default)]
    name: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    namespace: std::borrow::Cow<'a, str>,
}

fn meta_str<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.get("metadata")?
        .get(key)?
        .as_str()
        .filter(|s| !s.is_empty())
}

fn to_value(o: DynamicObject, m: &Mapping) -> Result<Value> {
    let mut v = serde_json::to_value(o)?;
    // List items come without apiVersion/kind; put them back so callers can plan with them.
    if let Some(obj) = v.as_object_mut() {
        obj.entry("apiVersion")
            .or_insert_with(|| Value::String(m.resource.api_version.clone()));
        obj.entry("kind")
            .or_insert_with(|| Value::String(m.resource.kind.clone()));
    }
    Ok(v)
}

impl ClusterClient {
    fn api(&self, m: &Mapping, namespace: Option<&str>) -> Api<DynamicObject> {
        match (m.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &m.resource),
            (true, None) => Api::default_namespaced_with(self.client.clone(), &m.resource),
            (false, _) => Api::all_with(self.client.clone(), &m.resource),
        }
    }

    /// Server-side apply `obj` as `field_manager` (Config Sync: [`FIELD_MANAGER`], `force`).
    /// Returns the object as stored.
    pub async fn apply(&self, obj: &Value, field_manager: &str, force: bool) -> Result<Value> {
        let gvk = gvk_of(obj)?;
        let name = meta_str(obj, "name")
            .ok_or_else(|| Error::InvalidObject("missing metadata.name".into()))?;
        let m = self.resolve(&gvk).await?;
        let mut params = PatchParams::apply(field_manager);
        params.force = force;
        let out = self
            .api(&m, meta_str(obj, "namespace"))
            .patch(name, &params, &Patch::Apply(obj))
            .await?;
        to_value(out, &m)
    }

    /// Server-side apply a desired object's JSON as is (no re-encoding), without decoding the
    /// stored object the server returns (the executor does not need it; decoding costs as much
    /// as encoding).
    pub async fn apply_manifest(
        &self,
        manifest: &Manifest,
        field_manager: &str,
        force: bool,
    ) -> Result<()> {
        let head: Head<'_> = serde_json::from_str(manifest.json())?;
        if head.api_version.is_empty() || head.kind.is_empty() {
            return Err(Error::InvalidObject("missing apiVersion or kind".into()));
        }
        if head.metadata.name.is_empty() {
            return Err(Error::InvalidObject("missing metadata.name".into()));
        }
        let gvk = Gvk::from_api_version(&head.api_version, &head.kind);
        let m = self.resolve(&gvk).await?;
        let mut params = PatchParams::apply(field_manager);
        params.force = force;
        let ns = Some(head.metadata.namespace.as_ref()).filter(|n: &&str| !n.is_empty());
        let api = self.api(&m, ns);
        let raw: &RawValue = serde_json::from_str(manifest.json())?;
        let req = kube::core::Request::new(api.resource_url())
            .patch(&head.metadata.name, &params, &Patch::Apply(raw))
            .map_err(kube::Error::BuildRequest)?;
        self.client.request::<serde::de::IgnoredAny>(req).await?;
        Ok(())
    }

    /// Get one object; `None` when it does not exist.
    pub async fn get(
        &self,
        gvk: &Gvk,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>> {
        let m = self.resolve(gvk).await?;
        match self.api(&m, namespace).get_opt(name).await? {
            Some(o) => Ok(Some(to_value(o, &m)?)),
            None => Ok(None),
        }
    }

    /// Delete one object with background propagation. A missing object is
    /// [`Deleted::NotFound`], not an error.
    pub async fn delete(&self, gvk: &Gvk, namespace: Option<&str>, name: &str) -> Result<Deleted> {
        let m = self.resolve(gvk).await?;
        match self
            .api(&m, namespace)
            .delete(name, &DeleteParams::background())
            .await
        {
            Ok(_) => Ok(Deleted::Deleted),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(Deleted::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Every object of a kind in all namespaces matching `label_selector` (`""` for all),
    /// fetched in pages of 500 with `continue` tokens.
    pub async fn list(&self, gvk: &Gvk, label_selector: &str) -> Result<Vec<Value>> {
        let m = self.resolve(gvk).await?;
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &m.resource);
        let mut params = ListParams::default().limit(PAGE);
        if !label_selector.is_empty() {
            params = params.labels(label_selector);
        }
        let mut out = Vec::new();
        loop {
            let page = api.list(&params).await?;
            let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
            for o in page.items {
                out.push(to_value(o, &m)?);
            }
            match next {
                Some(token) => params = params.continue_token(&token),
                None => break,
            }
        }
        Ok(out)
    }

    /// Abandon a live object: remove Config Sync's metadata (exactly the keys
    /// [`strip_config_sync_metadata`] removes, as a JSON merge patch setting them to null),
    /// leaving everything else. Returns the patched object, or `live` itself when there was
    /// nothing to remove.
    pub async fn abandon(&self, live: &Value, sync: &SyncIdentity) -> Result<Value> {
        let Some(patch) = abandon_patch(live, sync) else {
            return Ok(live.clone());
        };
        let gvk = gvk_of(live)?;
        let name = meta_str(live, "name")
            .ok_or_else(|| Error::InvalidObject("missing metadata.name".into()))?;
        let m = self.resolve(&gvk).await?;
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        let out = self
            .api(&m, meta_str(live, "namespace"))
            .patch(name, &params, &Patch::Merge(&patch))
            .await?;
        to_value(out, &m)
    }
}

/// The JSON merge patch that abandons `live` (`None` when it carries none of our metadata).
pub fn abandon_patch(live: &Value, sync: &SyncIdentity) -> Option<Value> {
    let mut stripped = live.clone();
    strip_config_sync_metadata(&mut stripped, sync);
    let mut md = Map::new();
    for field in ["annotations", "labels"] {
        let keys = |v: &Value| -> Vec<String> {
            v.get("metadata")
                .and_then(|m| m.get(field))
                .and_then(Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let kept = keys(&stripped);
        let removed: Map<String, Value> = keys(live)
            .into_iter()
            .filter(|k| !kept.contains(k))
            .map(|k| (k, Value::Null))
            .collect();
        if !removed.is_empty() {
            md.insert(field.to_string(), Value::Object(removed));
        }
    }
    (!md.is_empty()).then(|| json!({ "metadata": md }))
}

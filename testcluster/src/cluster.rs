//! A cluster: its store, clock, faults, and the ways in (service, socket, external actor).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{Value, json};

use crate::Error;
use crate::clock::{Clock, SystemClock, rfc3339};
use crate::faults::Faults;
use crate::status::ApiError;
use crate::store::Store;

/// How a cluster is set up.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The cluster's name (kubeconfig cluster and context name).
    pub name: String,
    /// How many events the log keeps; a watch from an older resourceVersion gets 410.
    pub event_retention: usize,
    /// How often watches that allow bookmarks get one.
    pub bookmark_interval: Duration,
    /// The longest a watch stays open when the client sets no `timeoutSeconds`.
    pub max_watch_timeout: Duration,
    /// The source of timestamps.
    pub clock: Arc<dyn Clock>,
    /// Seed for uids, generated names and fault fractions.
    pub seed: u64,
    /// A file the store is loaded from at start (if it exists) and saved to by
    /// [`Cluster::save`].
    pub state_file: Option<PathBuf>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            name: "testcluster".into(),
            event_retention: 10_000,
            bookmark_interval: Duration::from_secs(60),
            max_watch_timeout: Duration::from_secs(1800),
            clock: Arc::new(SystemClock),
            seed: 0x5EED,
            state_file: None,
        }
    }
}

impl ClusterConfig {
    /// The default configuration with a name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

/// State shared by every way into one cluster.
#[derive(Debug)]
pub(crate) struct Shared {
    pub name: String,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub faults: Faults,
    pub rng: Mutex<u64>,
    pub bookmark_interval: Duration,
    pub max_watch_timeout: Duration,
    pub state_file: Option<PathBuf>,
}

impl Shared {
    pub fn now(&self) -> String {
        rfc3339(self.clock.now())
    }

    pub fn next_random(&self) -> u64 {
        let mut s = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn uid(&self) -> String {
        let a = self.next_random();
        let b = self.next_random();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | (b >> 48) & 0x3fff,
            b & 0xffff_ffff_ffff
        )
    }

    /// Five characters as Kubernetes appends to `generateName`.
    pub fn name_suffix(&self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut r = self.next_random();
        (0..5)
            .map(|_| {
                let c = ALPHABET[(r % ALPHABET.len() as u64) as usize] as char;
                r /= ALPHABET.len() as u64;
                c
            })
            .collect()
    }
}

/// One in-memory cluster. Cheap to clone (a handle).
#[derive(Debug, Clone)]
pub struct Cluster {
    pub(crate) shared: Arc<Shared>,
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
    }
}

impl Cluster {
    /// A cluster with the default configuration.
    pub fn new() -> Self {
        Self::with_config(ClusterConfig::default()).unwrap_or_else(|_| unreachable!())
    }

    /// A cluster with the given configuration; loads `state_file` when it exists.
    pub fn with_config(cfg: ClusterConfig) -> Result<Self, Error> {
        let shared = Arc::new(Shared {
            name: cfg.name,
            store: Store::new(cfg.event_retention),
            clock: cfg.clock,
            faults: Faults::new(cfg.seed ^ 0xFA17),
            rng: Mutex::new(cfg.seed),
            bookmark_interval: cfg.bookmark_interval,
            max_watch_timeout: cfg.max_watch_timeout,
            state_file: cfg.state_file,
        });
        let c = Cluster { shared };
        match c.shared.state_file.clone() {
            Some(p) if p.exists() => c.load(&p)?,
            _ => c.bootstrap()?,
        }
        Ok(c)
    }

    fn bootstrap(&self) -> Result<(), Error> {
        let admin = self.external("kube-apiserver");
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            admin.create(
                &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            )?;
        }
        Ok(())
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The fault injection controls.
    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// Writes as someone other than the system under test (to simulate drift). The writes
    /// bypass faults and record `manager` in `managedFields`.
    pub fn external(&self, manager: &str) -> ExternalActor {
        ExternalActor {
            cluster: self.clone(),
            manager: manager.to_string(),
        }
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.store.resource_version()
    }

    /// Number of stored objects.
    pub fn object_count(&self) -> usize {
        self.shared.store.len()
    }

    /// Forgets the event log: watches from any earlier resourceVersion get 410 Gone.
    pub fn compact(&self) {
        self.shared.store.compact();
    }

    /// Reads an object directly (no faults), or `None`.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let (g, v) = split_api_version(api_version);
        let info = self.shared.store.registry().by_kind(g, v, kind)?;
        let obj = self
            .shared
            .store
            .get(&info.key(), namespace.unwrap_or_default(), name)?;
        serde_json::from_slice(&crate::watch::render(&obj, &info)).ok()
    }

    /// Handles one HTTP request in process (faults apply, as they do on a socket).
    pub async fn handle(&self, req: http::Request<Bytes>) -> http::Response<crate::Body> {
        let (parts, body) = req.into_parts();
        crate::router::handle(
            &self.shared,
            crate::router::Req::new(parts.method, &parts.uri, parts.headers, body, false),
        )
        .await
    }

    /// Saves the store to `path` (written to a temporary file, then renamed).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let snap = self.shared.store.snapshot();
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec(&snap).unwrap_or_default())?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    /// Saves to the configured `state_file`, if any.
    pub fn save_state(&self) -> Result<(), Error> {
        match &self.shared.state_file {
            Some(p) => self.save(p),
            None => Ok(()),
        }
    }

    /// Replaces the store with the contents of a file written by [`Cluster::save`].
    pub fn load(&self, path: &Path) -> Result<(), Error> {
        let bytes = std::fs::read(path)?;
        let v: Value =
            serde_json::from_slice(&bytes).map_err(|e| Error::Snapshot(e.to_string()))?;
        self.shared.store.restore(&v).map_err(Error::Snapshot)
    }
}

pub(crate) fn split_api_version(av: &str) -> (&str, &str) {
    match av.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", av),
    }
}

/// Writes to a cluster as an outside actor (a person with kubectl, another controller).
#[derive(Debug, Clone)]
pub struct ExternalActor {
    cluster: Cluster,
    manager: String,
}

impl ExternalActor {
    fn path_of(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Result<String, ApiError> {
        let (g, v) = split_api_version(api_version);
        let info = self
            .cluster
            .shared
            .store
            .registry()
            .by_kind(g, v, kind)
            .ok_or_else(|| ApiError::path_not_found(&format!("no kind {kind} in {api_version}")))?;
        let mut p = if g.is_empty() {
            format!("/api/{v}")
        } else {
            format!("/apis/{g}/{v}")
        };
        if info.namespaced {
            p.push_str(&format!("/namespaces/{}", namespace.unwrap_or("default")));
        }
        p.push('/');
        p.push_str(&info.plural);
        if let Some(n) = name {
            p.push('/');
            p.push_str(n);
        }
        Ok(p)
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        query: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Value, ApiError> {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(content_type) {
            headers.insert(http::header::CONTENT_TYPE, v);
        }
        let manager: String = form_urlencoded::byte_serialize(self.manager.as_bytes()).collect();
        let q = format!(
            "fieldManager={manager}{}{query}",
            if query.is_empty() { "" } else { "&" }
        );
        let uri: http::Uri = format!("{path}?{q}")
            .parse()
            .map_err(|e| ApiError::bad_request(format!("bad path {path}: {e}")))?;
        let req = crate::router::Req::new(method, &uri, headers, body.into(), true);
        let (code, bytes) = crate::router::dispatch_sync(&self.cluster.shared, req);
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if code >= 400 {
            let details = v.get("details").cloned();
            return Err(ApiError {
                code,
                reason: reason_static(v["reason"].as_str().unwrap_or("Unknown")),
                message: v["message"].as_str().unwrap_or_default().to_string(),
                details,
            });
        }
        Ok(v)
    }

    fn target(obj: &Value) -> (String, String, Option<String>, String) {
        (
            obj["apiVersion"].as_str().unwrap_or_default().to_string(),
            obj["kind"].as_str().unwrap_or_default().to_string(),
            crate::meta::meta_str(obj, "namespace").map(str::to_string),
            crate::meta::meta_str(obj, "name")
                .unwrap_or_default()
                .to_string(),
        )
    }

    /// Server-side applies `obj` with `force=true` (takes ownership of what it sets).
    pub fn apply(&self, obj: &Value) -> Result<Value, ApiError> {
        let (av, kind, ns, name) = Self::target(obj);
        let path = self.path_of(&av, &kind, ns.as_deref(), Some(&name))?;
        self.send(
            Method::PATCH,
            &path,
            "force=true",
            "application/apply-patch+yaml",
            serde_json::to_vec(obj).unwrap_or_default(),
        )
    }

    /// Creates `obj`.
    pub fn create(&self, obj: &Value) -> Result<Value, ApiError> {
        let (av, kind, ns, _) = Self::target(obj);
        let path = self.path_of(&av, &kind, ns.as_deref(), None)?;
        self.send(
            Method::POST,
            &path,
            "",
            "application/json",
            serde_json::to_vec(obj).unwrap_or_default(),
        )
    }

    /// Replaces the stored object with `obj`, whatever its resourceVersion.
    pub fn replace(&self, obj: &Value) -> Result<Value, ApiError> {
        let (av, kind, ns, name) = Self::target(obj);
        let path = self.path_of(&av, &kind, ns.as_deref(), Some(&name))?;
        let mut o = obj.clone();
        if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        self.send(
            Method::PUT,
            &path,
            "",
            "application/json",
            serde_json::to_vec(&o).unwrap_or_default(),
        )
    }

    /// Applies a JSON merge patch.
    pub fn merge_patch(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        patch: &Value,
    ) -> Result<Value, ApiError> {
        let path = self.path_of(api_version, kind, namespace, Some(name))?;
        self.send(
            Method::PATCH,
            &path,
            "",
            "application/merge-patch+json",
            serde_json::to_vec(patch).unwrap_or_default(),
        )
    }

    /// Deletes an object (finalizers are honoured).
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let path = self.path_of(api_version, kind, namespace, Some(name))?;
        self.send(Method::DELETE, &path, "", "application/json", Vec::new())
    }
}

fn reason_static(r: &str) -> &'static str {
    const KNOWN: &[&str] = &[
        "NotFound",
        "AlreadyExists",
        "Conflict",
        "Invalid",
        "BadRequest",
        "Forbidden",
        "MethodNotAllowed",
        "UnsupportedMediaType",
        "Expired",
        "Gone",
        "InternalError",
        "ServiceUnavailable",
        "TooManyRequests",
    ];
    KNOWN
        .iter()
        .find(|k| **k == r)
        .copied()
        .unwrap_or("Unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_and_external_writes() {
        let c = Cluster::new();
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let o = c.get("v1", "Namespace", None, ns).unwrap();
            assert_eq!(o["status"]["phase"], "Active");
            assert_eq!(o["metadata"]["labels"]["kubernetes.io/metadata.name"], ns);
        }
        let a = c.external("drift er");
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}, "data": {"a": "1"}});
        let o = a.apply(&cm).unwrap();
        assert_eq!(o["metadata"]["managedFields"][0]["manager"], "drift er");
        let rv = c.resource_version();
        a.apply(&cm).unwrap();
        assert_eq!(c.resource_version(), rv, "no-op apply");
        let e = a.create(&cm).unwrap_err();
        assert_eq!((e.code, e.reason), (409, "AlreadyExists"));
        a.merge_patch(
            "v1",
            "ConfigMap",
            Some("default"),
            "x",
            &json!({"data": {"b": "2"}}),
        )
        .unwrap();
        assert_eq!(
            c.get("v1", "ConfigMap", Some("default"), "x").unwrap()["data"],
            json!({"a": "1", "b": "2"})
        );
        a.delete("v1", "ConfigMap", Some("default"), "x").unwrap();
        assert!(c.get("v1", "ConfigMap", Some("default"), "x").is_none());
    }

    #[test]
    fn uids_and_suffixes() {
        let c = Cluster::new();
        let u = c.shared.uid();
        assert_eq!(u.len(), 36);
        assert_ne!(u, c.shared.uid());
        assert_eq!(c.shared.name_suffix().len(), 5);
    }
}

//! The per-cluster object store: objects as serialized JSON, one resourceVersion counter, an
//! event log with a retention window, and a broadcast of events to watchers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::meta::labels_of;
use crate::resources::{GroupResource, Registry, ResourceInfo, from_crd};

/// A stored object, serialized once.
#[derive(Debug)]
pub struct Obj {
    /// The object as JSON (including `metadata.resourceVersion`).
    pub json: Bytes,
    /// Its resourceVersion.
    pub rv: u64,
    /// Namespace (empty for cluster-scoped kinds).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Sorted labels, for selectors.
    pub labels: Vec<(String, String)>,
    /// `apiVersion` as stored.
    pub api_version: String,
    /// Whether `metadata.deletionTimestamp` is set (the object is being deleted).
    pub deleting: bool,
}

impl Obj {
    /// The stored form of `value` (whose `metadata.resourceVersion` is `rv`).
    fn new(value: &Value, rv: u64, namespace: &str, name: &str) -> Obj {
        Obj {
            json: compact_json(value),
            rv,
            namespace: namespace.to_string(),
            name: name.to_string(),
            labels: labels_of(value),
            api_version: value["apiVersion"].as_str().unwrap_or_default().to_string(),
            deleting: crate::meta::meta_str(value, "deletionTimestamp").is_some(),
        }
    }

    /// The object as a JSON value.
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    /// The value of a label.
    pub fn label(&self, key: &str) -> Option<String> {
        self.labels
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.labels[i].1.clone())
    }
}

/// Serializes a stored object into a buffer of exactly its length: `serde_json::to_vec` grows by
/// doubling, and `Bytes::from` a vector with spare capacity keeps that capacity (plus a shared
/// header) for as long as the object is stored.
fn compact_json(value: &Value) -> Bytes {
    let mut v = serde_json::to_vec(value).unwrap_or_default();
    v.shrink_to_fit();
    Bytes::from(v)
}

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

impl EventType {
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as kept in the event log and sent to watchers.
#[derive(Debug)]
pub struct Event {
    /// The resourceVersion the change produced.
    pub rv: u64,
    /// What happened.
    pub kind: EventType,
    /// The resource of the object.
    pub resource: GroupResource,
    /// The object after the change (for deletes: its last state, at `rv`).
    pub obj: Arc<Obj>,
    /// The object before the change, if any.
    pub prev: Option<Arc<Obj>>,
}

/// A write lost a race with another write (the internal optimistic-concurrency check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stale;

/// The requested resourceVersion is older than the retained event log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// The oldest resourceVersion a watch may still start from.
    pub oldest: u64,
}

type Key = (String, String);

struct Inner {
    rv: u64,
    /// Highest resourceVersion whose event is no longer in the log.
    compacted: u64,
    tables: HashMap<GroupResource, BTreeMap<Key, Arc<Obj>>>,
    log: VecDeque<Arc<Event>>,
    crds: BTreeMap<String, Vec<ResourceInfo>>,
    registry: Arc<Registry>,
}

/// The store of one cluster.
pub struct Store {
    inner: RwLock<Inner>,
    events: broadcast::Sender<Arc<Event>>,
    retention: usize,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = self.read();
        f.debug_struct("Store")
            .field("resource_version", &i.rv)
            .field(
                "objects",
                &i.tables.values().map(BTreeMap::len).sum::<usize>(),
            )
            .finish()
    }
}

/// The CRD resource.
pub fn crd_resource() -> GroupResource {
    GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions")
}

/// The namespace resource.
pub fn ns_resource() -> GroupResource {
    GroupResource::new("", "namespaces")
}

impl Store {
    /// An empty store keeping the last `retention` events.
    pub fn new(retention: usize) -> Self {
        let (events, _) = broadcast::channel(16_384);
        Self {
            inner: RwLock::new(Inner {
                rv: 0,
                compacted: 0,
                tables: HashMap::new(),
                log: VecDeque::new(),
                crds: BTreeMap::new(),
                registry: Arc::new(Registry::new([])),
            }),
            events,
            retention: retention.max(1),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.read().rv
    }

    /// The served kinds (built-ins plus established CRDs).
    pub fn registry(&self) -> Arc<Registry> {
        self.read().registry.clone()
    }

    /// One object.
    pub fn get(&self, gr: &GroupResource, ns: &str, name: &str) -> Option<Arc<Obj>> {
        self.read()
            .tables
            .get(gr)?
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Objects of a resource (in one namespace, or all with `None`), ordered by namespace and
    /// name, starting after `after`, with the current resourceVersion.
    pub fn list(
        &self,
        gr: &GroupResource,
        ns: Option<&str>,
        after: Option<&(String, String)>,
    ) -> (u64, Vec<Arc<Obj>>) {
        let i = self.read();
        let Some(t) = i.tables.get(gr) else {
            return (i.rv, Vec::new());
        };
        use std::ops::Bound::{Excluded, Included, Unbounded};
        let lower = match after {
            Some(k) => Excluded(k.clone()),
            None => match ns {
                Some(ns) => Included((ns.to_string(), String::new())),
                None => Unbounded,
            },
        };
        let items = t
            .range((lower, Unbounded))
            .take_while(|((n, _), _)| ns.is_none_or(|want| n == want))
            .map(|(_, o)| o.clone())
            .collect();
        (i.rv, items)
    }

    /// Number of objects stored.
    pub fn len(&self) -> usize {
        self.read().tables.values().map(BTreeMap::len).sum()
    }

    /// Whether the store holds no object.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether any object is stored in namespace `ns` (any resource).
    pub fn namespace_contents(&self, ns: &str) -> Vec<(GroupResource, Arc<Obj>)> {
        let i = self.read();
        let mut out = Vec::new();
        for (gr, t) in &i.tables {
            if gr == &ns_resource() {
                continue;
            }
            for (_, o) in t.range((ns.to_string(), String::new())..) {
                if o.namespace != ns {
                    break;
                }
                out.push((gr.clone(), o.clone()));
            }
        }
        out
    }

    /// Writes an object (create or replace) or deletes it, if the stored version is still
    /// `expect` (`None`: absent). Assigns the next resourceVersion into `value`, records and
    /// broadcasts the event. For a delete, `value` is the object's last state.
    pub fn commit(
        &self,
        gr: &GroupResource,
        ns: &str,
        name: &str,
        expect: Option<u64>,
        mut value: Value,
        delete: bool,
    ) -> Result<Arc<Obj>, Stale> {
        let mut i = self.write();
        let key = (ns.to_string(), name.to_string());
        let prev = i.tables.get(gr).and_then(|t| t.get(&key)).cloned();
        if prev.as_ref().map(|p| p.rv) != expect || (delete && prev.is_none()) {
            return Err(Stale);
        }
        i.rv += 1;
        let rv = i.rv;
        crate::meta::metadata_mut(&mut value)
            .insert("resourceVersion".into(), json!(rv.to_string()));
        let obj = Arc::new(Obj::new(&value, rv, ns, name));
        let table = i.tables.entry(gr.clone()).or_default();
        let kind = if delete {
            table.remove(&key);
            EventType::Deleted
        } else {
            table.insert(key, obj.clone());
            if prev.is_some() {
                EventType::Modified
            } else {
                EventType::Added
            }
        };
        if gr == &crd_resource() {
            if delete {
                i.crds.remove(name);
            } else {
                i.crds.insert(name.to_string(), from_crd(&value));
            }
            let custom: Vec<ResourceInfo> = i.crds.values().flatten().cloned().collect();
            i.registry = Arc::new(Registry::new(custom));
        }
        let event = Arc::new(Event {
            rv,
            kind,
            resource: gr.clone(),
            obj: obj.clone(),
            prev,
        });
        i.log.push_back(event.clone());
        while i.log.len() > self.retention {
            if let Some(e) = i.log.pop_front() {
                i.compacted = e.rv;
            }
        }
        // Sent under the lock so that watchers see events in resourceVersion order.
        let _ = self.events.send(event);
        Ok(obj)
    }

    /// Drops the whole event log: every watch from an older resourceVersion gets 410.
    pub fn compact(&self) {
        let mut i = self.write();
        i.log.clear();
        i.compacted = i.rv;
    }

    /// Starts a watch: the events after `since` (or, with `None`, the current objects of `gr`
    /// as synthetic events) and a receiver for everything later, without gap or duplicate.
    pub fn subscribe(
        &self,
        gr: &GroupResource,
        since: Option<u64>,
    ) -> Result<(u64, Backlog, broadcast::Receiver<Arc<Event>>), Compacted> {
        let i = self.read();
        let rx = self.events.subscribe();
        let backlog = match since {
            Some(rv) => {
                if rv < i.compacted {
                    return Err(Compacted {
                        oldest: i.compacted,
                    });
                }
                Backlog::Events(
                    i.log
                        .iter()
                        .filter(|e| e.rv > rv && &e.resource == gr)
                        .cloned()
                        .collect(),
                )
            }
            None => Backlog::Objects(
                i.tables
                    .get(gr)
                    .map(|t| t.values().cloned().collect())
                    .unwrap_or_default(),
            ),
        };
        Ok((i.rv, backlog, rx))
    }

    /// The whole store as JSON: `{"resourceVersion": N, "objects": [{"group", "resource", "object"}]}`.
    pub fn snapshot(&self) -> Value {
        let i = self.read();
        let mut objects = Vec::new();
        let mut grs: Vec<&GroupResource> = i.tables.keys().collect();
        grs.sort();
        for gr in grs {
            for o in i.tables[gr].values() {
                objects
                    .push(json!({"group": gr.group, "resource": gr.resource, "object": o.value()}));
            }
        }
        json!({"resourceVersion": i.rv, "objects": objects})
    }

    /// Replaces the contents with a snapshot (no events are emitted; older watches get 410).
    pub fn restore(&self, snap: &Value) -> Result<(), String> {
        let rv = snap["resourceVersion"]
            .as_u64()
            .ok_or("snapshot without resourceVersion")?;
        let mut tables: HashMap<GroupResource, BTreeMap<Key, Arc<Obj>>> = HashMap::new();
        let mut crds = BTreeMap::new();
        for e in snap["objects"]
            .as_array()
            .ok_or("snapshot without objects")?
        {
            let gr = GroupResource::new(
                e["group"].as_str().unwrap_or_default(),
                e["resource"].as_str().ok_or("object without resource")?,
            );
            let value = &e["object"];
            let ns = crate::meta::meta_str(value, "namespace").unwrap_or_default();
            let name = crate::meta::meta_str(value, "name").ok_or("object without name")?;
            let orv = crate::meta::meta_str(value, "resourceVersion")
                .and_then(|s| s.parse().ok())
                .unwrap_or(rv);
            if gr == crd_resource() {
                crds.insert(name.to_string(), from_crd(value));
            }
            tables.entry(gr).or_default().insert(
                (ns.to_string(), name.to_string()),
                Arc::new(Obj::new(value, orv, ns, name)),
            );
        }
        let mut i = self.write();
        i.rv = rv;
        i.compacted = rv;
        i.log.clear();
        i.tables = tables;
        let custom: Vec<ResourceInfo> = crds.values().flatten().cloned().collect();
        i.crds = crds;
        i.registry = Arc::new(Registry::new(custom));
        Ok(())
    }
}

/// What a new watch must first send.
#[derive(Debug)]
pub enum Backlog {
    /// Retained events after the requested resourceVersion.
    Events(Vec<Arc<Event>>),
    /// The current objects (sent as synthetic ADDED events).
    Objects(Vec<Arc<Obj>>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default", "labels": {"a": "b"}}})
    }

    #[test]
    fn commit_assigns_versions_and_logs() {
        let s = Store::new(2);
        let gr = GroupResource::new("", "configmaps");
        let o = s.commit(&gr, "default", "a", None, cm("a"), false).unwrap();
        assert_eq!(o.rv, 1);
        assert_eq!(o.label("a").as_deref(), Some("b"));
        assert_eq!(
            s.commit(&gr, "default", "a", None, cm("a"), false)
                .unwrap_err(),
            Stale
        );
        let o2 = s
            .commit(&gr, "default", "a", Some(1), cm("a"), false)
            .unwrap();
        assert_eq!(o2.value()["metadata"]["resourceVersion"], "2");
        s.commit(&gr, "default", "b", None, cm("b"), false).unwrap();
        // Retention 2: the event of rv 1 is gone.
        assert!(s.subscribe(&gr, Some(0)).is_err());
        let (_, backlog, _) = s.subscribe(&gr, Some(1)).unwrap();
        let Backlog::Events(ev) = backlog else {
            panic!()
        };
        assert_eq!(ev.iter().map(|e| e.rv).collect::<Vec<_>>(), vec![2, 3]);
        let (rv, items) = s.list(&gr, Some("default"), None);
        assert_eq!((rv, items.len()), (3, 2));
        let (_, items) = s.list(&gr, None, Some(&("default".into(), "a".into())));
        assert_eq!(items.len(), 1);
        s.commit(&gr, "default", "a", Some(2), cm("a"), true)
            .unwrap();
        assert!(s.get(&gr, "default", "a").is_none());
        let snap = s.snapshot();
        let t = Store::new(10);
        t.restore(&snap).unwrap();
        assert_eq!(t.resource_version(), 4);
        assert!(t.get(&gr, "default", "b").is_some());
    }

    #[test]
    fn crd_commit_updates_registry() {
        let s = Store::new(10);
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "gadgets.example.org"},
            "spec": {"group": "example.org", "scope": "Namespaced",
                     "names": {"plural": "gadgets", "kind": "Gadget"},
                     "versions": [{"name": "v1", "served": true, "storage": true}]}});
        s.commit(
            &crd_resource(),
            "",
            "gadgets.example.org",
            None,
            crd.clone(),
            false,
        )
        .unwrap();
        assert!(s.registry().get("example.org", "v1", "gadgets").is_some());
        s.commit(
            &crd_resource(),
            "",
            "gadgets.example.org",
            Some(1),
            crd,
            true,
        )
        .unwrap();
        assert!(s.registry().get("example.org", "v1", "gadgets").is_none());
    }
}

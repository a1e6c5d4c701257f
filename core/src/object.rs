//! Kubernetes objects as read from a repository: an untyped JSON value plus where it came from.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::yaml::Pos;

/// Where an object was declared: the file (relative to the policy directory, `/`-separated),
/// the document in the file, and the position of the document's root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    /// File path relative to the policy directory, with `/` separators.
    pub file: Arc<str>,
    /// Index of the document within the file (0-based, counting empty documents).
    pub document: usize,
    /// Position of the object's root node (1-based line and column).
    pub pos: Pos,
    /// Index in the `items` of a `List` document, for objects flattened out of one.
    pub item: Option<usize>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.pos.line, self.pos.column)
    }
}

/// Group, version and kind of an object. The core group is the empty string.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, serde::Deserialize,
)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    /// Build from an `apiVersion` string (`v1`, `apps/v1`) and a kind.
    pub fn from_api_version(api_version: &str, kind: &str) -> Gvk {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        Gvk {
            group: group.to_string(),
            version: version.to_string(),
            kind: kind.to_string(),
        }
    }

    /// The group and kind, without the version.
    pub fn group_kind(&self) -> GroupKind {
        GroupKind {
            group: self.group.clone(),
            kind: self.kind.clone(),
        }
    }

    /// `apiVersion` as written in manifests.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// True when this is group `group` and kind `kind` (any version).
    pub fn is(&self, group: &str, kind: &str) -> bool {
        self.group == group && self.kind == kind
    }
}

/// Group and kind of an object.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, serde::Deserialize,
)]
pub struct GroupKind {
    pub group: String,
    pub kind: String,
}

impl GroupKind {
    pub fn new(group: &str, kind: &str) -> GroupKind {
        GroupKind {
            group: group.to_string(),
            kind: kind.to_string(),
        }
    }
}

impl fmt::Display for GroupKind {
    /// `Kind.group`, or `Kind` for the core group, as Kubernetes prints group-kinds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}", self.kind)
        } else {
            write!(f, "{}.{}", self.kind, self.group)
        }
    }
}

/// Identity of an object in a cluster: group, kind, namespace and name (version excluded).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, serde::Deserialize,
)]
pub struct ObjectId {
    pub group: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectId {
    /// The identity of a JSON object (as read from a file or returned by the API server);
    /// missing fields are empty strings.
    pub fn of_value(v: &Value) -> ObjectId {
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
        let md = |k: &str| {
            v.get("metadata")
                .and_then(|m| m.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        ObjectId {
            group: field("apiVersion")
                .split_once('/')
                .map(|(g, _)| g)
                .unwrap_or("")
                .to_string(),
            kind: field("kind").to_string(),
            namespace: md("namespace"),
            name: md("name"),
        }
    }

    /// The `configsync.gke.io/resource-id` value: `<group>_<lowercase kind>[_<namespace>]_<name>`.
    pub fn resource_id(&self) -> String {
        let kind = self.kind.to_lowercase();
        if self.namespace.is_empty() {
            format!("{}_{}_{}", self.group, kind, self.name)
        } else {
            format!("{}_{}_{}_{}", self.group, kind, self.namespace, self.name)
        }
    }

    pub fn group_kind(&self) -> GroupKind {
        GroupKind {
            group: self.group.clone(),
            kind: self.kind.clone(),
        }
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gk = self.group_kind();
        if self.namespace.is_empty() {
            write!(f, "{gk}/{}", self.name)
        } else {
            write!(f, "{gk}/{}/{}", self.namespace, self.name)
        }
    }
}

/// A declared object: its content and its origin.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The object as JSON. Always a JSON object (map).
    pub value: Value,
    /// Where it was declared.
    pub origin: Origin,
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

impl Object {
    /// Wrap a JSON value read from `origin`.
    pub fn new(value: Value, origin: Origin) -> Object {
        Object { value, origin }
    }

    pub fn api_version(&self) -> &str {
        str_at(&self.value, "apiVersion")
    }

    pub fn kind(&self) -> &str {
        str_at(&self.value, "kind")
    }

    pub fn gvk(&self) -> Gvk {
        Gvk::from_api_version(self.api_version(), self.kind())
    }

    pub fn group(&self) -> &str {
        match self.api_version().split_once('/') {
            Some((g, _)) => g,
            None => "",
        }
    }

    pub fn version(&self) -> &str {
        match self.api_version().split_once('/') {
            Some((_, v)) => v,
            None => self.api_version(),
        }
    }

    pub fn group_kind(&self) -> GroupKind {
        GroupKind::new(self.group(), self.kind())
    }

    /// True when the object is of group `group` and kind `kind`.
    pub fn is(&self, group: &str, kind: &str) -> bool {
        self.kind() == kind && self.group() == group
    }

    pub fn metadata(&self) -> Option<&Map<String, Value>> {
        self.value.get("metadata").and_then(Value::as_object)
    }

    fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let obj = self.value.as_object_mut().expect("objects are JSON maps");
        let md = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !md.is_object() {
            *md = Value::Object(Map::new());
        }
        md.as_object_mut().expect("just ensured")
    }

    pub fn name(&self) -> &str {
        self.metadata()
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn namespace(&self) -> &str {
        self.metadata()
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn set_namespace(&mut self, namespace: &str) {
        let md = self.metadata_mut();
        if namespace.is_empty() {
            md.remove("namespace");
        } else {
            md.insert("namespace".into(), Value::String(namespace.to_string()));
        }
    }

    pub fn id(&self) -> ObjectId {
        ObjectId {
            group: self.group().to_string(),
            kind: self.kind().to_string(),
            namespace: self.namespace().to_string(),
            name: self.name().to_string(),
        }
    }

    fn string_map(&self, field: &str) -> Option<&Map<String, Value>> {
        self.metadata()
            .and_then(|m| m.get(field))
            .and_then(Value::as_object)
    }

    /// Annotations (non-string values are skipped; they are reported as KNV1054 by validation).
    pub fn annotations(&self) -> impl Iterator<Item = (&str, &str)> {
        self.string_map("annotations").into_iter().flat_map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
        })
    }

    /// Labels (non-string values are skipped).
    pub fn labels(&self) -> impl Iterator<Item = (&str, &str)> {
        self.string_map("labels").into_iter().flat_map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
        })
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.string_map("annotations")
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.string_map("labels")
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
    }

    pub fn has_annotation(&self, key: &str) -> bool {
        self.string_map("annotations")
            .is_some_and(|m| m.contains_key(key))
    }

    fn set_in(&mut self, field: &str, key: &str, value: &str) {
        let md = self.metadata_mut();
        let map = md.entry(field).or_insert_with(|| Value::Object(Map::new()));
        if !map.is_object() {
            *map = Value::Object(Map::new());
        }
        map.as_object_mut()
            .expect("just ensured")
            .insert(key.to_string(), Value::String(value.to_string()));
    }

    fn remove_in(&mut self, field: &str, key: &str) {
        let md = self.metadata_mut();
        if let Some(map) = md.get_mut(field).and_then(Value::as_object_mut) {
            map.remove(key);
            if map.is_empty() {
                md.remove(field);
            }
        }
    }

    pub fn set_annotation(&mut self, key: &str, value: &str) {
        self.set_in("annotations", key, value);
    }

    pub fn remove_annotation(&mut self, key: &str) {
        self.remove_in("annotations", key);
    }

    pub fn set_label(&mut self, key: &str, value: &str) {
        self.set_in("labels", key, value);
    }

    pub fn remove_label(&mut self, key: &str) {
        self.remove_in("labels", key);
    }

    /// Label map as owned pairs (for selector matching).
    pub fn label_map(&self) -> std::collections::BTreeMap<String, String> {
        self.labels()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

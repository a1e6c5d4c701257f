//! Desired state: what one cluster must contain, each object stamped with the metadata Config
//! Sync writes (reference section 4.1), in apply order, with a content hash per object.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::object::{Gvk, Object, ObjectId};
use crate::pipeline::Pass;
use crate::scope::Scope;
use crate::{SourceFormat, ann};

/// Namespaces Config Sync never deletes: removed from the source, they are abandoned.
pub const SPECIAL_NAMESPACES: [&str; 5] = [
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "gatekeeper-system",
];

/// Which RootSync or RepoSync the desired state belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct SyncIdentity {
    /// `RootSync` (cluster scope) or `RepoSync` (one namespace).
    pub kind: SyncKind,
    pub name: String,
    pub namespace: String,
}

/// Kind of sync object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum SyncKind {
    RootSync,
    RepoSync,
}

impl Default for SyncIdentity {
    /// The default `root-sync` in `config-management-system`.
    fn default() -> Self {
        SyncIdentity {
            kind: SyncKind::RootSync,
            name: "root-sync".into(),
            namespace: "config-management-system".into(),
        }
    }
}

impl SyncIdentity {
    /// A RepoSync `name` in `namespace`.
    pub fn repo_sync(namespace: &str, name: &str) -> SyncIdentity {
        SyncIdentity {
            kind: SyncKind::RepoSync,
            name: name.into(),
            namespace: namespace.into(),
        }
    }

    /// The `configsync.gke.io/manager` value: `:root`, `:root_<name>`, `<ns>` or `<ns>_<name>`.
    pub fn manager(&self) -> String {
        match self.kind {
            SyncKind::RootSync if self.name == "root-sync" => ":root".into(),
            SyncKind::RootSync => format!(":root_{}", self.name),
            SyncKind::RepoSync if self.name == "repo-sync" => self.namespace.clone(),
            SyncKind::RepoSync => format!("{}_{}", self.namespace, self.name),
        }
    }

    /// The inventory id, `<namespace>_<name>` (`config.k8s.io/owning-inventory`).
    pub fn inventory_id(&self) -> String {
        format!("{}_{}", self.namespace, self.name)
    }

    /// The ApplySet id: `applyset-<base64url(sha256("<name>.<namespace>.<Kind>.configsync.gke.io"))>-v1`.
    ///
    /// ```
    /// let id = nomos_core::desired::SyncIdentity::default().applyset_id();
    /// assert!(id.starts_with("applyset-") && id.ends_with("-v1"));
    /// ```
    pub fn applyset_id(&self) -> String {
        let kind = match self.kind {
            SyncKind::RootSync => "RootSync",
            SyncKind::RepoSync => "RepoSync",
        };
        let digest = Sha256::digest(
            format!("{}.{}.{kind}.configsync.gke.io", self.name, self.namespace).as_bytes(),
        );
        format!(
            "applyset-{}-v1",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
        )
    }
}

/// Where the desired state comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SourceInfo {
    /// Repository URL (empty for a local directory).
    pub repo: String,
    pub branch: String,
    pub revision: String,
    /// The commit (or another content token) the objects come from.
    pub commit: String,
    /// The policy directory inside the repository, prefixed to `source-path` annotations.
    pub dir: String,
}

impl SourceInfo {
    /// The `configsync.gke.io/git-context` value: compact JSON, empty fields omitted.
    pub fn git_context(&self) -> String {
        let q = |s: &str| Value::String(s.to_string()).to_string();
        let mut s = format!("{{\"repo\":{}", q(&self.repo));
        if !self.branch.is_empty() {
            s.push_str(&format!(",\"branch\":{}", q(&self.branch)));
        }
        if !self.revision.is_empty() {
            s.push_str(&format!(",\"rev\":{}", q(&self.revision)));
        }
        s.push('}');
        s
    }
}

/// An object exactly as it should be applied, held as compact canonical JSON (object keys
/// sorted, no whitespace).
///
/// Syncers keep the desired state of every cluster for as long as it is in force, so its
/// representation is what their memory is made of: a `serde_json::Value` tree of a stamped
/// ConfigMap takes several kilobytes, its JSON text a few hundred bytes. The text is also
/// what a server-side apply sends and what the content hash covers, so it is never
/// re-serialised; code that inspects fields parses it on demand ([`Manifest::to_value`]).
/// Cloning shares the text.
///
/// ```
/// use nomos_core::desired::Manifest;
/// let m = Manifest::from_value(&serde_json::json!({"kind": "ConfigMap", "apiVersion": "v1"}));
/// assert_eq!(m.json(), r#"{"apiVersion":"v1","kind":"ConfigMap"}"#);
/// assert_eq!(m.to_value()["kind"], "ConfigMap");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Manifest(Arc<str>);

impl Manifest {
    /// The canonical JSON of `v`.
    pub fn from_value(v: &Value) -> Manifest {
        // Serialising a `Value` cannot fail: its keys are strings and its numbers finite.
        Manifest(Arc::from(serde_json::to_string(v).unwrap_or_default()))
    }

    /// The compact JSON text (what a server-side apply sends).
    pub fn json(&self) -> &str {
        &self.0
    }

    /// Parse into a tree (each call parses again; keep the result while you need it).
    pub fn to_value(&self) -> Value {
        parse_json(&self.0).unwrap_or(Value::Null)
    }

    /// Length of the JSON text in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false` for a manifest built from an object.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Lowercase hex SHA-256 of the JSON text.
    pub fn hash(&self) -> String {
        hex(&Sha256::digest(self.0.as_bytes()))
    }
}

/// Parse JSON without serde_json's 128-level recursion limit: objects may nest as deep as the
/// YAML reader allows ([`crate::yaml::Limits::max_depth`]), and re-reading what we wrote must
/// never fail.
fn parse_json(s: &str) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_str(s);
    de.disable_recursion_limit();
    let v = <Value as serde::Deserialize>::deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Manifest {
    /// As the JSON object itself (not as a string).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &serde_json::value::RawValue =
            serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for Manifest {
    /// From a JSON object, its text kept exactly as sent (no parse into a tree, no
    /// re-serialisation: a snapshot of thousands of objects decodes in milliseconds). What
    /// [`Manifest`] serialises is canonical; a receiver that must trust the text checks it
    /// against the object's `hash`. Needs serde_json's deserializer.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        if !text.starts_with('{') {
            return Err(serde::de::Error::custom("a manifest must be a JSON object"));
        }
        Ok(Manifest(Arc::from(text)))
    }
}

/// One object to apply (or, when `managed` is false, to leave alone and abandon).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct DesiredObject {
    pub id: ObjectId,
    pub gvk: Gvk,
    /// The object exactly as it should be applied, metadata stamped.
    pub manifest: Manifest,
    /// `false` for objects declared with `configmanagement.gke.io/managed: disabled`.
    pub managed: bool,
    /// The `configmanagement.gke.io/source-path` value.
    pub source_path: String,
    /// Lowercase hex SHA-256 of the manifest's JSON.
    pub hash: String,
    /// `client.lifecycle.config.k8s.io/mutation: ignore` is declared.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mutation_ignore: bool,
    /// The declared `config.kubernetes.io/depends-on` value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<String>,
}

impl DesiredState {
    /// The desired state of another cluster name whose pass is identical to this one's (equal
    /// [`crate::Repository::selection_key`]s): every managed object's
    /// `configsync.gke.io/cluster-name` annotation rewritten in the manifest text and its hash
    /// recomputed, instead of running the pass again. `None` when that does not apply (either
    /// name empty: the annotation is absent), and the caller builds the state itself.
    ///
    /// ```
    /// use nomos_core::{SourceFile, SourceFormat, VetOptions, vet, desired};
    /// let files = vec![SourceFile::new("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: shop\n")];
    /// let r = vet(&files, &VetOptions::new(SourceFormat::Unstructured));
    /// let build = |name: &str| {
    ///     let pass = r.repository.pass(name);
    ///     desired::build(&pass, |o| r.repository.scope_of(o), &Default::default())
    /// };
    /// assert_eq!(build("eu").for_cluster("us"), Some(build("us")));
    /// ```
    pub fn for_cluster(&self, cluster: &str) -> Option<DesiredState> {
        if self.cluster.is_empty() || cluster.is_empty() {
            return None;
        }
        let quote = |s: &str| Value::String(s.to_string()).to_string();
        let old = format!("{}:{}", quote(ann::CLUSTER_NAME), quote(&self.cluster));
        let new = format!("{}:{}", quote(ann::CLUSTER_NAME), quote(cluster));
        let mut all = Sha256::new();
        let mut objects = Vec::with_capacity(self.objects.len());
        for d in &self.objects {
            let o = if d.managed {
                let text = d.manifest.json();
                // Exactly the one annotation stamped (a quote inside a string value is escaped,
                // so the pattern cannot hide in data); anything else: build it the long way.
                let mut found = text.match_indices(&old);
                let (Some((i, _)), None) = (found.next(), found.next()) else {
                    return None;
                };
                let mut t = String::with_capacity(text.len() + new.len());
                t.push_str(&text[..i]);
                t.push_str(&new);
                t.push_str(&text[i + old.len()..]);
                let manifest = Manifest(Arc::from(t));
                DesiredObject {
                    hash: manifest.hash(),
                    manifest,
                    ..d.clone()
                }
            } else {
                d.clone()
            };
            all.update(o.hash.as_bytes());
            objects.push(o);
        }
        Some(DesiredState {
            cluster: cluster.to_string(),
            sync: self.sync.clone(),
            source: self.source.clone(),
            objects,
            hash: hex(&all.finalize()),
        })
    }
}

impl DesiredObject {
    /// The object as a tree (parsed on each call).
    pub fn value(&self) -> Value {
        self.manifest.to_value()
    }

    fn new(id: ObjectId, gvk: Gvk, value: &Value, managed: bool, source_path: String) -> Self {
        let annotation = |k: &str| {
            value
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(k))
                .and_then(Value::as_str)
        };
        let manifest = Manifest::from_value(value);
        DesiredObject {
            hash: manifest.hash(),
            mutation_ignore: annotation(ann::LIFECYCLE_MUTATION) == Some("ignore"),
            depends_on: annotation(ann::DEPENDS_ON).map(str::to_string),
            id,
            gvk,
            manifest,
            managed,
            source_path,
        }
    }
}

/// Everything one cluster must contain.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct DesiredState {
    pub cluster: String,
    pub sync: SyncIdentity,
    pub source: SourceInfo,
    /// Objects in apply order: CRDs, Namespaces, cluster-scoped, then namespaced; ties by identity.
    pub objects: Vec<DesiredObject>,
    /// Hash over every object's hash, in order: equal hashes mean equal desired states.
    pub hash: String,
}

/// Settings for stamping.
#[derive(Debug, Clone, Default)]
pub struct StampOptions {
    pub sync: SyncIdentity,
    pub source: SourceInfo,
    pub format: Option<SourceFormat>,
    /// Add `configsync.gke.io/declared-fields` (Config Sync does when its admission webhook is on).
    pub declared_fields: bool,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Content hash of a JSON value (keys are sorted, so equal values hash equally).
pub fn content_hash(v: &Value) -> String {
    hex(&Sha256::digest(serde_json::to_vec(v).unwrap_or_default()))
}

fn apply_rank(o: &Object, scope: Option<Scope>) -> u8 {
    if o.is("apiextensions.k8s.io", "CustomResourceDefinition") {
        0
    } else if o.is("", "Namespace") {
        1
    } else if scope == Some(Scope::Cluster) {
        2
    } else {
        3
    }
}

/// Build the desired state of `pass.cluster` from a pass without blocking errors.
/// `scope` tells the scope of each group-kind (see [`crate::pipeline::Repository::scope`]).
pub fn build(
    pass: &Pass,
    scope: impl Fn(&Object) -> Option<Scope> + Sync,
    opts: &StampOptions,
) -> DesiredState {
    assemble(&pass.cluster, pass.objects.to_vec(), scope, opts)
}

/// [`build`], consuming the pass: its objects are stamped in place instead of copied (less
/// memory and time for large repositories).
pub fn build_owned(
    pass: Pass,
    scope: impl Fn(&Object) -> Option<Scope> + Sync,
    opts: &StampOptions,
) -> DesiredState {
    assemble(&pass.cluster, pass.objects, scope, opts)
}

fn assemble(
    cluster: &str,
    objects: Vec<Object>,
    scope: impl Fn(&Object) -> Option<Scope> + Sync,
    opts: &StampOptions,
) -> DesiredState {
    let mut ranked: Vec<(u8, ObjectId, Object)> = objects
        .into_par_iter()
        .map(|o| (apply_rank(&o, scope(&o)), o.id(), o))
        .collect();
    ranked.par_sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    // Stamping (and hashing) is independent per object: do it on every core.
    let objects: Vec<DesiredObject> = ranked
        .into_par_iter()
        .map(|(_, id, o)| {
            let unknown = scope(&o).is_none();
            stamp(o, id, cluster, unknown, opts)
        })
        .collect();
    let mut all = Sha256::new();
    for d in &objects {
        all.update(d.hash.as_bytes());
    }
    DesiredState {
        cluster: cluster.to_string(),
        sync: opts.sync.clone(),
        source: opts.source.clone(),
        objects,
        hash: hex(&all.finalize()),
    }
}

/// What one cluster name's pass produced: desired state (with non-blocking warnings such as
/// KNV1021), or the errors that block syncing it.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per cluster name, moved once: boxing buys nothing
pub enum ClusterBuild {
    Syncable {
        state: DesiredState,
        warnings: Vec<crate::Diagnostic>,
    },
    Blocked {
        errors: Vec<crate::Diagnostic>,
    },
}

/// Desired state for each of `names`, computed once per distinct pass: names whose cluster
/// selectors keep the same objects ([`crate::Repository::selection_key`]) share one pass, and
/// all but the first get the first one's state re-stamped with their name
/// ([`DesiredState::for_cluster`]). Distinct passes run in parallel. In `names` order.
pub fn build_clusters(
    repo: &crate::Repository,
    names: &[String],
    opts: &StampOptions,
) -> Vec<(String, ClusterBuild)> {
    let mut groups: Vec<Vec<&String>> = Vec::new();
    let mut by_key: std::collections::HashMap<Vec<bool>, usize> = Default::default();
    for n in names {
        let i = *by_key.entry(repo.selection_key(n)).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[i].push(n);
    }
    let one = |name: &str| -> ClusterBuild {
        let mut pass = repo.pass(name);
        if !pass.is_syncable() {
            return ClusterBuild::Blocked {
                errors: pass.errors,
            };
        }
        let warnings = std::mem::take(&mut pass.errors);
        ClusterBuild::Syncable {
            state: build_owned(pass, |o| repo.scope_of(o), opts),
            warnings,
        }
    };
    let built: Vec<Vec<(String, ClusterBuild)>> = groups
        .par_iter()
        .map(|group| {
            let first = one(group[0]);
            // Re-stamping is independent per name: on every core too.
            let mut out: Vec<(String, ClusterBuild)> = group[1..]
                .par_iter()
                .map(|n| {
                    let b = match &first {
                        ClusterBuild::Syncable { state, warnings } => match state.for_cluster(n) {
                            Some(state) => ClusterBuild::Syncable {
                                state,
                                warnings: warnings.clone(),
                            },
                            None => one(n),
                        },
                        ClusterBuild::Blocked { errors } => ClusterBuild::Blocked {
                            errors: errors.clone(),
                        },
                    };
                    ((*n).clone(), b)
                })
                .collect();
            out.insert(0, (group[0].clone(), first));
            out
        })
        .collect();
    let mut by_name: std::collections::HashMap<String, ClusterBuild> =
        built.into_iter().flatten().collect();
    names
        .iter()
        .filter_map(|n| by_name.remove(n).map(|b| (n.clone(), b)))
        .collect()
}

fn stamp(
    o: Object,
    id: ObjectId,
    cluster: &str,
    unknown_scope: bool,
    opts: &StampOptions,
) -> DesiredObject {
    let managed = o.annotation(ann::MANAGED) != Some("disabled");
    let source_path = crate::diag::join_source(&opts.source.dir, &o.origin.file);
    let gvk = o.gvk();
    let is_namespace = o.is("", "Namespace");
    let special_ns = is_namespace && SPECIAL_NAMESPACES.contains(&o.name());
    let mut s = o;
    if managed {
        s.set_annotation(ann::MANAGED, "enabled");
        s.set_annotation(ann::RESOURCE_ID, &id.resource_id());
        s.set_annotation(ann::MANAGER, &opts.sync.manager());
        s.set_annotation(ann::GIT_CONTEXT, &opts.source.git_context());
        if !opts.source.commit.is_empty() {
            s.set_annotation(ann::TOKEN, &opts.source.commit);
        }
        s.set_annotation(ann::SOURCE_PATH, &source_path);
        if !cluster.is_empty() {
            s.set_annotation(ann::CLUSTER_NAME, cluster);
        }
        s.set_annotation(ann::OWNING_INVENTORY, &opts.sync.inventory_id());
        if unknown_scope {
            s.set_annotation(ann::UNKNOWN_SCOPE, "true");
        }
        if special_ns {
            s.set_annotation(ann::LIFECYCLE_DELETION, "detach");
        }
        if is_namespace && opts.format == Some(SourceFormat::Hierarchy) {
            hnc(&mut s);
        }
        s.set_label(ann::MANAGED_BY_LABEL, ann::MANAGED_BY_VALUE);
        s.set_label(ann::APPLYSET_PART_OF, &opts.sync.applyset_id());
        s.set_label(ann::DECLARED_VERSION, &gvk.version);
        for a in [
            ann::CLUSTER_SELECTOR,
            ann::CLUSTER_NAME_SELECTOR,
            ann::NAMESPACE_SELECTOR,
        ] {
            s.remove_annotation(a);
        }
        if opts.declared_fields {
            let fields = declared_fields(&s.value);
            s.set_annotation(ann::DECLARED_FIELDS, &fields);
        }
    }
    DesiredObject::new(id, gvk, &s.value, managed, source_path)
}

/// HNC depth labels and the managed-by annotation on a hierarchical Namespace.
fn hnc(ns: &mut Object) {
    let dir = crate::validate::dir_of(ns).to_string();
    let segments: Vec<&str> = dir.split('/').skip(1).collect();
    for (i, seg) in segments.iter().enumerate() {
        let depth = segments.len() - 1 - i;
        ns.set_label(
            &format!("{seg}.tree.hnc.x-k8s.io/depth"),
            &depth.to_string(),
        );
    }
    if let Some(prev) = ns.annotation(ann::HNC_MANAGED_BY).map(str::to_string)
        && prev != ann::MANAGED_BY_VALUE
    {
        ns.set_annotation(ann::ORIGINAL_HNC_MANAGED_BY, &prev);
    }
    ns.set_annotation(ann::HNC_MANAGED_BY, ann::MANAGED_BY_VALUE);
}

/// The declared field set in server-side apply `fieldsV1` form, minus identity fields.
/// Lists are recorded as atomic leaves (see SHORTCOMINGS.md).
pub fn declared_fields(object: &Value) -> String {
    fn walk(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, child) in m {
                    out.insert(format!("f:{k}"), walk(child));
                }
                Value::Object(out)
            }
            _ => Value::Object(Map::new()),
        }
    }
    let mut v = object.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("apiVersion");
        m.remove("kind");
        if let Some(md) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in ["name", "namespace", "creationTimestamp"] {
                md.remove(f);
            }
            if let Some(a) = md.get_mut("annotations").and_then(Value::as_object_mut) {
                a.remove(ann::DECLARED_FIELDS);
            }
        }
    }
    let fields = walk(&v);
    serde_json::to_string(&fields).unwrap_or_default()
}

/// Group desired objects by namespace (cluster-scoped under the empty string).
pub fn by_namespace(state: &DesiredState) -> BTreeMap<&str, Vec<&DesiredObject>> {
    let mut m: BTreeMap<&str, Vec<&DesiredObject>> = BTreeMap::new();
    for o in &state.objects {
        m.entry(o.id.namespace.as_str()).or_default().push(o);
    }
    m
}

/// A Namespace the repository does not declare but its objects live in (an unstructured root
/// repository's "implicit namespace"): stamped like any managed object and annotated
/// `client.lifecycle.config.k8s.io/deletion: detach`, so it is never deleted when its content
/// goes away.
pub fn implicit_namespace(name: &str, cluster: &str, opts: &StampOptions) -> DesiredObject {
    let value =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    let origin = crate::object::Origin {
        file: std::sync::Arc::from(""),
        document: 0,
        pos: Default::default(),
        item: None,
    };
    let o = Object::new(value, origin.clone());
    let id = o.id();
    let d = stamp(o, id, cluster, false, opts);
    let mut obj = Object::new(d.value(), origin);
    obj.set_annotation(ann::LIFECYCLE_DELETION, "detach");
    obj.remove_annotation(ann::SOURCE_PATH);
    DesiredObject::new(d.id, d.gvk, &obj.value, true, String::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SourceFile, SourceFormat, VetOptions, vet};

    #[test]
    fn identities() {
        let root = SyncIdentity::default();
        assert_eq!(root.manager(), ":root");
        assert_eq!(root.inventory_id(), "config-management-system_root-sync");
        // sha256("root-sync.config-management-system.RootSync.configsync.gke.io"), base64url.
        assert_eq!(
            root.applyset_id(),
            "applyset-e22zDPwKdkFqCzUzScEvOv2nZZ55DLNRI-wrMTICH94-v1"
        );
        let other = SyncIdentity {
            name: "infra".into(),
            ..SyncIdentity::default()
        };
        assert_eq!(other.manager(), ":root_infra");
        let repo = SyncIdentity::repo_sync("bookinfo", "repo-sync");
        assert_eq!(repo.manager(), "bookinfo");
        assert_eq!(
            repo.applyset_id(),
            "applyset-d2dPZyJDYkYabtKl_z7m3H57cMfu08Hr9xVaev4VW28-v1"
        );
        assert_eq!(
            SyncIdentity::repo_sync("bookinfo", "extra").manager(),
            "bookinfo_extra"
        );
    }

    #[test]
    fn git_context() {
        let s = SourceInfo {
            repo: "https://git.example/org/repo".into(),
            branch: "main".into(),
            ..Default::default()
        };
        assert_eq!(
            s.git_context(),
            r#"{"repo":"https://git.example/org/repo","branch":"main"}"#
        );
        let s = SourceInfo {
            repo: "r".into(),
            revision: "v1.2".into(),
            ..Default::default()
        };
        assert_eq!(s.git_context(), r#"{"repo":"r","rev":"v1.2"}"#);
    }

    fn state_of(files: &[SourceFile], format: SourceFormat, cluster: &str) -> DesiredState {
        let mut opts = VetOptions::new(format);
        opts.clusters = Some(vec![cluster.to_string()]);
        let r = vet(files, &opts);
        assert!(r.passes.len() == 1 || cluster == crate::DEFAULT_CLUSTER);
        let pass = r.passes.into_iter().next().expect("one pass");
        assert!(pass.is_syncable(), "{:?}", pass.errors);
        let stamp = StampOptions {
            source: SourceInfo {
                repo: "git@example:org/repo".into(),
                branch: "main".into(),
                commit: "abc123".into(),
                dir: "config".into(),
                ..Default::default()
            },
            format: Some(format),
            ..Default::default()
        };
        build(&pass, |o| r.repository.scope_of(o), &stamp)
    }

    #[test]
    fn stamps_config_sync_metadata_in_apply_order() {
        let files = vec![
            SourceFile::new(
                "cm.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: shop\n",
            ),
            SourceFile::new(
                "ns.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
            ),
            SourceFile::new(
                "crd.yaml",
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: anvils.acme.com\nspec:\n  group: acme.com\n  names:\n    kind: Anvil\n    plural: anvils\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n",
            ),
            SourceFile::new(
                "off.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: legacy\n  namespace: shop\n  annotations:\n    configmanagement.gke.io/managed: disabled\n",
            ),
            SourceFile::new(
                "def.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: default\n",
            ),
        ];
        let state = state_of(&files, SourceFormat::Unstructured, crate::DEFAULT_CLUSTER);
        let order: Vec<String> = state.objects.iter().map(|o| o.id.to_string()).collect();
        assert_eq!(
            order,
            vec![
                "CustomResourceDefinition.apiextensions.k8s.io/anvils.acme.com",
                "Namespace/default",
                "Namespace/shop",
                "ConfigMap/shop/app",
                "ConfigMap/shop/legacy"
            ]
        );
        let cm = &state.objects[3];
        let ann = &cm.value()["metadata"]["annotations"];
        assert_eq!(ann["configmanagement.gke.io/managed"], "enabled");
        assert_eq!(ann["configsync.gke.io/resource-id"], "_configmap_shop_app");
        assert_eq!(ann["configsync.gke.io/manager"], ":root");
        assert_eq!(ann["configmanagement.gke.io/source-path"], "config/cm.yaml");
        assert_eq!(
            ann["configmanagement.gke.io/cluster-name"],
            "defaultcluster"
        );
        assert_eq!(ann["configmanagement.gke.io/token"], "abc123");
        assert_eq!(
            ann["config.k8s.io/owning-inventory"],
            "config-management-system_root-sync"
        );
        assert_eq!(
            ann["configsync.gke.io/git-context"],
            r#"{"repo":"git@example:org/repo","branch":"main"}"#
        );
        let labels = &cm.value()["metadata"]["labels"];
        assert_eq!(
            labels["app.kubernetes.io/managed-by"],
            "configmanagement.gke.io"
        );
        assert_eq!(labels["configsync.gke.io/declared-version"], "v1");
        assert_eq!(
            labels["applyset.kubernetes.io/part-of"],
            SyncIdentity::default().applyset_id()
        );
        // managed: disabled objects are carried, unstamped, so the syncer can abandon them.
        let legacy = &state.objects[4];
        assert!(!legacy.managed);
        assert!(
            legacy.value()["metadata"]["annotations"]
                .get("configsync.gke.io/resource-id")
                .is_none()
        );
        // Special namespaces are never deleted.
        assert_eq!(
            state.objects[1].value()["metadata"]["annotations"]["client.lifecycle.config.k8s.io/deletion"],
            "detach"
        );
        assert_eq!(
            state.objects[0].value()["metadata"]["annotations"]["configsync.gke.io/resource-id"],
            "apiextensions.k8s.io_customresourcedefinition_anvils.acme.com"
        );
    }

    #[test]
    fn hierarchical_namespaces_get_hnc_labels() {
        let files = vec![
            SourceFile::new(
                "system/repo.yaml",
                "apiVersion: configmanagement.gke.io/v1\nkind: Repo\nmetadata:\n  name: repo\nspec:\n  version: 1.0.0\n",
            ),
            SourceFile::new(
                "namespaces/eng/web/ns.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n",
            ),
        ];
        let state = state_of(&files, SourceFormat::Hierarchy, crate::DEFAULT_CLUSTER);
        let ns = &state.objects[0].value()["metadata"];
        assert_eq!(ns["labels"]["eng.tree.hnc.x-k8s.io/depth"], "1");
        assert_eq!(ns["labels"]["web.tree.hnc.x-k8s.io/depth"], "0");
        assert_eq!(
            ns["annotations"]["hnc.x-k8s.io/managed-by"],
            "configmanagement.gke.io"
        );
    }

    #[test]
    fn hashes_are_deterministic_and_content_addressed() {
        let a = vec![SourceFile::new(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: \"1\"\n  b: \"2\"\n",
        )];
        let b = vec![SourceFile::new(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  b: \"2\"\n  a: \"1\"\n",
        )];
        let c = vec![SourceFile::new(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: \"1\"\n  b: \"3\"\n",
        )];
        let (sa, sb, sc) = (
            state_of(&a, SourceFormat::Unstructured, crate::DEFAULT_CLUSTER),
            state_of(&b, SourceFormat::Unstructured, crate::DEFAULT_CLUSTER),
            state_of(&c, SourceFormat::Unstructured, crate::DEFAULT_CLUSTER),
        );
        assert_eq!(sa.hash, sb.hash, "key order does not matter");
        assert_ne!(sa.hash, sc.hash);
        assert_eq!(sa.objects[0].hash.len(), 64);
    }

    #[test]
    fn declared_fields_in_fieldsv1_form() {
        let v = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "b", "labels": {"x": "y"}}, "data": {"k": "v"}});
        assert_eq!(
            declared_fields(&v),
            r#"{"f:data":{"f:k":{}},"f:metadata":{"f:labels":{"f:x":{}}}}"#
        );
    }

    #[test]
    fn manifests_are_canonical_compact_and_round_trip() {
        let v = serde_json::json!({"kind": "ConfigMap", "apiVersion": "v1",
            "metadata": {"name": "a", "annotations": {"z": "1", "a": "2"}}, "data": {"k": "v"}});
        let m = Manifest::from_value(&v);
        assert_eq!(
            m.json(),
            r#"{"apiVersion":"v1","data":{"k":"v"},"kind":"ConfigMap","metadata":{"annotations":{"a":"2","z":"1"},"name":"a"}}"#
        );
        assert_eq!(m.to_value(), v);
        // The hash is the content hash of the tree (what earlier versions computed).
        assert_eq!(m.hash(), content_hash(&v));
        // Serialised as the object itself; deserialised back as the same text.
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(text, m.json());
        let back: Manifest = serde_json::from_str(&text).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.hash(), m.hash());
        assert!(serde_json::from_str::<Manifest>("[1]").is_err());
    }

    #[test]
    fn manifests_nest_deeper_than_serde_json_default_limit() {
        // The YAML reader allows 200 levels; serde_json alone stops at 128.
        let mut v = serde_json::json!("leaf");
        for _ in 0..190 {
            v = serde_json::json!({ "x": v });
        }
        let m = Manifest::from_value(&v);
        assert_eq!(m.to_value(), v);
    }

    #[test]
    fn desired_objects_carry_lifecycle_hints_and_survive_serde() {
        let files = vec![SourceFile::new(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: shop\n  annotations:\n    client.lifecycle.config.k8s.io/mutation: ignore\n    config.kubernetes.io/depends-on: /namespaces/_/Namespace/shop\n",
        )];
        let r = vet(&files, &VetOptions::new(SourceFormat::Unstructured));
        assert!(r.is_ok(), "{:?}", r.errors());
        let state = build(
            &r.passes[0],
            |o| r.repository.scope_of(o),
            &StampOptions::default(),
        );
        let d = &state.objects[0];
        assert!(d.mutation_ignore);
        assert_eq!(
            d.depends_on.as_deref(),
            Some("/namespaces/_/Namespace/shop")
        );
        let text = serde_json::to_string(&state).unwrap();
        let back: DesiredState = serde_json::from_str(&text).unwrap();
        assert_eq!(back, state);
    }

    #[test]
    fn equal_selection_keys_give_equal_passes_and_restamped_states() {
        let files = vec![
            SourceFile::new(
                "a.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: shop\n  annotations:\n    configsync.gke.io/cluster-name-selector: eu-1,eu-2\ndata:\n  k: '\"configmanagement.gke.io/cluster-name\":\"eu-1\"'\n",
            ),
            SourceFile::new(
                "b.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: shop\n  annotations:\n    configmanagement.gke.io/managed: disabled\n",
            ),
        ];
        let r = vet(&files, &VetOptions::new(SourceFormat::Unstructured));
        let repo = &r.repository;
        assert_eq!(repo.selection_key("eu-1"), repo.selection_key("eu-2"));
        assert_ne!(repo.selection_key("eu-1"), repo.selection_key("us-1"));
        let build = |name: &str| {
            build(
                &repo.pass(name),
                |o| repo.scope_of(o),
                &StampOptions::default(),
            )
        };
        let eu1 = build("eu-1");
        let eu2 = eu1.for_cluster("eu-2").expect("restamped");
        assert_eq!(eu2, build("eu-2"));
        assert_eq!(
            eu2.objects[0].value()["data"]["k"],
            "\"configmanagement.gke.io/cluster-name\":\"eu-1\"",
            "data that looks like the annotation is left alone"
        );
        assert_eq!(eu1.for_cluster(""), None);
        assert_eq!(build("").for_cluster("eu-1"), None);
    }
}

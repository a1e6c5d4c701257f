//! Diff and plan (pure): given one cluster's desired state and the live objects the syncer
//! sees, decide per object what Config Sync's remediator table decides (reference section 5),
//! and order the work in dependency waves.
//!
//! - **Create** a declared object that does not exist.
//! - **Update** a managed object whose declared fields drifted (only declared fields are
//!   compared; what the server or other controllers add is ignored).
//! - **Adopt** an existing object that nobody (or a namespace reconciler, when we are root)
//!   manages: server-side apply takes ownership of the declared fields.
//! - **UpdateMetadata** of an object declared with `client.lifecycle.config.k8s.io/mutation:
//!   ignore`: only Config Sync's metadata is written.
//! - **Abandon**: strip Config Sync's metadata, leave the object (`managed: disabled`,
//!   `deletion: detach`, special namespaces).
//! - **Delete** a managed object that left the source.
//! - **Conflict** (KNV1060): another reconciler manages the object.
//!
//! ```
//! use nomos_core::plan::{Action, PlanOptions, plan};
//! use nomos_core::{SourceFile, SourceFormat, VetOptions, desired, vet};
//!
//! let files = vec![SourceFile::new("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: shop\ndata:\n  k: v\n")];
//! let result = vet(&files, &VetOptions::new(SourceFormat::Unstructured));
//! let state = desired::build(&result.passes[0], |o| result.repository.scope_of(o), &Default::default());
//!
//! // Empty cluster: the implicit Namespace `shop`, then the ConfigMap.
//! let p = plan(&state, &[], &PlanOptions::default());
//! let actions: Vec<_> = p.items.iter().map(|i| (i.id.to_string(), i.action.name())).collect();
//! assert_eq!(actions, [("Namespace/shop".to_string(), "create"), ("ConfigMap/shop/app".to_string(), "create")]);
//!
//! // Once applied, nothing is left to do.
//! let live: Vec<_> = state.objects.iter().map(|d| d.value()).chain([p.items[0].desired.as_ref().unwrap().to_value()]).collect();
//! assert!(plan(&state, &live, &PlanOptions::default()).is_empty());
//! ```

use std::collections::{BTreeSet, HashMap, HashSet};

use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::ann;
use crate::desired::{
    DesiredObject, DesiredState, Manifest, SPECIAL_NAMESPACES, SyncIdentity, implicit_namespace,
};
use crate::diag::{Code, Diagnostic, ResourceRef};
use crate::object::ObjectId;

/// What to do with one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    Create,
    /// Declared fields differ from the live object.
    Update {
        drift: Vec<String>,
    },
    /// Take over an existing object not managed by us.
    Adopt,
    /// Write only Config Sync's metadata (`mutation: ignore` objects).
    UpdateMetadata,
    /// Strip Config Sync's metadata and leave the object.
    Abandon,
    Delete,
    /// Another reconciler manages the object (KNV1060).
    Conflict {
        manager: String,
    },
}

impl Action {
    /// Short lower-case name (`create`, `update`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update { .. } => "update",
            Action::Adopt => "adopt",
            Action::UpdateMetadata => "update-metadata",
            Action::Abandon => "abandon",
            Action::Delete => "delete",
            Action::Conflict { .. } => "conflict",
        }
    }

    /// Whether the action writes the desired object (server-side apply).
    pub fn applies(&self) -> bool {
        matches!(
            self,
            Action::Create | Action::Update { .. } | Action::Adopt | Action::UpdateMetadata
        )
    }
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanItem {
    pub id: ObjectId,
    #[serde(flatten)]
    pub action: Action,
    /// Dependency wave: everything in wave N may run in parallel once waves < N are done
    /// (for deletes, the reverse).
    pub wave: usize,
    /// The object to apply (stamped), for applying actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired: Option<Manifest>,
    /// The live object, when there is one.
    #[serde(skip)]
    pub live: Option<Value>,
    /// Identities this item waits for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ObjectId>,
}

/// Settings for planning.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Whose objects these are.
    pub sync: SyncIdentity,
    /// Add implicit Namespaces for namespaces referenced but not declared (unstructured root
    /// repositories, Config Sync's default `namespaceStrategy: implicit`).
    pub implicit_namespaces: bool,
    /// Refuse a plan that deletes more than this fraction of the managed objects
    /// (beyond Config Sync; `None` disables the check).
    pub max_prune_fraction: Option<f64>,
    /// Allow what the safety checks would refuse.
    pub allow_mass_prune: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            sync: SyncIdentity::default(),
            implicit_namespaces: true,
            max_prune_fraction: Some(0.5),
            allow_mass_prune: false,
        }
    }
}

/// The work for one cluster, in order: applies by increasing wave, then deletes by
/// decreasing wave (contents before their Namespace, custom resources before their CRD).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub items: Vec<PlanItem>,
    /// Refusals (KNV2006, mass prune) and conflicts (KNV1060), dependency cycles (KNV2009).
    pub errors: Vec<Diagnostic>,
}

impl Plan {
    /// True when there is nothing to do and nothing to report.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.errors.is_empty()
    }

    /// Items of one action name.
    pub fn count(&self, name: &str) -> usize {
        self.items
            .iter()
            .filter(|i| i.action.name() == name)
            .count()
    }
}

fn id_of(v: &Value) -> ObjectId {
    ObjectId::of_value(v)
}

fn annotation<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get("metadata")?.get("annotations")?.get(key)?.as_str()
}

/// Config Sync's "managed by Config Sync" test: `managed: enabled` and a resource-id equal to
/// the object's own identity (a copied object with stale metadata is not managed).
pub fn is_managed_by_config_sync(live: &Value) -> bool {
    annotation(live, ann::MANAGED) == Some("enabled")
        && annotation(live, ann::RESOURCE_ID) == Some(id_of(live).resource_id().as_str())
}

/// Whether the live object carries any Config Sync metadata.
pub fn has_config_sync_metadata(live: &Value) -> bool {
    let md = live.get("metadata");
    let keys = |f: &str| {
        md.and_then(|m| m.get(f))
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    keys("annotations")
        .iter()
        .any(|k| k.starts_with("configmanagement.gke.io/") || k.starts_with("configsync.gke.io/"))
        || keys("labels")
            .iter()
            .any(|k| k.starts_with("configsync.gke.io/"))
}

fn manager_of(live: &Value) -> &str {
    if annotation(live, ann::MANAGED) == Some("enabled") {
        annotation(live, ann::MANAGER).unwrap_or("")
    } else {
        ""
    }
}

/// `canManage`: the object is unmanaged, has no manager, is ours, or (we being root) belongs to
/// a namespace reconciler.
fn can_manage(ours: &str, live: &Value) -> bool {
    let m = manager_of(live);
    m.is_empty() || m == ours || (ours.starts_with(":root") && !m.starts_with(":root"))
}

/// Remove Config Sync's metadata from an object (what abandoning writes).
pub fn strip_config_sync_metadata(v: &mut Value, sync: &SyncIdentity) {
    let applyset = sync.applyset_id();
    if let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        if let Some(a) = md.get_mut("annotations").and_then(Value::as_object_mut) {
            a.retain(|k, val| {
                let cs = k.starts_with("configmanagement.gke.io/")
                    || k.starts_with("configsync.gke.io/");
                let ours = k == ann::OWNING_INVENTORY
                    || (k == ann::HNC_MANAGED_BY && val == ann::MANAGED_BY_VALUE);
                !(cs || ours) || k == ann::LIFECYCLE_MUTATION
            });
        }
        if let Some(l) = md.get_mut("labels").and_then(Value::as_object_mut) {
            l.retain(|k, val| {
                !(k.starts_with("configsync.gke.io/")
                    || (k == ann::MANAGED_BY_LABEL && val == ann::MANAGED_BY_VALUE)
                    || (k == ann::APPLYSET_PART_OF && val == applyset.as_str()))
            });
        }
    }
}

/// Paths of declared fields whose live value differs (empty = no drift). Maps: only declared
/// keys are compared; lists: same length and element-wise (so defaults the server adds inside
/// list elements are not drift); strings that are Kubernetes quantities compare by value;
/// integral numbers compare by value (`1` = `1.0`).
pub fn drift(declared: &Value, live: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_into(declared, Some(live), &mut String::new(), &mut out);
    out
}

fn diff_into(d: &Value, l: Option<&Value>, path: &mut String, out: &mut Vec<String>) {
    diff_field(false, d, l, path, out);
}

/// The keys that identify the elements of a built-in list that server-side apply merges by key
/// (`+listType=map` in the Kubernetes API), by the list's field name and what its declared
/// elements hold. Other controllers add their own elements to such lists (an injected sidecar
/// container, an extra environment variable); they are not ours and not drift. Lists not named
/// here are atomic: any difference is drift (RoleBinding `subjects`, `rules`, `args`, …).
fn list_map_keys(path: &str, elements: &[Value]) -> Option<&'static [&'static str]> {
    let field = path.rsplit(['.', ']']).next().unwrap_or(path);
    let all_have = |k: &str| elements.iter().all(|e| e.get(k).is_some());
    let keys: &'static [&'static str] = match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "resourceClaims" => &["name"],
        // A pod's (a ServiceAccount's `imagePullSecrets` is atomic).
        "imagePullSecrets" if path.ends_with("spec.imagePullSecrets") => &["name"],
        "volumeMounts" => &["mountPath"],
        "volumeDevices" => &["devicePath"],
        "hostAliases" => &["ip"],
        "topologySpreadConstraints" => &["topologyKey", "whenUnsatisfiable"],
        // A container's ports, or a Service's (`spec.ports`; the `ports` of NetworkPolicies,
        // Endpoints and EndpointSlices are atomic).
        "ports" if all_have("containerPort") => &["containerPort", "protocol"],
        "ports" if path == "spec.ports" && all_have("port") => &["port", "protocol"],
        _ => return None,
    };
    // `protocol` is optional (the server defaults it to TCP); every other key must be declared.
    let required = keys.iter().filter(|k| **k != "protocol");
    (!elements.is_empty() && required.into_iter().all(|k| all_have(k))).then_some(keys)
}

/// Whether `live` is the element `declared` names (`protocol` defaults to TCP).
fn same_key(keys: &[&str], declared: &Value, live: &Value) -> bool {
    keys.iter().all(|k| {
        let (d, l) = (declared.get(*k), live.get(*k));
        if *k == "protocol" {
            let tcp = Value::String("TCP".into());
            return scalar_eq(d.unwrap_or(&tcp), l.unwrap_or(&tcp));
        }
        matches!((d, l), (Some(d), Some(l)) if scalar_eq(d, l))
    })
}

/// `[name=app]` / `[containerPort=80,protocol=TCP]`: an element of a keyed list, in paths.
fn key_label(keys: &[&str], element: &Value) -> String {
    let parts: Vec<String> = keys
        .iter()
        .filter_map(|k| {
            let v = element.get(*k)?;
            Some(match v.as_str() {
                Some(s) => format!("{k}={s}"),
                None => format!("{k}={v}"),
            })
        })
        .collect();
    format!("[{}]", parts.join(","))
}

/// `field`: `d` is the value of an object's field (whose path ends `path`), not a list element.
fn diff_field(field: bool, d: &Value, l: Option<&Value>, path: &mut String, out: &mut Vec<String>) {
    if out.len() >= 50 {
        return;
    }
    // A keyed list: each declared element against the live element with its key.
    if let (Value::Array(da), Some(Value::Array(la))) = (d, l)
        && field
        && let Some(keys) = list_map_keys(path, da)
    {
        for dv in da {
            let len = path.len();
            path.push_str(&key_label(keys, dv));
            match la.iter().find(|lv| same_key(keys, dv, lv)) {
                Some(lv) => diff_field(false, dv, Some(lv), path, out),
                None => out.push(path.clone()),
            }
            path.truncate(len);
        }
        return;
    }
    match (d, l) {
        (Value::Object(dm), Some(Value::Object(lm))) => {
            for (k, dv) in dm {
                if path.is_empty() && matches!(k.as_str(), "apiVersion" | "status") {
                    continue;
                }
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                diff_field(true, dv, lm.get(k), path, out);
                path.truncate(len);
            }
        }
        (Value::Array(da), Some(Value::Array(la))) if da.len() == la.len() => {
            for (i, (dv, lv)) in da.iter().zip(la).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                diff_field(false, dv, Some(lv), path, out);
                path.truncate(len);
            }
        }
        (Value::Null, None) => {}
        (d, Some(l)) if scalar_eq(d, l) => {}
        _ => out.push(if path.is_empty() {
            ".".into()
        } else {
            path.clone()
        }),
    }
}

fn scalar_eq(d: &Value, l: &Value) -> bool {
    match (d, l) {
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        (Value::String(a), Value::String(b)) => a == b || quantity_eq(a, b),
        (a, b) => a == b,
    }
}

/// Parse `config.kubernetes.io/depends-on`: `<group>/namespaces/<ns>/<Kind>/<name>` or
/// `<group>/<Kind>/<name>`, comma-separated; the core group is empty.
pub fn parse_depends_on(value: &str) -> Result<Vec<ObjectId>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|r| {
            let parts: Vec<&str> = r.split('/').collect();
            match parts.as_slice() {
                [g, "namespaces", ns, k, n] => Ok(ObjectId { group: g.to_string(), kind: k.to_string(), namespace: ns.to_string(), name: n.to_string() }),
                [g, k, n] => Ok(ObjectId { group: g.to_string(), kind: k.to_string(), namespace: String::new(), name: n.to_string() }),
                _ => Err(format!("invalid depends-on reference {r:?}: use <group>/namespaces/<namespace>/<Kind>/<name> or <group>/<Kind>/<name>")),
            }
        })
        .collect()
}

fn resource_error(code: Code, msg: String, d: &DesiredObject) -> Diagnostic {
    let r = ResourceRef {
        source: d.source_path.clone(),
        namespace: d.id.namespace.clone(),
        name: d.id.name.clone(),
        group: d.gvk.group.clone(),
        version: d.gvk.version.clone(),
        kind: d.gvk.kind.clone(),
        file: None,
        pos: None,
    };
    Diagnostic::new(code, msg).with_resource(r)
}

/// Decide what to do with every declared object and every live object, and order it.
/// `live` holds what the syncer sees: live versions of declared objects and every object
/// carrying our ApplySet label (prune candidates). Other live objects are ignored.
pub fn plan(desired: &DesiredState, live: &[Value], opts: &PlanOptions) -> Plan {
    let ours = opts.sync.manager();
    let live_by_id: HashMap<ObjectId, &Value> = live.iter().map(|v| (id_of(v), v)).collect();
    let declared_ids: HashSet<&ObjectId> = desired.objects.iter().map(|d| &d.id).collect();

    // Implicit namespaces.
    let mut implicit: Vec<DesiredObject> = Vec::new();
    if opts.implicit_namespaces {
        let stamp = crate::desired::StampOptions {
            sync: opts.sync.clone(),
            source: desired.source.clone(),
            ..Default::default()
        };
        let referenced: BTreeSet<&str> = desired
            .objects
            .iter()
            .map(|d| d.id.namespace.as_str())
            .filter(|n| !n.is_empty())
            .collect();
        for ns in referenced {
            let id = ObjectId {
                group: String::new(),
                kind: "Namespace".into(),
                namespace: String::new(),
                name: ns.to_string(),
            };
            if declared_ids.contains(&id) || ns == "config-management-system" {
                continue;
            }
            if let Some(l) = live_by_id.get(&id)
                && (!is_managed_by_config_sync(l) || manager_of(l) != ours)
            {
                continue; // exists and is not ours: leave it alone
            }
            implicit.push(implicit_namespace(ns, &desired.cluster, &stamp));
        }
    }
    let declared: Vec<&DesiredObject> = desired.objects.iter().chain(implicit.iter()).collect();
    let declared_ids: HashSet<&ObjectId> = declared.iter().map(|d| &d.id).collect();

    // Decide per declared object (in parallel: drift comparison is the expensive part).
    let decisions: Vec<(Option<PlanItem>, Option<Diagnostic>)> = declared
        .par_iter()
        .map(|d| {
            let l = live_by_id.get(&d.id).copied();
            let (action, error) = decide(d, l, &ours);
            let item = action.map(|a| PlanItem {
                id: d.id.clone(),
                desired: a.applies().then(|| d.manifest.clone()),
                live: l.cloned(),
                action: a,
                wave: 0,
                depends_on: Vec::new(),
            });
            (item, error)
        })
        .collect();
    let mut errors = Vec::new();
    let mut applies: Vec<PlanItem> = Vec::new();
    for (item, error) in decisions {
        applies.extend(item);
        errors.extend(error);
    }
    let mut deletes: Vec<PlanItem> = Vec::new();
    let mk = |id: &ObjectId, action: Action, live: Option<&Value>| PlanItem {
        id: id.clone(),
        action,
        wave: 0,
        desired: None,
        live: live.cloned(),
        depends_on: Vec::new(),
    };

    let mut managed_live = 0usize;
    for (id, l) in &live_by_id {
        if declared_ids.contains(id) || !is_managed_by_config_sync(l) {
            continue;
        }
        managed_live += 1;
        let owned = l
            .get("metadata")
            .and_then(|m| m.get("ownerReferences"))
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if owned || manager_of(l) != ours {
            continue;
        }
        let special_ns = id.group.is_empty()
            && id.kind == "Namespace"
            && SPECIAL_NAMESPACES.contains(&id.name.as_str());
        let action = if annotation(l, ann::LIFECYCLE_DELETION) == Some("detach") || special_ns {
            Action::Abandon
        } else {
            Action::Delete
        };
        deletes.push(mk(id, action, Some(l)));
    }
    managed_live += declared
        .iter()
        .filter(|d| {
            live_by_id
                .get(&d.id)
                .is_some_and(|l| is_managed_by_config_sync(l))
        })
        .count();

    // Safety: a commit that deletes every Namespace (KNV2006), or too large a share of what we manage.
    let ns_deleted: Vec<&PlanItem> = deletes
        .iter()
        .filter(|i| i.id.group.is_empty() && i.id.kind == "Namespace")
        .collect();
    let ns_declared = declared
        .iter()
        .filter(|d| d.id.group.is_empty() && d.id.kind == "Namespace" && d.managed)
        .count();
    let n_delete = deletes
        .iter()
        .filter(|i| i.action == Action::Delete)
        .count();
    if !opts.allow_mass_prune {
        if ns_declared == 0 && ns_deleted.len() >= 2 {
            let names: Vec<&str> = ns_deleted.iter().map(|i| i.id.name.as_str()).collect();
            errors.push(Diagnostic::new(
                Code::EMPTY_SOURCE,
                format!(
                    "New commit would delete all Namespaces {names:?}. Mistakenly deleting Namespaces may cause data loss; nothing was deleted. If this is intended, apply the change explicitly (allow mass pruning) or keep at least one Namespace declared."
                ),
            ));
            deletes.retain(|i| i.action != Action::Delete);
        } else if let Some(f) = opts.max_prune_fraction
            && managed_live >= 10
            && (n_delete as f64) > f * managed_live as f64
        {
            errors.push(Diagnostic::new(
                Code::EMPTY_SOURCE,
                format!(
                    "New commit would delete {n_delete} of {managed_live} managed objects, more than the allowed {:.0}%; nothing was deleted. If this is intended, allow mass pruning for this sync.",
                    f * 100.0
                ),
            ));
            deletes.retain(|i| i.action != Action::Delete);
        }
    }

    order(applies, deletes, &declared, errors)
}

/// The row of Config Sync's table for one declared object and its live version.
fn decide(
    d: &DesiredObject,
    l: Option<&Value>,
    ours: &str,
) -> (Option<Action>, Option<Diagnostic>) {
    let Some(l) = l else {
        return (d.managed.then_some(Action::Create), None);
    };
    let same_metadata = is_managed_by_config_sync(l) && manager_of(l) == ours;
    let mutation_ignore =
        annotation(l, ann::LIFECYCLE_MUTATION) == Some("ignore") || d.mutation_ignore;
    if same_metadata {
        if !d.managed {
            return (Some(Action::Abandon), None);
        }
        let declared = d.value();
        if mutation_ignore {
            let meta = drift(&metadata_only(&declared), l);
            return ((!meta.is_empty()).then_some(Action::UpdateMetadata), None);
        }
        let fields = drift(&declared, l);
        return (
            (!fields.is_empty()).then_some(Action::Update { drift: fields }),
            None,
        );
    }
    if d.managed {
        if can_manage(ours, l) {
            return (
                Some(if mutation_ignore {
                    Action::UpdateMetadata
                } else {
                    Action::Adopt
                }),
                None,
            );
        }
        let other = manager_of(l).to_string();
        let e = resource_error(
            Code::MANAGEMENT_CONFLICT,
            format!(
                "The {ours:?} reconciler detected a management conflict with the {other:?} reconciler. Remove the object from one of the sources of truth so that the object is only managed by one reconciler."
            ),
            d,
        );
        return (Some(Action::Conflict { manager: other }), Some(e));
    }
    if can_manage(ours, l) && has_config_sync_metadata(l) {
        return (Some(Action::Abandon), None);
    }
    (None, None)
}

fn metadata_only(v: &Value) -> Value {
    let mut m = serde_json::Map::new();
    if let Some(md) = v.get("metadata").and_then(Value::as_object) {
        let mut keep = serde_json::Map::new();
        for f in ["annotations", "labels"] {
            if let Some(x) = md.get(f).and_then(Value::as_object) {
                let cs: serde_json::Map<String, Value> = x
                    .iter()
                    .filter(|(k, _)| {
                        k.starts_with("configmanagement.gke.io/")
                            || k.starts_with("configsync.gke.io/")
                            || k.as_str() == ann::APPLYSET_PART_OF
                            || k.as_str() == ann::MANAGED_BY_LABEL
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                keep.insert(f.to_string(), Value::Object(cs));
            }
        }
        m.insert("metadata".into(), Value::Object(keep));
    }
    Value::Object(m)
}

/// Dependencies of a declared object: its Namespace, the CRD defining its kind, and
/// `depends-on` references (only those that are declared).
fn dependencies(
    d: &DesiredObject,
    crds: &HashMap<(String, String), ObjectId>,
    declared: &HashSet<&ObjectId>,
) -> Result<Vec<ObjectId>, String> {
    let mut deps = Vec::new();
    if !d.id.namespace.is_empty() {
        deps.push(ObjectId {
            group: String::new(),
            kind: "Namespace".into(),
            namespace: String::new(),
            name: d.id.namespace.clone(),
        });
    }
    if let Some(crd) = crds.get(&(d.id.group.clone(), d.id.kind.clone())) {
        deps.push(crd.clone());
    }
    if let Some(v) = &d.depends_on {
        deps.extend(parse_depends_on(v)?);
    }
    deps.retain(|dep| declared.contains(dep) && dep != &d.id);
    deps.sort();
    deps.dedup();
    Ok(deps)
}

fn order(
    applies: Vec<PlanItem>,
    mut deletes: Vec<PlanItem>,
    declared: &[&DesiredObject],
    mut errors: Vec<Diagnostic>,
) -> Plan {
    let declared_ids: HashSet<&ObjectId> = declared.iter().map(|d| &d.id).collect();
    let crds: HashMap<(String, String), ObjectId> = declared
        .iter()
        .filter(|d| d.id.group == "apiextensions.k8s.io" && d.id.kind == "CustomResourceDefinition")
        .filter_map(|d| {
            let v = d.value();
            let spec = v.get("spec")?;
            let g = spec.get("group")?.as_str()?.to_string();
            let k = spec.get("names")?.get("kind")?.as_str()?.to_string();
            Some(((g, k), d.id.clone()))
        })
        .collect();
    // Waves over every declared object (so a dependency with nothing to do still orders).
    let mut deps: HashMap<ObjectId, Vec<ObjectId>> = HashMap::with_capacity(declared.len());
    for d in declared {
        match dependencies(d, &crds, &declared_ids) {
            Ok(v) => {
                deps.insert(d.id.clone(), v);
            }
            Err(e) => {
                errors.push(resource_error(Code::APPLIER, e, d));
                deps.insert(d.id.clone(), Vec::new());
            }
        }
    }
    let mut wave: HashMap<ObjectId, usize> = HashMap::with_capacity(declared.len());
    let mut on_stack = HashSet::new();
    fn visit(
        id: &ObjectId,
        deps: &HashMap<ObjectId, Vec<ObjectId>>,
        wave: &mut HashMap<ObjectId, usize>,
        on_stack: &mut HashSet<ObjectId>,
        cycle: &mut Option<ObjectId>,
    ) -> usize {
        if let Some(w) = wave.get(id) {
            return *w;
        }
        if !on_stack.insert(id.clone()) {
            *cycle = Some(id.clone());
            return 0;
        }
        let w = deps
            .get(id)
            .map(|ds| {
                ds.iter()
                    .map(|d| visit(d, deps, wave, on_stack, cycle) + 1)
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        on_stack.remove(id);
        wave.insert(id.clone(), w);
        w
    }
    let mut cycle = None;
    for d in declared {
        visit(&d.id, &deps, &mut wave, &mut on_stack, &mut cycle);
    }
    if let Some(id) = cycle {
        errors.push(Diagnostic::new(
            Code::APPLIER,
            format!(
                "dependency cycle through {id} (config.kubernetes.io/depends-on); break the cycle"
            ),
        ));
    }
    let mut items: Vec<PlanItem> = applies
        .into_iter()
        .map(|mut i| {
            i.wave = wave.get(&i.id).copied().unwrap_or(0);
            i.depends_on = deps.get(&i.id).cloned().unwrap_or_default();
            i
        })
        .collect();
    items.sort_by(|a, b| (a.wave, &a.id).cmp(&(b.wave, &b.id)));
    // Deletes: contents before their Namespace, custom resources before their CRD.
    let del_rank = |i: &PlanItem| match (i.id.group.as_str(), i.id.kind.as_str()) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") => 0,
        ("", "Namespace") => 1,
        _ => 2,
    };
    deletes.sort_by(|a, b| (del_rank(b), &a.id).cmp(&(del_rank(a), &b.id)));
    let max_wave = items.iter().map(|i| i.wave).max().unwrap_or(0);
    for d in &mut deletes {
        d.wave = max_wave + 1 + (2 - del_rank(d));
    }
    items.extend(deletes);
    Plan { items, errors }
}

/// The value of a Kubernetes quantity (`1`, `1000m`, `1Gi`, `1e3`, `0.5Ki`), if `s` is one.
pub fn quantity_value(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    if num.is_empty()
        || !num
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'+' | b'-' | b'e' | b'E'))
    {
        return None;
    }
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    num.parse::<f64>().ok().map(|n| n * mult)
}

/// Whether two strings are the same Kubernetes quantity written differently (`1000m` = `1`).
pub fn quantity_eq(a: &str, b: &str) -> bool {
    match (quantity_value(a), quantity_value(b)) {
        (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
        _ => false,
    }
}

#[cfg(test)]
mod tests;

/// The live object restricted to the fields `declared` declares (maps: declared keys; keyed
/// lists such as `containers`: the declared elements, matched by key; other lists:
/// element-wise), so a diff shows what we manage, not what the server or others added.
pub fn project(live: &Value, declared: &Value) -> Value {
    project_at(&mut String::new(), live, declared)
}

fn project_at(path: &mut String, live: &Value, declared: &Value) -> Value {
    match (live, declared) {
        (Value::Object(l), Value::Object(d)) => {
            let mut m = serde_json::Map::new();
            for (k, dv) in d {
                if let Some(lv) = l.get(k) {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    m.insert(k.clone(), project_at(path, lv, dv));
                    path.truncate(len);
                }
            }
            Value::Object(m)
        }
        (Value::Array(l), Value::Array(d)) => {
            // Elements are below a list, not a field: their own fields start a new path.
            let keys = (!path.ends_with(']'))
                .then(|| list_map_keys(path, d))
                .flatten();
            let len = path.len();
            path.push_str("[]");
            let out = match keys {
                // A keyed list: the declared elements, as live has them.
                Some(keys) => d
                    .iter()
                    .filter_map(|dv| {
                        let lv = l.iter().find(|lv| same_key(keys, dv, lv))?;
                        Some(project_at(path, lv, dv))
                    })
                    .collect(),
                None => l
                    .iter()
                    .enumerate()
                    .map(|(i, lv)| {
                        d.get(i)
                            .map_or_else(|| lv.clone(), |dv| project_at(path, lv, dv))
                    })
                    .collect(),
            };
            path.truncate(len);
            Value::Array(out)
        }
        (l, _) => l.clone(),
    }
}

/// A unified diff of the declared fields: live (projected) → desired, as YAML.
pub fn field_diff(live: &Value, desired: &Value) -> String {
    let before = crate::yaml::to_yaml(&project(live, desired));
    let after = crate::yaml::to_yaml(desired);
    similar::TextDiff::from_lines(&before, &after)
        .unified_diff()
        .context_radius(2)
        .header("live", "desired")
        .to_string()
}

/// Render a plan for people, deterministically: a summary line, then one line per item
/// (`+` create, `~` update with a unified diff of the declared fields, `>` adopt, `-` delete,
/// `=` abandon, `!` conflict), then the errors.
pub fn render(plan: &Plan, cluster: &str) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let n = |a: &str| plan.count(a);
    let _ = writeln!(
        s,
        "Cluster {cluster}: {} to create, {} to update, {} to adopt, {} to delete, {} to abandon, {} conflict(s)",
        n("create"),
        n("update") + n("update-metadata"),
        n("adopt"),
        n("delete"),
        n("abandon"),
        n("conflict")
    );
    if plan.is_empty() {
        let _ = writeln!(s, "  in sync: nothing to do");
    }
    for i in &plan.items {
        let (sign, extra) = match &i.action {
            Action::Create => ("+", String::new()),
            Action::Update { drift } => ("~", format!(": {}", drift.join(", "))),
            Action::UpdateMetadata => (
                "~",
                " (Config Sync metadata only: mutation ignored)".to_string(),
            ),
            Action::Adopt => (">", " (exists, not managed: adopt)".to_string()),
            Action::Abandon => (
                "=",
                " (leave the object, remove Config Sync metadata)".to_string(),
            ),
            Action::Delete => ("-", String::new()),
            Action::Conflict { manager } => ("!", format!(" (managed by {manager:?}: KNV1060)")),
        };
        let _ = writeln!(s, "{sign} {} {}{extra}", i.action.name(), i.id);
        if let (Action::Update { .. } | Action::Adopt, Some(live), Some(desired)) =
            (&i.action, &i.live, &i.desired)
        {
            for line in field_diff(live, &desired.to_value()).lines() {
                let _ = writeln!(s, "    {line}");
            }
        }
    }
    for e in &plan.errors {
        let _ = writeln!(s, "{e}");
    }
    s
}

//! Hierarchical repositories: top-level directories, the namespace tree under `namespaces/`,
//! HierarchyConfig, inheritance from abstract namespaces, and NamespaceSelectors.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use crate::ann;
use crate::diag::{Code, Diagnostic, ResourceRef};
use crate::object::{GroupKind, Object};
use crate::pipeline::Options;
use crate::scope::{Scope, Scopes};
use crate::selector::LabelSelector;
use crate::validate::{dir_of, is_ephemeral, top_dir};

fn err(code: Code, msg: impl Into<String>, o: &Object, opts: &Options) -> Diagnostic {
    Diagnostic::new(code, msg).with_resource(ResourceRef::of(o, &opts.source_prefix))
}

/// The top-level directory an object belongs in, if its scope is known.
fn expected_top_dir(o: &Object, scopes: &Scopes) -> Option<&'static str> {
    let cm = o.group() == "configmanagement.gke.io";
    if cm && matches!(o.kind(), "Repo" | "HierarchyConfig") {
        return Some("system");
    }
    if (cm && o.kind() == "ClusterSelector") || o.is("clusterregistry.k8s.io", "Cluster") {
        return Some("clusterregistry");
    }
    if o.is("", "Namespace") || (cm && o.kind() == "NamespaceSelector") {
        return Some("namespaces");
    }
    match scopes.of(o) {
        Some(Scope::Cluster) => Some("cluster"),
        Some(Scope::Namespaced) => Some("namespaces"),
        None => None,
    }
}

fn top_dir_message(dir: &str, kind: &str) -> String {
    match dir {
        "system" => format!(
            "Repo and HierarchyConfig configs MUST be declared in `system/`. To fix, move the {kind} to `system/`."
        ),
        "clusterregistry" => {
            format!(
                "Cluster and ClusterSelector configs MUST be declared in `clusterregistry/`. To fix, move the {kind} to `clusterregistry/`."
            )
        }
        "cluster" => format!(
            "Cluster-scoped configs except Namespaces MUST be declared in `cluster/`. To fix, move the {kind} to `cluster/`."
        ),
        _ => format!(
            "Namespace-scoped and Namespace configs MUST be declared in `namespaces/`. To fix, move the {kind} to `namespaces/`."
        ),
    }
}

#[derive(Debug, Default)]
struct Node {
    /// Indices of objects declared directly in this directory.
    objects: Vec<usize>,
    /// Indices of Namespace objects declared directly in this directory.
    namespaces: Vec<usize>,
    children: BTreeSet<String>,
}

fn parent(dir: &str) -> Option<&str> {
    dir.rfind('/').map(|i| &dir[..i])
}

/// Build the tree, validate it, and return the objects with inheritance applied.
pub fn build(
    objects: Vec<Object>,
    scopes: &Scopes,
    opts: &Options,
    errors: &mut Vec<Diagnostic>,
) -> Vec<Object> {
    // KNV1039: wrong top-level directory (Cluster/ClusterSelector are checked in the raw stage).
    for o in &objects {
        if let Some(want) = expected_top_dir(o, scopes)
            && want != "clusterregistry"
            && top_dir(o) != want
        {
            errors.push(err(
                Code::INCORRECT_TOP_LEVEL_DIRECTORY,
                top_dir_message(want, o.kind()),
                o,
                opts,
            ));
        }
    }
    if errors.iter().any(|e| e.code.is_blocking()) {
        return objects;
    }
    let modes = hierarchy_configs(&objects, opts, errors);

    // The tree: every directory under namespaces/ with objects, and its ancestors.
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    nodes.entry("namespaces".into()).or_default();
    for (i, o) in objects.iter().enumerate() {
        if top_dir(o) != "namespaces" {
            continue;
        }
        let dir = dir_of(o).to_string();
        let node = nodes.entry(dir.clone()).or_default();
        node.objects.push(i);
        if o.is("", "Namespace") {
            node.namespaces.push(i);
        }
        let mut d = dir;
        while let Some(p) = parent(&d) {
            let p = p.to_string();
            nodes
                .entry(p.clone())
                .or_default()
                .children
                .insert(d.clone());
            if p == "namespaces" {
                break;
            }
            d = p;
        }
    }
    let is_ns_dir = |dir: &str, nodes: &BTreeMap<String, Node>| {
        dir != "namespaces" && nodes.get(dir).is_some_and(|n| !n.namespaces.is_empty())
    };

    // Namespace directories: one Namespace, no subdirectories, no NamespaceSelector.
    for (dir, node) in &nodes {
        if !is_ns_dir(dir, &nodes) {
            continue;
        }
        if node.namespaces.len() > 1 {
            let objs: Vec<&Object> = node.namespaces.iter().map(|&i| &objects[i]).collect();
            errors.push(Diagnostic::resource(
                Code::MULTIPLE_SINGLETONS,
                format!("Multiple Namespace resources cannot exist in the same directory {dir:?}. To fix, remove the duplicate Namespace configs so that only one remains:"),
                &objs,
                &opts.source_prefix,
            ));
        }
        if !node.children.is_empty() {
            let ns = &objects[node.namespaces[0]];
            errors.push(
                Diagnostic::new(
                    Code::ILLEGAL_NAMESPACE_SUBDIRECTORY,
                    format!(
                        "A Namespace directory MUST NOT have subdirectories. Restructure {dir:?} so that it has no subdirectories ({}), or make it an abstract namespace by removing its Namespace:",
                        node.children.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ")
                    ),
                )
                .with_resource(ResourceRef::of(ns, &opts.source_prefix)),
            );
        }
        for &i in &node.objects {
            let o = &objects[i];
            if o.is("configmanagement.gke.io", "NamespaceSelector") {
                errors.push(err(
                    Code::ILLEGAL_KIND_IN_NAMESPACES,
                    "Configs of the below Kind MUST not be declared in `namespaces`/: NamespaceSelectors may only be declared in abstract namespace directories. To fix, move the NamespaceSelector to an abstract namespace directory:",
                    o,
                    opts,
                ));
            }
        }
    }

    // Abstract directories: need a Namespace below if they hold syncable objects; hierarchyMode none.
    let has_ns_below = |dir: &str| {
        nodes.iter().any(|(d, n)| {
            d.starts_with(dir) && d[dir.len()..].starts_with('/') && !n.namespaces.is_empty()
        })
    };
    for (dir, node) in &nodes {
        if is_ns_dir(dir, &nodes) {
            continue;
        }
        let syncable: Vec<&Object> = node
            .objects
            .iter()
            .map(|&i| &objects[i])
            .filter(|o| !is_ephemeral(o))
            .collect();
        if !syncable.is_empty() && !has_ns_below(dir) {
            let msg = if node.children.is_empty() {
                format!(
                    "The directory {dir:?} has configs, but is missing a Namespace config. All bottom level subdirectories MUST have a Namespace config."
                )
            } else {
                format!(
                    "The directory {dir:?} has configs, but none of its subdirectories are Namespaces. An abstract namespace directory with configs MUST have at least one Namespace subdirectory."
                )
            };
            errors.push(Diagnostic::path(
                Code::UNSYNCABLE_RESOURCES,
                msg,
                &crate::diag::join_source(&opts.source_prefix, &format!("{dir}/")),
                None,
            ));
        }
        for o in &syncable {
            if modes.get(&o.group_kind()).is_some_and(|m| m == "none") {
                errors.push(err(
                    Code::ILLEGAL_ABSTRACT_NAMESPACE_OBJECT_KIND,
                    format!(
                        "Config {:?} illegally declared in an abstract namespace directory. Move this config to a Namespace directory (its kind has hierarchyMode: none in a HierarchyConfig):",
                        o.name()
                    ),
                    o,
                    opts,
                ));
            }
        }
    }

    // NamespaceSelectors: where each is declared; references must be in the same or an ancestor dir.
    let mut selector_dirs: HashMap<String, (String, Option<LabelSelector>)> = HashMap::new();
    for o in objects
        .iter()
        .filter(|o| o.is("configmanagement.gke.io", "NamespaceSelector"))
    {
        let sel = LabelSelector::of_selector_object(o);
        selector_dirs.insert(o.name().to_string(), (dir_of(o).to_string(), sel));
    }
    for o in objects.iter().filter(|o| top_dir(o) == "namespaces") {
        let Some(name) = o.annotation(ann::NAMESPACE_SELECTOR) else {
            continue;
        };
        if o.is("", "Namespace") {
            continue; // KNV1004, reported by the scoped validators.
        }
        match selector_dirs.get(name) {
            None => errors.push(err(
                Code::UNKNOWN_SELECTOR,
                format!(
                    "Config {:?} MUST refer to an existing NamespaceSelector, but has annotation \"{}: {name}\" which maps to no declared NamespaceSelector. To fix, declare the NamespaceSelector or correct the annotation:",
                    o.name(),
                    ann::NAMESPACE_SELECTOR
                ),
                o,
                opts,
            )),
            Some((sel_dir, _)) => {
                let dir = dir_of(o);
                let ancestor = dir == sel_dir || (dir.starts_with(sel_dir.as_str()) && dir[sel_dir.len()..].starts_with('/'));
                if !ancestor {
                    errors.push(err(
                        Code::UNKNOWN_SELECTOR,
                        format!(
                            "Config {:?} MUST refer to a NamespaceSelector in its directory or a parent directory. Either remove the annotation \"{}: {name}\" or move NamespaceSelector {name:?} to a parent directory of {dir:?}:",
                            o.name(),
                            ann::NAMESPACE_SELECTOR
                        ),
                        o,
                        opts,
                    ));
                }
            }
        }
    }
    if errors.iter().any(|e| e.code.is_blocking()) {
        return objects;
    }

    // Inheritance: each namespace directory gets its own objects (moved) and copies of its
    // ancestors' (abstract directories are few, so only inherited objects are cloned).
    let mut slots: Vec<Option<Object>> = objects.into_iter().map(Some).collect();
    let inheritable = |o: &Object| !o.is("", "Namespace") && !is_ephemeral(o);
    let mut out: Vec<Object> = Vec::with_capacity(slots.len());
    for slot in slots.iter_mut() {
        if slot
            .as_ref()
            .is_some_and(|o| top_dir(o) != "namespaces" && !is_ephemeral(o))
        {
            out.extend(slot.take());
        }
    }
    let ns_dirs: Vec<&String> = nodes.keys().filter(|d| is_ns_dir(d, &nodes)).collect();
    for dir in ns_dirs {
        let node = &nodes[dir];
        let ns_obj = slots[node.namespaces[0]]
            .as_ref()
            .expect("namespace not yet moved");
        let ns_name = ns_obj.name().to_string();
        let ns_labels = ns_obj.label_map();
        let selected = |o: &Object| match o.annotation(ann::NAMESPACE_SELECTOR) {
            None => true,
            Some(name) => selector_dirs
                .get(name)
                .and_then(|(_, s)| s.as_ref())
                .is_some_and(|s| s.matches(&ns_labels)),
        };
        let mut inherited = Vec::new();
        let mut d = dir.as_str();
        while let Some(p) = parent(d) {
            if let Some(pn) = nodes.get(p) {
                for &i in &pn.objects {
                    if let Some(o) = slots[i].as_ref().filter(|o| inheritable(o) && selected(o)) {
                        let mut c = o.clone();
                        c.set_namespace(&ns_name);
                        inherited.push(c);
                    }
                }
            }
            if p == "namespaces" {
                break;
            }
            d = p;
        }
        let own: Vec<usize> = node.objects.clone();
        for i in own {
            let keep = slots[i]
                .as_ref()
                .is_some_and(|o| o.is("", "Namespace") || (!is_ephemeral(o) && selected(o)));
            match slots[i].take() {
                Some(mut o) if keep => {
                    if !o.is("", "Namespace") {
                        o.set_namespace(&ns_name);
                    }
                    out.push(o);
                }
                _ => {}
            }
        }
        out.extend(inherited);
    }
    out
}

/// Validate HierarchyConfigs (KNV1041, KNV1042, KNV1046) and return the mode per group-kind.
fn hierarchy_configs(
    objects: &[Object],
    opts: &Options,
    errors: &mut Vec<Diagnostic>,
) -> HashMap<GroupKind, String> {
    let mut modes = HashMap::new();
    let declared_in_cluster: BTreeSet<GroupKind> = objects
        .iter()
        .filter(|o| top_dir(o) == "cluster")
        .map(Object::group_kind)
        .collect();
    for hc in objects
        .iter()
        .filter(|o| o.is("configmanagement.gke.io", "HierarchyConfig"))
    {
        let resources = hc
            .value
            .get("spec")
            .and_then(|s| s.get("resources"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for r in resources {
            let group = r.get("group").and_then(Value::as_str).unwrap_or("");
            let kinds: Vec<&str> = r
                .get("kinds")
                .and_then(Value::as_array)
                .map(|k| k.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mode = r.get("hierarchyMode").and_then(Value::as_str).unwrap_or("");
            if kinds.is_empty() {
                errors.push(err(
                    Code::UNSUPPORTED_RESOURCE_IN_HIERARCHY_CONFIG,
                    format!("This HierarchyConfig declares a resource of group {group:?} without kinds. To fix, list the kinds it applies to:"),
                    hc,
                    opts,
                ));
            }
            for kind in kinds {
                let gk = GroupKind::new(group, kind);
                if (group.is_empty() && kind == "Namespace") || group == "configmanagement.gke.io" {
                    errors.push(err(
                        Code::UNSUPPORTED_RESOURCE_IN_HIERARCHY_CONFIG,
                        format!("This HierarchyConfig defines the APIResource {:?} which has a hierarchyMode that cannot be set. To fix, remove it from the HierarchyConfig:", gk.to_string()),
                        hc,
                        opts,
                    ));
                    continue;
                }
                if declared_in_cluster.contains(&gk) {
                    errors.push(err(
                        Code::CLUSTER_SCOPED_RESOURCE_IN_HIERARCHY_CONFIG,
                        format!("This HierarchyConfig references the APIResource {:?} which has cluster scope. Cluster scoped objects are not permitted in HierarchyConfig:", gk.to_string()),
                        hc,
                        opts,
                    ));
                    continue;
                }
                match mode {
                    "" | "inherit" => {
                        modes.insert(gk, "inherit".to_string());
                    }
                    "none" => {
                        modes.insert(gk, "none".to_string());
                    }
                    other => errors.push(err(
                        Code::ILLEGAL_HIERARCHY_MODE,
                        format!("HierarchyMode {other:?} is not a valid value for the APIResource {kind:?}. Allowed values are [none,inherit]."),
                        hc,
                        opts,
                    )),
                }
            }
        }
    }
    modes
}

//! Stage 1 of the pipeline: the raw validators, which look at each declared object on its own
//! (annotations, labels, names, namespaces, forbidden kinds and fields, directories).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::diag::{Code, Diagnostic, ResourceRef};
use crate::names::{is_dns1123_label, is_dns1123_subdomain, is_path_segment_name};
use crate::object::Object;
use crate::pipeline::Options;
use crate::{SourceFormat, ann};

/// Annotations users may declare despite the reserved prefixes.
const ALLOWED_ANNOTATIONS: [&str; 6] = [
    ann::NAMESPACE_SELECTOR,
    ann::CLUSTER_SELECTOR,
    ann::CLUSTER_NAME_SELECTOR,
    ann::MANAGED,
    "client.lifecycle.config.k8s.io/mutation",
    "configsync.gke.io/deletion-propagation-policy",
];

const RESERVED_PREFIXES: [&str; 2] = ["configmanagement.gke.io/", "configsync.gke.io/"];

fn reserved(key: &str) -> bool {
    RESERVED_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Kinds consumed by the pipeline and never synced.
pub fn is_ephemeral(o: &Object) -> bool {
    (o.group() == "configmanagement.gke.io"
        && matches!(
            o.kind(),
            "NamespaceSelector" | "ClusterSelector" | "Repo" | "HierarchyConfig" | "Sync"
        ))
        || o.is("clusterregistry.k8s.io", "Cluster")
}

fn err(code: Code, msg: impl Into<String>, o: &Object, opts: &Options) -> Diagnostic {
    Diagnostic::new(code, msg).with_resource(ResourceRef::of(o, &opts.source_prefix))
}

/// Directory of the file declaring `o` (relative, no trailing slash; "" at the root).
pub fn dir_of(o: &Object) -> &str {
    match o.origin.file.rfind('/') {
        Some(i) => &o.origin.file[..i],
        None => "",
    }
}

fn base_name(dir: &str) -> &str {
    dir.rsplit('/').next().unwrap_or(dir)
}

const DEPRECATED: [(&str, &str); 7] = [
    ("DaemonSet", "DaemonSet.apps"),
    ("Deployment", "Deployment.apps"),
    ("Ingress", "Ingress.networking.k8s.io"),
    ("ReplicaSet", "ReplicaSet.apps"),
    ("NetworkPolicy", "NetworkPolicy.networking.k8s.io"),
    ("PodSecurityPolicy", "PodSecurityPolicy.policy"),
    ("StatefulSet", "StatefulSet.apps"),
];

/// Run every raw validator on every object; all errors are collected.
pub fn raw(objects: &[Object], opts: &Options) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for o in objects {
        raw_one(o, opts, &mut out);
    }
    if opts.format == SourceFormat::Hierarchy {
        repo_checks(objects, opts, &mut out);
    }
    selector_name_collisions(objects, "ClusterSelector", opts, &mut out);
    out
}

fn raw_one(o: &Object, opts: &Options, out: &mut Vec<Diagnostic>) {
    let hier = opts.format == SourceFormat::Hierarchy;
    // KNV1010 / KNV1011
    let bad_ann: Vec<String> = o
        .annotations()
        .map(|(k, _)| k)
        .filter(|k| reserved(k) && !ALLOWED_ANNOTATIONS.contains(k))
        .map(|k| format!("{k:?}"))
        .collect();
    if !bad_ann.is_empty() {
        out.push(err(
            Code::ILLEGAL_ANNOTATION,
            format!(
                "Configs MUST NOT declare unsupported annotations starting with \"configmanagement.gke.io/\" or \"configsync.gke.io/\". The config has invalid annotations: {}",
                bad_ann.join(", ")
            ),
            o,
            opts,
        ));
    }
    let bad_labels: Vec<String> = o
        .labels()
        .map(|(k, _)| k)
        .filter(|k| reserved(k))
        .map(|k| format!("{k:?}"))
        .collect();
    if !bad_labels.is_empty() {
        out.push(err(
            Code::ILLEGAL_LABEL,
            format!(
                "Configs MUST NOT declare labels starting with \"configmanagement.gke.io/\" or \"configsync.gke.io/\". The config has disallowed labels: {}",
                bad_labels.join(", ")
            ),
            o,
            opts,
        ));
    }
    // KNV1043 Sync, KNV1032 hierarchical kinds in unstructured
    if o.is("configmanagement.gke.io", "Sync") {
        out.push(err(
            Code::UNSUPPORTED_OBJECT,
            "Config Sync cannot sync objects of kind Sync.configmanagement.gke.io (a legacy internal type). To fix, remove the config:",
            o,
            opts,
        ));
    }
    if !hier
        && o.group() == "configmanagement.gke.io"
        && matches!(o.kind(), "Repo" | "HierarchyConfig")
    {
        out.push(err(
            Code::ILLEGAL_HIERARCHICAL_KIND,
            format!(
                "The type {}.configmanagement.gke.io is not allowed if `sourceFormat` is set to `unstructured`. To fix, remove the problematic config, or convert your repo to use `sourceFormat: hierarchy`.",
                o.kind()
            ),
            o,
            opts,
        ));
    }
    // KNV1050 deprecated group-kinds
    if o.group() == "extensions"
        && let Some((_, to)) = DEPRECATED.iter().find(|(k, _)| *k == o.kind())
    {
        out.push(err(
            Code::DEPRECATED_GROUP_KIND,
            format!("The config is using a deprecated Group and Kind. To fix, set the Group and Kind to {to:?}"),
            o,
            opts,
        ));
    }
    // KNV1031 / KNV1036 names
    let name = o.name();
    if name.is_empty() {
        out.push(err(
            Code::MISSING_OBJECT_NAME,
            "Configs must declare `metadata.name`:",
            o,
            opts,
        ));
    } else if !is_ephemeral(o) {
        // Ephemeral kinds (Repo, selectors, Cluster) never reach the API server; Config Sync
        // does not check their names.
        let rbac = o.group() == "rbac.authorization.k8s.io";
        let ok = if rbac {
            is_path_segment_name(name)
        } else {
            is_dns1123_subdomain(name)
        };
        if !ok {
            let rule = if rbac {
                "be a valid path segment (not \".\" or \"..\", and without \"/\" or \"%\")"
            } else {
                "be a valid DNS-1123 subdomain: at most 253 lower case alphanumeric characters, '-' or '.', starting and ending with an alphanumeric character"
            };
            out.push(err(
                Code::INVALID_METADATA_NAME,
                format!("Configs MUST define a `metadata.name` that is valid for its kind: {name:?} must {rule}. To fix, rename the config:"),
                o,
                opts,
            ));
        }
    }
    // KNV1055 / KNV1034 namespaces
    if o.is("", "Namespace") {
        if !name.is_empty() && !is_dns1123_label(name) {
            out.push(err(
                Code::INVALID_NAMESPACE,
                format!(
                    "The Namespace name {name:?} is invalid: it must be a DNS-1123 label (at most 63 lower case alphanumeric characters or '-', starting and ending with an alphanumeric). To fix, rename the Namespace (and, in a hierarchical repository, its directory):"
                ),
                o,
                opts,
            ));
        }
        if name == "config-management-system" {
            out.push(err(
                Code::ILLEGAL_NAMESPACE,
                "The \"config-management-system\" Namespace must not be declared. To fix, remove the Namespace config:",
                o,
                opts,
            ));
        }
    }
    let ns = o.namespace();
    if !ns.is_empty() && !is_dns1123_label(ns) {
        out.push(err(
            Code::INVALID_NAMESPACE,
            format!("metadata.namespace {ns:?} is invalid: it must be a DNS-1123 label (at most 63 lower case alphanumeric characters or '-'). To fix, correct metadata.namespace:"),
            o,
            opts,
        ));
    }
    if hier {
        directory_checks(o, opts, out);
        let depth: Vec<String> = o
            .labels()
            .map(|(k, _)| k)
            .filter(|k| k.ends_with(".tree.hnc.x-k8s.io/depth"))
            .map(|k| format!("{k:?}"))
            .collect();
        if !depth.is_empty() {
            out.push(err(
                Code::ILLEGAL_DEPTH_LABEL,
                format!("Configs MUST NOT declare labels ending with \".tree.hnc.x-k8s.io/depth\": Config Sync sets them. The config declares: {}. To fix, remove them:", depth.join(", ")),
                o,
                opts,
            ));
        }
    }
    // KNV1005 management annotation
    if let Some(v) = o.annotation(ann::MANAGED)
        && v != "disabled"
    {
        out.push(err(
            Code::ILLEGAL_MANAGEMENT_ANNOTATION,
            format!(
                "Config has invalid management annotation {}={v}. If set, the value must be \"disabled\". To fix, remove the annotation or set it to \"disabled\":",
                ann::MANAGED
            ),
            o,
            opts,
        ));
    }
    // CRD checks: KNV1043 reserved groups, KNV1048 name
    if o.is("apiextensions.k8s.io", "CustomResourceDefinition") {
        let spec = o.value.get("spec");
        let group = spec
            .and_then(|s| s.get("group"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let plural = spec
            .and_then(|s| s.get("names"))
            .and_then(|n| n.get("plural"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if group == "configmanagement.gke.io" || group == "configsync.gke.io" {
            out.push(err(
                Code::UNSUPPORTED_OBJECT,
                format!("Config Sync cannot sync CustomResourceDefinitions of its own group {group:?}. To fix, remove the CustomResourceDefinition:"),
                o,
                opts,
            ));
        }
        let want = format!("{plural}.{group}");
        if name != want {
            out.push(err(
                Code::INVALID_CRD_NAME,
                format!("The CustomResourceDefinition has an invalid `metadata.name`: {name:?}. To fix, set it to `<spec.names.plural>.<spec.group>`, {want:?}:"),
                o,
                opts,
            ));
        }
    }
    // KNV1069 self-reconcile
    if (o.is("configsync.gke.io", "RootSync")
        && o.namespace() == "config-management-system"
        && name == opts.sync_name
        && opts.namespace.is_none())
        || (o.is("configsync.gke.io", "RepoSync")
            && opts
                .namespace
                .as_deref()
                .is_some_and(|n| n == o.namespace())
            && name == "repo-sync")
    {
        out.push(err(
            Code::SELF_RECONCILE,
            format!(
                "{} {}/{} must not manage itself in its repo. To fix, remove it from the source:",
                o.kind(),
                o.namespace(),
                name
            ),
            o,
            opts,
        ));
    }
    // KNV1045 fields set by the server
    let md = o.metadata();
    let mut illegal = Vec::new();
    for f in [
        "ownerReferences",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        if md.and_then(|m| m.get(f)).is_some_and(|v| !v.is_null()) {
            illegal.push(format!("metadata.{f}"));
        }
    }
    if md
        .and_then(|m| m.get("creationTimestamp"))
        .is_some_and(|v| !v.is_null())
    {
        illegal.push("metadata.creationTimestamp".into());
    }
    for f in illegal {
        out.push(err(
            Code::ILLEGAL_FIELDS,
            format!("Configs with {f:?} specified are not allowed. To fix, either remove the config or remove the {f:?} field in the config:"),
            o,
            opts,
        ));
    }
    // KNV1004: selectors may not be cluster-selected
    let selector_kind = (o.group() == "configmanagement.gke.io"
        && matches!(o.kind(), "ClusterSelector" | "NamespaceSelector"))
        || o.is("clusterregistry.k8s.io", "Cluster");
    if selector_kind {
        for a in [ann::CLUSTER_SELECTOR, ann::CLUSTER_NAME_SELECTOR] {
            if o.has_annotation(a) {
                out.push(err(
                    Code::ILLEGAL_SELECTOR_ANNOTATION,
                    format!("{}s may not be cluster-selected, and so MUST NOT declare the annotation '{a}'. To fix, remove `metadata.annotations.{a}` from:", o.kind()),
                    o,
                    opts,
                ));
            }
        }
    }
    if o.group() == "configmanagement.gke.io" && o.kind() == "ClusterSelector" {
        match o.value.get("spec").and_then(|s| s.get("selector")) {
            None => out.push(err(
                Code::INVALID_SELECTOR,
                "ClusterSelectors MUST define `spec.selector`:",
                o,
                opts,
            )),
            Some(sel) => {
                if let Err(e) = crate::selector::LabelSelector::parse(sel) {
                    out.push(err(
                        Code::INVALID_SELECTOR,
                        format!(
                            "ClusterSelector has validation errors that must be corrected: {e}:"
                        ),
                        o,
                        opts,
                    ));
                }
            }
        }
    }
    if hier
        && ((o.group() == "configmanagement.gke.io" && o.kind() == "ClusterSelector")
            || o.is("clusterregistry.k8s.io", "Cluster"))
        && top_dir(o) != "clusterregistry"
    {
        out.push(err(
            Code::INCORRECT_TOP_LEVEL_DIRECTORY,
            format!("Cluster and ClusterSelector configs MUST be declared in `clusterregistry/`. To fix, move the {} to `clusterregistry/`.", o.kind()),
            o,
            opts,
        ));
    }
}

/// First path segment of the object's file.
pub fn top_dir(o: &Object) -> &str {
    o.origin.file.split('/').next().unwrap_or("")
}

fn directory_checks(o: &Object, opts: &Options, out: &mut Vec<Diagnostic>) {
    if top_dir(o) != "namespaces" {
        return;
    }
    let dir = dir_of(o);
    let base = base_name(dir);
    let ns = o.namespace();
    if !ns.is_empty() && ns != base {
        out.push(err(
            Code::ILLEGAL_METADATA_NAMESPACE,
            format!("A config MUST either declare a `namespace` field exactly matching the directory containing the config, {base:?}, or leave the field blank:"),
            o,
            opts,
        ));
    }
    if o.is("", "Namespace") {
        if dir == "namespaces" {
            out.push(err(
                Code::ILLEGAL_TOP_LEVEL_NAMESPACE,
                "Namespaces MUST be declared in subdirectories of 'namespaces/'. Create a subdirectory for the following Namespace configs:",
                o,
                opts,
            ));
        } else if o.name() != base {
            out.push(err(
                Code::INVALID_NAMESPACE_NAME,
                format!("A Namespace MUST declare `metadata.name` that matches the name of its directory.\n\nexpected `metadata.name`: {base}"),
                o,
                opts,
            ));
        }
    }
}

fn repo_checks(objects: &[Object], opts: &Options, out: &mut Vec<Diagnostic>) {
    let repos: Vec<&Object> = objects
        .iter()
        .filter(|o| o.is("configmanagement.gke.io", "Repo"))
        .collect();
    match repos.len() {
        0 => out.push(Diagnostic::path(
            Code::MISSING_REPO,
            "The system/ directory must declare a Repo Resource. To fix, add a Repo (apiVersion: configmanagement.gke.io/v1, spec.version: 1.0.0) in system/, for example with `nomos init`.",
            &crate::diag::join_source(&opts.source_prefix, "system/"),
            None,
        )),
        1 => {}
        _ => out.push(Diagnostic::resource(
            Code::MULTIPLE_SINGLETONS,
            "Multiple Repo resources cannot exist in the same directory. To fix, remove the duplicate Repo configs so that only one remains:",
            &repos,
            &opts.source_prefix,
        )),
    }
    for r in repos {
        let v = r
            .value
            .get("spec")
            .and_then(|s| s.get("version"))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        let v = v.unwrap_or_default();
        if v != "1.0.0" && v != "0.1.0" {
            out.push(err(
                Code::UNSUPPORTED_REPO_VERSION,
                format!("Unsupported Repo spec.version: {v:?}. Must use version \"1.0.0\""),
                r,
                opts,
            ));
        }
    }
}

/// KNV1029 for selectors of `kind` sharing a name.
pub fn selector_name_collisions(
    objects: &[Object],
    kind: &str,
    opts: &Options,
    out: &mut Vec<Diagnostic>,
) {
    let mut by_name: BTreeMap<&str, Vec<&Object>> = BTreeMap::new();
    for o in objects
        .iter()
        .filter(|o| o.is("configmanagement.gke.io", kind))
    {
        by_name.entry(o.name()).or_default().push(o);
    }
    for (name, objs) in by_name {
        if objs.len() > 1 {
            out.push(Diagnostic::resource(
                Code::NAME_COLLISION,
                format!("{kind}s MUST have globally-unique names. Found {} {kind}s named {name:?}; rename or remove all but one:", objs.len()),
                &objs,
                &opts.source_prefix,
            ));
        }
    }
}

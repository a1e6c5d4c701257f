//! The validation and hydration pipeline, stage by stage, as Config Sync runs it.
//!
//! [`Repository::load`] reads the files once and runs the cluster-independent checks;
//! [`Repository::pass`] runs the per-cluster stages (cluster selection, scoping, the hierarchy or
//! the unstructured expansion, final checks) for one cluster name. A stage with blocking errors
//! stops the pass, so later-stage problems surface once earlier ones are fixed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rayon::prelude::*;
use serde_json::Value;

use crate::diag::{Code, Diagnostic, ResourceRef};
use crate::hierarchy;
use crate::object::{GroupKind, Object};
use crate::read::{self, SourceFile};
use crate::scope::{Scope, Scopes};
use crate::selector::LabelSelector;
use crate::validate::{self, is_ephemeral};
use crate::yaml::Limits;
use crate::{SourceFormat, ann};

/// The cluster name of the default pass of `nomos vet` and `nomos hydrate`.
pub const DEFAULT_CLUSTER: &str = "defaultcluster";

/// How to read and validate a repository.
#[derive(Debug, Clone)]
pub struct Options {
    /// `hierarchy` or `unstructured`.
    pub format: SourceFormat,
    /// Validate as a namespace repository (a RepoSync's source) for this namespace.
    pub namespace: Option<String>,
    /// Prepended to file paths in `source:` lines and the `source-path` annotation.
    pub source_prefix: String,
    /// Name of the RootSync this repository configures (for the self-reconcile check).
    pub sync_name: String,
    /// Kubernetes version whose schemas validate built-in kinds; `None` disables schema checks.
    pub k8s_version: Option<String>,
    /// Maximum number of objects (KNV1070), when set.
    pub threshold: Option<usize>,
    /// Bounds for reading files.
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            format: SourceFormat::Hierarchy,
            namespace: None,
            source_prefix: String::new(),
            sync_name: "root-sync".into(),
            k8s_version: None,
            threshold: None,
            limits: Limits::default(),
        }
    }
}

impl Options {
    /// Options for `format` with everything else at its default.
    pub fn new(format: SourceFormat) -> Options {
        Options {
            format,
            ..Options::default()
        }
    }
}

/// A repository read once; run [`Repository::pass`] per cluster.
#[derive(Debug, Clone)]
pub struct Repository {
    pub options: Options,
    /// Objects as declared (after `List` flattening and `local-config` filtering).
    pub objects: Vec<Object>,
    /// Errors found while reading files (KNV2001 and friends): they stop every pass.
    pub read_errors: Vec<Diagnostic>,
    /// Warnings (YAML 1.1 vs 1.2 ambiguities, …); they never fail validation.
    pub warnings: Vec<Diagnostic>,
    raw_errors: Vec<Diagnostic>,
    schema_errors: Vec<Diagnostic>,
    scopes: Scopes,
    clusters: BTreeMap<String, BTreeMap<String, String>>,
}

/// What one per-cluster pass produced.
#[derive(Debug, Clone, Default)]
pub struct Pass {
    /// The cluster name the pass ran for (empty = unnamed cluster).
    pub cluster: String,
    /// The objects this cluster gets, fully processed (selection, inheritance, defaulting), in
    /// a deterministic order; ephemeral kinds (Repo, selectors, Cluster…) removed.
    pub objects: Vec<Object>,
    /// Errors (de-duplicated, sorted by text). Non-empty means the cluster must not be synced,
    /// unless every error is non-blocking (KNV1021).
    pub errors: Vec<Diagnostic>,
}

impl Pass {
    /// True when no error blocks syncing (KNV1021 is reported but does not block).
    pub fn is_syncable(&self) -> bool {
        self.errors.iter().all(|e| !e.code.is_blocking())
    }
}

impl Repository {
    /// Read `files` and run the cluster-independent stages. `api_resources` is the path and
    /// text of an `api-resources.txt`, if the repository has one.
    pub fn load(
        files: &[SourceFile],
        api_resources: Option<(&str, &str)>,
        options: Options,
    ) -> Repository {
        let read = read::read_files(
            files,
            options.format,
            &options.limits,
            &options.source_prefix,
        );
        let mut read_errors = read.errors;
        let mut scopes = Scopes::default();
        if let Some((path, text)) = api_resources
            && let Err(e) = scopes.add_api_resources(text, path)
        {
            read_errors.push(e);
        }
        scopes.add_crds(read.objects.iter());
        let raw_errors = validate::raw(&read.objects, &options);
        let schema_errors = match &options.k8s_version {
            Some(v) if read_errors.is_empty() && raw_errors.is_empty() => {
                crate::schema_check::check(&read.objects, files, v, &options.source_prefix)
            }
            _ => Vec::new(),
        };
        let mut clusters = BTreeMap::new();
        for o in read
            .objects
            .iter()
            .filter(|o| o.is("clusterregistry.k8s.io", "Cluster"))
        {
            clusters.insert(o.name().to_string(), o.label_map());
        }
        Repository {
            options,
            objects: read.objects,
            read_errors,
            warnings: read.warnings,
            raw_errors,
            schema_errors,
            scopes,
            clusters,
        }
    }

    /// Cluster names the repository mentions: every `Cluster` in `clusterregistry/` and every
    /// name in a `cluster-name-selector` annotation, sorted.
    pub fn cluster_names(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self.clusters.keys().cloned().collect();
        for o in &self.objects {
            if let Some(list) = o.annotation(ann::CLUSTER_NAME_SELECTOR) {
                names.extend(
                    list.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                );
            }
        }
        names.into_iter().collect()
    }

    /// Known scope of a group-kind (built-in, declared CRD, or api-resources.txt).
    pub fn scope(&self, gk: &GroupKind) -> Option<Scope> {
        self.scopes.get(gk)
    }

    /// Known scope of an object's kind (no allocation; see [`Repository::scope`]).
    pub fn scope_of(&self, o: &Object) -> Option<Scope> {
        self.scopes.of(o)
    }

    /// What distinguishes the pass of `cluster` from the passes of other cluster names: which
    /// declared objects its cluster selectors keep. The cluster name enters a pass only there,
    /// so cluster names with equal keys get equal passes (their desired states then differ only
    /// in the `configsync.gke.io/cluster-name` annotation; see
    /// [`crate::desired::DesiredState::for_cluster`]). Cheap: no object is copied.
    pub fn selection_key(&self, cluster: &str) -> Vec<bool> {
        let empty = BTreeMap::new();
        let cluster_labels = self.clusters.get(cluster).unwrap_or(&empty);
        let selectors = cluster_selectors(&self.objects);
        self.objects
            .iter()
            .map(|o| selected(o, cluster, cluster_labels, &selectors))
            .collect()
    }

    /// Run the per-cluster stages for `cluster` (empty string = an unnamed cluster).
    pub fn pass(&self, cluster: &str) -> Pass {
        self.run_pass(self.objects.clone(), cluster)
    }

    /// Run the only pass needed, moving the declared objects into it instead of copying them
    /// ([`Repository::objects`] is empty afterwards). Saves memory on large repositories.
    pub fn take_pass(&mut self, cluster: &str) -> Pass {
        let objects = std::mem::take(&mut self.objects);
        self.run_pass(objects, cluster)
    }

    fn run_pass(&self, objects: Vec<Object>, cluster: &str) -> Pass {
        let mut pass = Pass {
            cluster: cluster.to_string(),
            ..Pass::default()
        };
        if !self.read_errors.is_empty() {
            pass.errors = crate::diag::dedup_sorted(self.read_errors.clone());
            return pass;
        }
        if !self.raw_errors.is_empty() {
            pass.errors = crate::diag::dedup_sorted(self.raw_errors.clone());
            return pass;
        }
        let opts = &self.options;
        let mut errors = Vec::new();
        let mut objects = objects;

        // Stage 2: raw hydrators.
        if opts.format == SourceFormat::Hierarchy {
            default_namespace_from_directory(&mut objects, &self.scopes);
        }
        objects = self.select_clusters(objects, cluster, &mut errors);
        if blocking(&errors) {
            return finish(pass, errors);
        }

        // Stage 3: scoping.
        for o in &objects {
            if !is_ephemeral(o) && self.scopes.of(o).is_none() {
                errors.push(
                    Diagnostic::new(
                        Code::UNKNOWN_KIND,
                        format!(
                            "No CustomResourceDefinition is defined for the type {:?} in the cluster.\nResource types that are not native Kubernetes objects must have a CustomResourceDefinition.",
                            o.group_kind().to_string()
                        ),
                    )
                    .with_resource(ResourceRef::of(o, &opts.source_prefix)),
                );
            }
        }

        // Stage 4: scoped validators.
        let mut stage = self.scoped_checks(&objects);
        stage.extend(self.schema_errors.iter().cloned());
        let stop = blocking(&stage);
        errors.extend(stage);
        if stop {
            return finish(pass, errors);
        }

        // Stage 5: the hierarchy, or the unstructured expansion.
        let mut stage = Vec::new();
        objects = match opts.format {
            SourceFormat::Hierarchy => hierarchy::build(objects, &self.scopes, opts, &mut stage),
            SourceFormat::Unstructured => self.expand_unstructured(objects, &mut stage),
        };
        let stop = blocking(&stage);
        errors.extend(stage);
        if stop {
            return finish(pass, errors);
        }

        // Stage 6: final validators.
        objects.retain(|o| !is_ephemeral(o));
        // Sort by identity once (ids computed once each); duplicates are then adjacent.
        let mut keyed: Vec<(crate::object::ObjectId, Object)> =
            objects.into_par_iter().map(|o| (o.id(), o)).collect();
        keyed.par_sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.origin.cmp(&b.1.origin)));
        errors.extend(final_checks(&keyed, opts));
        let objects: Vec<Object> = keyed.into_iter().map(|(_, o)| o).collect();
        pass.objects = objects;
        finish(pass, errors)
    }

    /// Keep the objects selected for `cluster`; a deselected Namespace takes its content along.
    fn select_clusters(
        &self,
        objects: Vec<Object>,
        cluster: &str,
        errors: &mut Vec<Diagnostic>,
    ) -> Vec<Object> {
        let opts = &self.options;
        let empty = BTreeMap::new();
        let cluster_labels = self.clusters.get(cluster).unwrap_or(&empty);
        let selectors = cluster_selectors(&objects);
        let mut keep = Vec::with_capacity(objects.len());
        let mut deselected_ns: BTreeSet<String> = BTreeSet::new();
        for o in objects {
            let legacy = o.annotation(ann::CLUSTER_SELECTOR);
            let inline = o.annotation(ann::CLUSTER_NAME_SELECTOR);
            let active = match (legacy, inline) {
                (Some(l), Some(i)) => {
                    errors.push(
                        Diagnostic::new(
                            Code::CLUSTER_SELECTOR_ANNOTATION_CONFLICT,
                            format!(
                                "Config {:?} MUST declare ONLY ONE cluster-selector annotation, but has both inline annotation \"{}: {i}\" and legacy annotation \"{}: {l}\". To fix, remove one of the annotations from:",
                                o.name(),
                                ann::CLUSTER_NAME_SELECTOR,
                                ann::CLUSTER_SELECTOR
                            ),
                        )
                        .with_resource(ResourceRef::of(&o, &opts.source_prefix)),
                    );
                    false
                }
                (Some(l), None) => match selectors.get(l) {
                    None => {
                        errors.push(
                            Diagnostic::new(
                                Code::UNKNOWN_SELECTOR,
                                format!(
                                    "Config {:?} MUST refer to an existing ClusterSelector, but has annotation \"{}: {l}\" which maps to no declared ClusterSelector. To fix, declare the ClusterSelector or correct the annotation:",
                                    o.name(),
                                    ann::CLUSTER_SELECTOR
                                ),
                            )
                            .with_resource(ResourceRef::of(&o, &opts.source_prefix)),
                        );
                        false
                    }
                    Some(_) => selected(&o, cluster, cluster_labels, &selectors),
                },
                _ => selected(&o, cluster, cluster_labels, &selectors),
            };
            if active {
                keep.push(o);
            } else if o.is("", "Namespace") {
                deselected_ns.insert(o.name().to_string());
            }
        }
        // A deselected Namespace takes its content along, unless another declaration of the
        // same Namespace is active.
        for o in keep.iter().filter(|o| o.is("", "Namespace")) {
            deselected_ns.remove(o.name());
        }
        if !deselected_ns.is_empty() {
            keep.retain(|o| o.is("", "Namespace") || !deselected_ns.contains(o.namespace()));
        }
        keep
    }

    fn scoped_checks(&self, objects: &[Object]) -> Vec<Diagnostic> {
        let opts = &self.options;
        let mut out = Vec::new();
        let err = |code: Code, msg: String, o: &Object| {
            Diagnostic::new(code, msg).with_resource(ResourceRef::of(o, &opts.source_prefix))
        };
        for o in objects {
            let scope = self.scopes.of(o);
            match scope {
                Some(Scope::Cluster) => {
                    if !o.namespace().is_empty() && !is_ephemeral(o) {
                        out.push(err(
                            Code::ILLEGAL_NAMESPACE_ON_CLUSTER_SCOPED,
                            "Cluster-scoped resources MUST NOT declare `metadata.namespace`. To fix, remove `metadata.namespace` from:".into(),
                            o,
                        ));
                    }
                    if o.has_annotation(ann::NAMESPACE_SELECTOR) {
                        out.push(err(
                            Code::ILLEGAL_SELECTOR_ANNOTATION,
                            format!(
                                "Cluster-scoped objects may not be namespace-selected, and so MUST NOT declare the annotation '{}'. To fix, remove `metadata.annotations.{}` from:",
                                ann::NAMESPACE_SELECTOR,
                                ann::NAMESPACE_SELECTOR
                            ),
                            o,
                        ));
                    }
                    if let Some(ns) = &opts.namespace {
                        out.push(err(
                            Code::BAD_SCOPE,
                            format!(
                                "Resources in namespace Repos must be Namespace-scoped type, but objects of type {} are Cluster-scoped. Move {} to the Root repo (the namespace repo is for {ns:?}):",
                                o.group_kind(),
                                o.name()
                            ),
                            o,
                        ));
                    }
                }
                Some(Scope::Namespaced) => {
                    if opts.format == SourceFormat::Unstructured
                        && !o.namespace().is_empty()
                        && o.has_annotation(ann::NAMESPACE_SELECTOR)
                    {
                        out.push(err(
                            Code::MISSING_NAMESPACE_ON_NAMESPACED,
                            format!(
                                "Namespace-scoped objects MUST NOT declare both `metadata.namespace` and the annotation '{}'. To fix, remove one of them from:",
                                ann::NAMESPACE_SELECTOR
                            ),
                            o,
                        ));
                    }
                    if let Some(ns) = &opts.namespace
                        && !o.namespace().is_empty()
                        && o.namespace() != ns
                    {
                        out.push(err(
                            Code::BAD_SCOPE,
                            format!("Resources in the {ns:?} repo must either omit metadata.namespace or declare metadata.namespace={ns:?}:"),
                            o,
                        ));
                    }
                }
                None => {}
            }
        }
        validate::selector_name_collisions(objects, "NamespaceSelector", opts, &mut out);
        for o in objects
            .iter()
            .filter(|o| o.is("configmanagement.gke.io", "NamespaceSelector"))
        {
            let spec = o.value.get("spec");
            match spec.and_then(|s| s.get("selector")) {
                None => out.push(err(
                    Code::INVALID_SELECTOR,
                    "NamespaceSelectors MUST define `spec.selector`:".into(),
                    o,
                )),
                Some(sel) => {
                    if let Err(e) = LabelSelector::parse(sel) {
                        out.push(err(Code::INVALID_SELECTOR, format!("NamespaceSelector has validation errors that must be corrected: {e}:"), o));
                    }
                }
            }
            match spec.and_then(|s| s.get("mode")).and_then(Value::as_str).unwrap_or("") {
                "" | "static" => {}
                "dynamic" if opts.format == SourceFormat::Unstructured => {}
                "dynamic" => out.push(err(
                    Code::INVALID_SELECTOR,
                    "NamespaceSelector MUST NOT use the dynamic mode with the hierarchy source format. To fix, set `spec.mode` to \"static\" or remove it:".into(),
                    o,
                )),
                other => out.push(err(
                    Code::INVALID_SELECTOR,
                    format!("Unknown mode defined in NamespaceSelector: {other:?}. To fix, set `spec.mode` to \"static\" or \"dynamic\":"),
                    o,
                )),
            }
        }
        out
    }

    /// Unstructured: fan out namespace-selected objects, then default namespaces.
    fn expand_unstructured(
        &self,
        objects: Vec<Object>,
        errors: &mut Vec<Diagnostic>,
    ) -> Vec<Object> {
        let opts = &self.options;
        let selectors: HashMap<String, Option<LabelSelector>> = objects
            .iter()
            .filter(|o| o.is("configmanagement.gke.io", "NamespaceSelector"))
            .map(|o| (o.name().to_string(), LabelSelector::of_selector_object(o)))
            .collect();
        let namespaces: Vec<(String, BTreeMap<String, String>)> = objects
            .iter()
            .filter(|o| o.is("", "Namespace"))
            .map(|o| (o.name().to_string(), o.label_map()))
            .collect();
        let default_ns = opts
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_string());
        let mut out = Vec::with_capacity(objects.len());
        for mut o in objects {
            let scope = self.scopes.of(&o);
            if scope == Some(Scope::Namespaced)
                && o.namespace().is_empty()
                && let Some(name) = o.annotation(ann::NAMESPACE_SELECTOR)
            {
                match selectors.get(name) {
                    None => errors.push(
                        Diagnostic::new(
                            Code::UNKNOWN_SELECTOR,
                            format!(
                                "Config {:?} MUST refer to an existing NamespaceSelector, but has annotation \"{}: {name}\" which maps to no declared NamespaceSelector. To fix, declare the NamespaceSelector or correct the annotation:",
                                o.name(),
                                ann::NAMESPACE_SELECTOR
                            ),
                        )
                        .with_resource(ResourceRef::of(&o, &opts.source_prefix)),
                    ),
                    Some(None) => {}
                    Some(Some(sel)) => {
                        for (ns, labels) in &namespaces {
                            if sel.matches(labels) {
                                let mut copy = o.clone();
                                copy.set_namespace(ns);
                                out.push(copy);
                            }
                        }
                    }
                }
                continue;
            }
            if scope == Some(Scope::Namespaced) && o.namespace().is_empty() {
                o.set_namespace(&default_ns);
            }
            out.push(o);
        }
        out
    }
}

fn blocking(errors: &[Diagnostic]) -> bool {
    errors.iter().any(|e| e.code.is_blocking())
}

fn finish(mut pass: Pass, errors: Vec<Diagnostic>) -> Pass {
    pass.errors = crate::diag::dedup_sorted(errors);
    if !pass.is_syncable() {
        pass.objects.clear();
    }
    pass
}

/// Hierarchical: objects without a namespace in a directory that declares the Namespace of the
/// same name take that namespace (unless known to be cluster-scoped).
fn default_namespace_from_directory(objects: &mut [Object], scopes: &Scopes) {
    let ns_dirs: BTreeSet<String> = objects
        .iter()
        .filter(|o| o.is("", "Namespace") && validate::top_dir(o) == "namespaces")
        .filter(|o| validate::dir_of(o).rsplit('/').next() == Some(o.name()))
        .map(|o| validate::dir_of(o).to_string())
        .collect();
    for o in objects.iter_mut() {
        if o.namespace().is_empty()
            && !o.is("", "Namespace")
            && scopes.of(o) != Some(Scope::Cluster)
            && !is_ephemeral(o)
        {
            let dir = validate::dir_of(o);
            if ns_dirs.contains(dir) {
                let base = dir.rsplit('/').next().unwrap_or(dir).to_string();
                o.set_namespace(&base);
            }
        }
    }
}

/// Duplicates (KNV1029), managed objects in unmanaged Namespaces (KNV1056), object count (KNV1070).
/// The repository's ClusterSelectors by name (`None`: one that selects nothing).
fn cluster_selectors(objects: &[Object]) -> HashMap<String, Option<LabelSelector>> {
    objects
        .iter()
        .filter(|o| o.is("configmanagement.gke.io", "ClusterSelector"))
        .map(|o| (o.name().to_string(), LabelSelector::of_selector_object(o)))
        .collect()
}

/// Whether the cluster selectors of `o` keep it for `cluster` (an annotation conflict or an
/// unknown selector drops it; [`Repository::select_clusters`] reports those).
fn selected(
    o: &Object,
    cluster: &str,
    cluster_labels: &BTreeMap<String, String>,
    selectors: &HashMap<String, Option<LabelSelector>>,
) -> bool {
    match (
        o.annotation(ann::CLUSTER_SELECTOR),
        o.annotation(ann::CLUSTER_NAME_SELECTOR),
    ) {
        (Some(_), Some(_)) => false,
        (Some(l), None) => {
            matches!(selectors.get(l), Some(Some(sel)) if sel.matches(cluster_labels))
        }
        (None, Some(i)) => {
            !cluster.is_empty()
                && i.split(',')
                    .map(str::trim)
                    .any(|n| n.eq_ignore_ascii_case(cluster))
        }
        (None, None) => true,
    }
}

fn final_checks(keyed: &[(crate::object::ObjectId, Object)], opts: &Options) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for run in keyed.chunk_by(|a, b| a.0 == b.0) {
        if run.len() < 2 {
            continue;
        }
        let id = &run[0].0;
        let objs: Vec<&Object> = run.iter().map(|(_, o)| o).collect();
        let msg = if id.group.is_empty() && id.kind == "Namespace" {
            format!(
                "Namespaces MUST have unique names. Found {} Namespaces named {:?}; remove the duplicates:",
                objs.len(),
                id.name
            )
        } else {
            format!(
                "Configs of the same group and kind MUST have unique names{}. Found {} configs named {:?}; rename or remove all but one:",
                if id.namespace.is_empty() {
                    ""
                } else {
                    " in the same namespace"
                },
                objs.len(),
                id.name
            )
        };
        out.push(Diagnostic::resource(
            Code::NAME_COLLISION,
            msg,
            &objs,
            &opts.source_prefix,
        ));
    }
    let objects: Vec<&Object> = keyed.iter().map(|(_, o)| o).collect();
    let unmanaged_ns: BTreeSet<&str> = objects
        .iter()
        .filter(|o| o.is("", "Namespace") && o.annotation(ann::MANAGED) == Some("disabled"))
        .map(|o| o.name())
        .collect();
    for o in objects.iter().filter(|_| !unmanaged_ns.is_empty()) {
        if !o.namespace().is_empty()
            && unmanaged_ns.contains(o.namespace())
            && o.annotation(ann::MANAGED) != Some("disabled")
        {
            out.push(Diagnostic::resource(
                Code::MANAGED_RESOURCE_IN_UNMANAGED_NAMESPACE,
                format!(
                    "Managed resources must not be declared in unmanaged Namespaces. Namespace {:?} is declared unmanaged but contains managed resources. Either remove the `{}: disabled` annotation from the Namespace, or add it to the resource:",
                    o.namespace(),
                    ann::MANAGED
                ),
                &[o],
                &opts.source_prefix,
            ));
        }
    }
    if let Some(max) = opts.threshold
        && objects.len() > max
    {
        out.push(Diagnostic::new(
            Code::MAX_OBJECT_COUNT,
            format!(
                "Maximum number of objects exceeded. Found {}, but expected no more than {max}. Reduce the number of objects being synced to this cluster in your source of truth to prevent your cluster from becoming overloaded.",
                objects.len()
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests;

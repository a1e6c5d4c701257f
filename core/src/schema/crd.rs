//! Schemas of custom resources, taken from the CustomResourceDefinitions of the repository.

use rayon::prelude::*;
use serde_json::Value;

use super::node::{Arena, CompileOptions, Compiler, Node};
use super::{BuiltinSchemas, PathSegment, Validator};

/// A CustomResourceDefinition whose schema could not be used (fully).
#[derive(Debug, Clone, PartialEq)]
pub struct CrdError {
    /// Position of the CRD in the slice given to [`CrdSchemas::from_crds`].
    pub index: usize,
    /// `metadata.name` of the CRD (empty when missing).
    pub name: String,
    /// Where in the CRD object the problem is, e.g. `spec.versions[0].schema.openAPIV3Schema.properties.spec.type`.
    pub path: Vec<PathSegment>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl std::fmt::Display for CrdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(
                f,
                "CustomResourceDefinition {:?}: {}",
                self.name, self.message
            )
        } else {
            write!(
                f,
                "CustomResourceDefinition {:?}: {}: {}",
                self.name,
                super::render_path(&self.path),
                self.message
            )
        }
    }
}

/// What one CRD contributes.
#[derive(Default)]
struct Part {
    arenas: Vec<Arena>,
    entries: Vec<Entry>,
    errors: Vec<CrdError>,
}

impl Part {
    fn add(&mut self, index: usize, crd: &Value) {
        let errors = &mut self.errors;

        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let mut fail = |path: &[&str], message: String| {
            errors.push(CrdError {
                index,
                name: name.clone(),
                path: path
                    .iter()
                    .map(|k| PathSegment::Key((*k).to_owned()))
                    .collect(),
                message,
            });
        };
        let spec = crd.get("spec");
        let group = spec.and_then(|s| s.get("group")).and_then(Value::as_str);
        let kind = spec
            .and_then(|s| s.pointer("/names/kind"))
            .and_then(Value::as_str);
        let (Some(group), Some(kind)) = (group, kind) else {
            fail(
                &["spec"],
                "spec.group and spec.names.kind are required".to_owned(),
            );
            return;
        };
        let spec = spec.unwrap_or(&Value::Null);
        let open = spec
            .get("preserveUnknownFields")
            .and_then(Value::as_bool)
            .unwrap_or_else(|| {
                // v1beta1 defaults to keeping unknown fields; v1 requires pruning.
                crd.get("apiVersion").and_then(Value::as_str)
                    == Some("apiextensions.k8s.io/v1beta1")
            });
        let shared = spec.pointer("/validation/openAPIV3Schema");

        // (version name, schema, path of the schema in the CRD)
        let mut versions: Vec<(String, Option<&Value>, Vec<PathSegment>)> = Vec::new();
        if let Some(list) = spec.get("versions").and_then(Value::as_array) {
            for (i, v) in list.iter().enumerate() {
                let Some(vname) = v.get("name").and_then(Value::as_str) else {
                    fail(&["spec", "versions"], format!("version {i} has no name"));
                    continue;
                };
                let own = v.pointer("/schema/openAPIV3Schema");
                let path = match own {
                    Some(_) => vec![
                        PathSegment::Key("spec".into()),
                        PathSegment::Key("versions".into()),
                        PathSegment::Index(i),
                        PathSegment::Key("schema".into()),
                        PathSegment::Key("openAPIV3Schema".into()),
                    ],
                    None => ["spec", "validation", "openAPIV3Schema"]
                        .iter()
                        .map(|k| PathSegment::Key((*k).into()))
                        .collect(),
                };
                versions.push((vname.to_owned(), own.or(shared), path));
            }
        }
        if let Some(v) = spec.get("version").and_then(Value::as_str)
            && !versions.iter().any(|(n, _, _)| n == v)
        {
            let path = ["spec", "validation", "openAPIV3Schema"]
                .iter()
                .map(|k| PathSegment::Key((*k).into()))
                .collect();
            versions.push((v.to_owned(), shared, path));
        }
        if versions.is_empty() {
            fail(
                &["spec", "versions"],
                "the CRD defines no version".to_owned(),
            );
            return;
        }

        // Versions sharing one schema object share the compiled arena.
        let mut compiled: Vec<(*const Value, usize)> = Vec::new();
        for (vname, schema, path) in versions {
            let arena = match schema {
                None => {
                    self.arenas.push(Arena {
                        nodes: vec![Node {
                            preserve_unknown: true,
                            ..Node::default()
                        }],
                    });
                    self.arenas.len() - 1
                }
                Some(schema) => {
                    if let Some((_, a)) = compiled.iter().find(|(p, _)| std::ptr::eq(*p, schema)) {
                        *a
                    } else {
                        let (arena, issues) = Compiler::new(CompileOptions {
                            builtin_refs: false,
                            open_objects: open,
                        })
                        .compile_root(schema);
                        for issue in issues {
                            let mut full = path.clone();
                            full.extend(issue.path);
                            errors.push(CrdError {
                                index,
                                name: name.clone(),
                                path: full,
                                message: issue.message,
                            });
                        }
                        self.arenas.push(arena);
                        compiled.push((schema as *const Value, self.arenas.len() - 1));
                        self.arenas.len() - 1
                    }
                }
            };
            self.entries.push(Entry {
                group: group.to_owned(),
                version: vname,
                kind: kind.to_owned(),
                arena,
            });
        }
    }
}

struct Entry {
    group: String,
    version: String,
    kind: String,
    /// Index in `arenas`.
    arena: usize,
}

/// The schemas of the custom resources defined by a set of CRDs (`apiextensions.k8s.io/v1` and
/// `v1beta1`), one per served version.
///
/// `v1` CRDs carry a schema per version (`spec.versions[].schema.openAPIV3Schema`); `v1beta1`
/// CRDs may carry one for all versions (`spec.validation.openAPIV3Schema`), overridden per
/// version. A version without a schema accepts any content (its metadata is still checked). A
/// CRD with `spec.preserveUnknownFields: true` (the `v1beta1` default) keeps unknown fields, so
/// they are not reported for its resources.
pub struct CrdSchemas {
    builtin: BuiltinSchemas,
    arenas: Vec<Arena>,
    /// Sorted by (group, version, kind).
    entries: Vec<Entry>,
}

impl std::fmt::Debug for CrdSchemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.entries
                    .iter()
                    .map(|e| format!("{}/{}/{}", e.group, e.version, e.kind)),
            )
            .finish()
    }
}

impl CrdSchemas {
    /// Compiles the schemas of `crds` (objects of kind `CustomResourceDefinition`; others are
    /// ignored). `builtin` provides the `ObjectMeta` schema that the metadata of every custom
    /// resource is checked against.
    ///
    /// Returns the problems found in the CRDs' schemas too: the usable part of a schema is still
    /// used (an unknown `type` is treated as "any", for instance). When two CRDs define the same
    /// group/version/kind the first one wins.
    pub fn from_crds(builtin: BuiltinSchemas, crds: &[&Value]) -> (Self, Vec<CrdError>) {
        // Large CRDs (hundreds of kilobytes each) compile in parallel; the merge keeps input order.
        let parts: Vec<Part> = crds
            .par_iter()
            .enumerate()
            .filter(|(_, crd)| {
                crd.get("kind").and_then(Value::as_str) == Some("CustomResourceDefinition")
            })
            .map(|(index, crd)| {
                let mut part = Part::default();
                part.add(index, crd);
                part
            })
            .collect();
        let mut this = CrdSchemas {
            builtin,
            arenas: Vec::new(),
            entries: Vec::new(),
        };
        let mut errors = Vec::new();
        for part in parts {
            let offset = this.arenas.len();
            this.arenas.extend(part.arenas);
            this.entries.extend(part.entries.into_iter().map(|mut e| {
                e.arena += offset;
                e
            }));
            errors.extend(part.errors);
        }
        // Stable sort + dedup keeps the first definition of a group/version/kind.
        this.entries
            .sort_by(|a, b| (&a.group, &a.version, &a.kind).cmp(&(&b.group, &b.version, &b.kind)));
        this.entries
            .dedup_by(|b, a| a.group == b.group && a.version == b.version && a.kind == b.kind);
        (this, errors)
    }

    /// The validator of a custom resource kind (`group`/`version`/`kind`), or `None` when no CRD
    /// given to [`CrdSchemas::from_crds`] defines it.
    pub fn validator_for(&self, group: &str, version: &str, kind: &str) -> Option<Validator<'_>> {
        let i = self
            .entries
            .binary_search_by(|e| {
                (e.group.as_str(), e.version.as_str(), e.kind.as_str()).cmp(&(group, version, kind))
            })
            .ok()?;
        let e = &self.entries[i];
        Some(Validator {
            builtin: self.builtin.loaded,
            arena: &self.arenas[e.arena],
            root: 0,
            group: &e.group,
            version: &e.version,
            kind: &e.kind,
            custom: true,
        })
    }

    /// Whether a CRD defines `group`/`kind` in any version.
    pub fn defines_kind(&self, group: &str, kind: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.group == group && e.kind == kind)
    }

    /// The custom resource kinds defined, as (group, version, kind), sorted.
    pub fn kinds(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.entries
            .iter()
            .map(|e| (e.group.as_str(), e.version.as_str(), e.kind.as_str()))
    }

    /// Number of group/version/kinds defined.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no CRD defined anything.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

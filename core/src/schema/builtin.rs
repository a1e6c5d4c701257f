//! The built-in Kubernetes schemas shipped by `nomos-schemas`, loaded lazily: the header of a
//! version's document is read once, and each definition is parsed and compiled the first time an
//! object needs it.

use std::sync::OnceLock;

use serde::Deserialize;

use super::node::{Arena, CompileOptions, Compiler, Node};
use super::{UnknownVersion, Validator};

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

#[derive(Deserialize)]
struct Header {
    format: u32,
    package: String,
    package_version: String,
    kubernetes: String,
    defs: Vec<String>,
    gvk: Vec<(String, String, String, u32)>,
}

/// One loaded Kubernetes version.
pub(crate) struct Loaded {
    pub minor: &'static str,
    pub kubernetes: String,
    pub package: String,
    /// Definition names, for diagnostics in tests.
    #[cfg_attr(not(test), allow(dead_code))]
    names: Vec<String>,
    /// Sorted by (group, version, kind).
    gvk: Vec<(String, String, String, u32)>,
    sources: Vec<&'static str>,
    defs: Vec<OnceLock<Arena>>,
    pub object_meta: u32,
}

impl Loaded {
    fn parse(minor: &'static str, doc: &'static str) -> Loaded {
        let mut lines = doc.split('\n');
        let header: Header = serde_json::from_str(lines.next().unwrap_or_default())
            .unwrap_or_else(|e| panic!("schema data {minor}: bad header: {e}"));
        assert_eq!(
            header.format,
            nomos_schemas::FORMAT,
            "schema data {minor}: format"
        );
        let sources: Vec<&'static str> = lines.take(header.defs.len()).collect();
        assert_eq!(
            sources.len(),
            header.defs.len(),
            "schema data {minor}: truncated"
        );
        let object_meta = header
            .defs
            .iter()
            .position(|n| n == OBJECT_META)
            .unwrap_or_else(|| panic!("schema data {minor}: no ObjectMeta"))
            as u32;
        let mut gvk = header.gvk;
        gvk.sort();
        Loaded {
            minor,
            kubernetes: header.kubernetes,
            package: format!("{} {}", header.package, header.package_version),
            defs: sources.iter().map(|_| OnceLock::new()).collect(),
            names: header.defs,
            gvk,
            sources,
            object_meta,
        }
    }

    /// The compiled definition `index` (compiled on first use).
    pub fn def(&self, index: u32) -> &Arena {
        self.defs[index as usize].get_or_init(|| {
            let source = self.sources[index as usize];
            let compiled = serde_json::from_str(source).ok().map(|value| {
                Compiler::new(CompileOptions {
                    builtin_refs: true,
                    open_objects: false,
                })
                .compile_root(&value)
            });
            match compiled {
                Some((arena, issues)) if issues.is_empty() => arena,
                // The shipped data is checked by the tests; never fail validation over it.
                _ => Arena {
                    nodes: vec![Node {
                        preserve_unknown: true,
                        ..Node::default()
                    }],
                },
            }
        })
    }

    /// Index in `gvk` of a kind.
    fn lookup(&self, group: &str, version: &str, kind: &str) -> Option<usize> {
        self.gvk
            .binary_search_by(|(g, v, k, _)| {
                (g.as_str(), v.as_str(), k.as_str()).cmp(&(group, version, kind))
            })
            .ok()
    }
}

/// The built-in Kubernetes schemas of one Kubernetes minor version.
///
/// A cheap `Copy` handle: [`BuiltinSchemas::load`] decompresses and indexes a version once per
/// process, and every definition is parsed the first time an object needs it, so a run only pays
/// for the kinds it meets. Safe to share between threads.
#[derive(Clone, Copy)]
pub struct BuiltinSchemas {
    pub(crate) loaded: &'static Loaded,
}

impl std::fmt::Debug for BuiltinSchemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltinSchemas")
            .field("version", &self.loaded.minor)
            .finish()
    }
}

impl BuiltinSchemas {
    /// Loads the schemas of a Kubernetes version: `1.37`, `v1.37` or `1.37.2` (only major and
    /// minor count). Cached: later calls for the same version are free.
    ///
    /// # Errors
    ///
    /// [`UnknownVersion`] when that minor version is not shipped; its message lists those that are.
    pub fn load(version: &str) -> Result<Self, UnknownVersion> {
        let minor = nomos_schemas::resolve_version(version).ok_or_else(|| UnknownVersion {
            requested: version.to_owned(),
            available: nomos_schemas::versions()
                .iter()
                .map(|v| (*v).to_owned())
                .collect(),
        })?;
        Ok(Self::load_minor(minor))
    }

    /// The schemas of the newest shipped version ([`nomos_schemas::default_version`]).
    pub fn load_default() -> Self {
        Self::load_minor(nomos_schemas::default_version())
    }

    fn load_minor(minor: &'static str) -> Self {
        static CACHE: OnceLock<Vec<OnceLock<Loaded>>> = OnceLock::new();
        let versions = nomos_schemas::versions();
        let cache = CACHE.get_or_init(|| versions.iter().map(|_| OnceLock::new()).collect());
        let index = versions.iter().position(|v| *v == minor).unwrap_or(0);
        let minor = versions[index];
        let loaded = cache[index].get_or_init(|| {
            let doc = nomos_schemas::document(minor).unwrap_or_default();
            Loaded::parse(minor, doc)
        });
        BuiltinSchemas { loaded }
    }

    /// The Kubernetes minor version of these schemas (`"1.37"`).
    pub fn version(&self) -> &'static str {
        self.loaded.minor
    }

    /// The full Kubernetes version the schemas were generated from (`"1.37.0"`).
    pub fn kubernetes_version(&self) -> &str {
        &self.loaded.kubernetes
    }

    /// Where the schemas come from (`"kubernetes-validate 1.37.0"`).
    pub fn source(&self) -> &str {
        &self.loaded.package
    }

    /// Whether `group`/`version`/`kind` is a built-in kind of this Kubernetes version (the core
    /// group is `""`).
    pub fn contains(&self, group: &str, version: &str, kind: &str) -> bool {
        self.loaded.lookup(group, version, kind).is_some()
    }

    /// Whether `group` is a built-in API group of this Kubernetes version (in any version of it).
    pub fn has_group(&self, group: &str) -> bool {
        let gvk = &self.loaded.gvk;
        let i = gvk.partition_point(|(g, _, _, _)| g.as_str() < group);
        gvk.get(i).is_some_and(|(g, _, _, _)| g == group)
    }

    /// All built-in kinds as (group, version, kind), sorted.
    pub fn kinds(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.loaded
            .gvk
            .iter()
            .map(|(g, v, k, _)| (g.as_str(), v.as_str(), k.as_str()))
    }

    /// The validator of a built-in kind (the core group is `""`), or `None` when this Kubernetes
    /// version has no such kind. Its first use compiles the definitions the kind needs.
    pub fn validator_for(
        &self,
        group: &str,
        version: &str,
        kind: &str,
    ) -> Option<Validator<'static>> {
        let loaded = self.loaded;
        let (g, v, k, def) = &loaded.gvk[loaded.lookup(group, version, kind)?];
        Some(Validator {
            builtin: loaded,
            arena: loaded.def(*def),
            root: 0,
            group: g,
            version: v,
            kind: k,
            custom: false,
        })
    }

    /// Names of the definitions, for tests.
    #[cfg(test)]
    pub(crate) fn definition_count(&self) -> usize {
        self.loaded.names.len()
    }

    /// Compiles every definition, returning the names of those that failed, for tests.
    #[cfg(test)]
    pub(crate) fn broken_definitions(&self) -> Vec<String> {
        let mut broken = Vec::new();
        for (i, name) in self.loaded.names.iter().enumerate() {
            let value: serde_json::Value = match serde_json::from_str(self.loaded.sources[i]) {
                Ok(v) => v,
                Err(e) => {
                    broken.push(format!("{name}: {e}"));
                    continue;
                }
            };
            let (_, issues) = Compiler::new(CompileOptions {
                builtin_refs: true,
                open_objects: false,
            })
            .compile_root(&value);
            if !issues.is_empty() {
                broken.push(format!("{name}: {issues:?}"));
            }
        }
        broken
    }
}

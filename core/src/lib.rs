//! # nomos-core
//!
//! The pure engine of nomos-rs: it turns the files of a Config Sync policy repository into
//! validated, per-cluster desired state. No I/O, no async, no clock: callers read the files
//! and pass them in; diagnostics and objects come out.
//!
//! ```
//! use nomos_core::{SourceFile, SourceFormat, vet, VetOptions};
//!
//! let files = vec![
//!     SourceFile::new("system/repo.yaml", "apiVersion: configmanagement.gke.io/v1\nkind: Repo\nmetadata:\n  name: repo\nspec:\n  version: 1.0.0\n"),
//!     SourceFile::new("namespaces/shop/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"),
//!     SourceFile::new("namespaces/quota.yaml", "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: quota\nspec:\n  hard:\n    pods: \"10\"\n"),
//! ];
//! let result = vet(&files, &VetOptions::new(SourceFormat::Hierarchy));
//! assert!(result.is_ok(), "{}", result.render_errors());
//! // The quota declared in the abstract `namespaces/` directory is inherited by `shop`.
//! let pass = &result.passes[0];
//! assert!(pass.objects.iter().any(|o| o.kind() == "ResourceQuota" && o.namespace() == "shop"));
//! ```
//!
//! ## From a directory to per-cluster desired state
//!
//! The caller reads the files (here with `std::fs`; the importer reads Git objects), keeping
//! only those Config Sync reads ([`read::wants_file`]); `vet` runs the default pass and one pass
//! per cluster the repository names; [`desired::build`] stamps each pass's objects with the
//! metadata Config Sync writes and orders them for applying.
//!
//! ```
//! use std::path::Path;
//! use nomos_core::{SourceFile, SourceFormat, VetOptions, desired, read::wants_file, vet};
//!
//! fn read_dir(root: &Path, dir: &Path, format: SourceFormat, out: &mut Vec<SourceFile>) {
//!     for entry in std::fs::read_dir(dir).unwrap() {
//!         let path = entry.unwrap().path();
//!         if path.is_dir() {
//!             read_dir(root, &path, format, out);
//!             continue;
//!         }
//!         let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
//!         if wants_file(&rel, format) {
//!             out.push(SourceFile::new(rel, std::fs::read(&path).unwrap()));
//!         }
//!     }
//! }
//!
//! let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy-examples/hierarchical");
//! let mut files = Vec::new();
//! read_dir(&root, &root, SourceFormat::Hierarchy, &mut files);
//!
//! let result = vet(&files, &VetOptions::new(SourceFormat::Hierarchy));
//! assert!(result.is_ok(), "{}", result.render_errors());
//!
//! let stamp = desired::StampOptions {
//!     source: desired::SourceInfo { repo: "https://git.example/acme/policy".into(), branch: "main".into(), commit: "0123abc".into(), ..Default::default() },
//!     format: Some(SourceFormat::Hierarchy),
//!     ..Default::default()
//! };
//! for pass in &result.passes {
//!     let state = desired::build(pass, |o| result.repository.scope_of(o), &stamp);
//!     // CRDs come first, then Namespaces, then everything else.
//!     if let Some(first) = state.objects.first() {
//!         assert!(matches!(first.gvk.kind.as_str(), "CustomResourceDefinition" | "Namespace"));
//!     }
//!     println!("{}: {} objects, hash {}", state.cluster, state.objects.len(), &state.hash[..12]);
//! }
//! let prod = result.passes.iter().find(|p| p.cluster == "eks-prod").expect("a pass per cluster");
//! assert!(!prod.objects.is_empty());
//! ```
#![forbid(unsafe_code)]

pub mod ann;
pub mod desired;
pub mod diag;
#[doc(hidden)]
pub mod fuzzing;
pub mod hierarchy;
pub mod hydrate;
pub mod k8s;
pub mod names;
pub mod object;
pub mod pipeline;
pub mod plan;
pub mod read;
pub mod schema;
mod schema_check;
pub mod scope;
pub mod selector;
pub mod syncspec;
pub mod validate;
pub mod vet;
pub mod yaml;

pub use diag::{Code, Diagnostic, Severity};
pub use object::{GroupKind, Gvk, Object, ObjectId, Origin};
pub use pipeline::{DEFAULT_CLUSTER, Options, Pass, Repository};
pub use read::SourceFile;
pub use vet::{VetOptions, VetResult, vet};

/// How a repository is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SourceFormat {
    /// `system/`, `cluster/`, `clusterregistry/`, `namespaces/` with abstract namespaces.
    #[default]
    Hierarchy,
    /// Any layout.
    Unstructured,
}

impl SourceFormat {
    /// Parse `hierarchy` or `unstructured`.
    pub fn parse(s: &str) -> Result<SourceFormat, String> {
        match s {
            "hierarchy" => Ok(SourceFormat::Hierarchy),
            "unstructured" => Ok(SourceFormat::Unstructured),
            other => Err(format!("unknown source-format value {other:?}")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SourceFormat::Hierarchy => "hierarchy",
            SourceFormat::Unstructured => "unstructured",
        }
    }
}

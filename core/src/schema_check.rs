//! Glue between the pipeline and [`crate::schema`]: KNV1006 for objects that do not match the
//! schema of their kind.

use crate::diag::Diagnostic;
use crate::object::Object;

/// Validate every declared object against its built-in or CRD schema (filled in with the schema module).
pub fn check(_objects: &[Object], _k8s_version: &str, _source_prefix: &str) -> Vec<Diagnostic> {
    Vec::new()
}

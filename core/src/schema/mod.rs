//! Offline schema validation: objects of built-in kinds against the Kubernetes OpenAPI schema of
//! a chosen Kubernetes version, custom resources against the `openAPIV3Schema` of their CRD.
//!
//! Validation is strict, like `kubectl apply --validate=strict`: a field that the schema does not
//! declare (`spec.replica`) is an error, as are wrong types, missing required fields, bad enum
//! values, malformed quantities and base64 data, and the value constraints of CRD schemas.
//!
//! ```
//! use nomos_core::schema::BuiltinSchemas;
//! use serde_json::json;
//!
//! let schemas = BuiltinSchemas::load_default();
//! let validator = schemas.validator_for("apps", "v1", "Deployment").unwrap();
//! let deployment = json!({
//!     "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
//!     "spec": {"replica": 3, "selector": {}, "template": {}},
//! });
//! let errors = validator.validate(&deployment);
//! assert_eq!(errors[0].path_string(), "spec.replica");
//! assert_eq!(
//!     errors[0].message,
//!     "unknown field \"replica\" in Deployment.apps/v1 spec (did you mean \"replicas\"?)"
//! );
//! ```
//!
//! # What is checked
//!
//! The subset of OpenAPI v3 used by Kubernetes built-in definitions and CRD structural schemas:
//! `type`, `nullable`, `properties`, `required`, `additionalProperties` (schema or boolean),
//! `items`, `enum`, `format` (`int32`/`int64` ranges and `byte` as base64; other formats are not
//! checked), `pattern`, `minimum`/`maximum` (with `exclusiveMinimum`/`exclusiveMaximum`),
//! `minLength`/`maxLength`, `minItems`/`maxItems`, `minProperties`/`maxProperties`, `allOf`,
//! `anyOf`, `oneOf`, `not`, `x-kubernetes-int-or-string`, `x-kubernetes-preserve-unknown-fields`,
//! `x-kubernetes-embedded-resource`, and `resource.Quantity` syntax for built-in kinds.
//!
//! An object is closed when its schema has `properties` or `type: object` and neither
//! `additionalProperties` nor `x-kubernetes-preserve-unknown-fields` (the fields the API server
//! would prune, or a strict decoder reject). The top-level `apiVersion`, `kind` and `metadata` are
//! always allowed, and `metadata` is always checked against `ObjectMeta`, for custom resources
//! and embedded resources too. Inside `allOf`/`anyOf`/`oneOf`/`not` only values are judged, never
//! unknown fields (as in structural schemas). For custom resources a `null` where the schema does
//! not say `nullable` is accepted: the API server prunes it.
//!
//! Not checked: CEL rules (`x-kubernetes-validations`), list uniqueness (`x-kubernetes-list-type`
//! `set`/`map` keys, `uniqueItems`), `multipleOf`, formats other than the above (`date-time`,
//! …), patterns that `regex-lite` cannot compile (Unicode classes), and the semantic checks the
//! API server performs in code (name syntax, label syntax, …).

mod builtin;
mod crd;
mod node;
mod quantity;
mod validate;

use serde_json::Value;

pub use builtin::BuiltinSchemas;
pub use crd::{CrdError, CrdSchemas};

use builtin::Loaded;
use node::{Arena, NodeId};

/// Most errors reported for one object by [`Validator::validate`]; one more entry of kind
/// [`SchemaErrorKind::TooMany`] says when some were left out.
pub const MAX_ERRORS_PER_OBJECT: usize = 20;

/// One step of a path into an object: the same type as [`crate::yaml::PathSegment`], so an
/// error's path can be given to [`crate::yaml::locate`] to find its line.
pub use crate::yaml::PathSegment;

/// Renders a path the way error messages show it: `spec.template.spec.containers[0].image`,
/// with keys that are not plain words quoted: `metadata.annotations["example.com/a"]`.
pub fn render_path(path: &[PathSegment]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSegment::Key(k) => {
                let plain = !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$');
                if plain {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                } else {
                    out.push('[');
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push(']');
                }
            }
            PathSegment::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// What kind of problem a [`SchemaError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaErrorKind {
    /// A field the schema does not declare; the path ends at that field.
    UnknownField,
    /// A value of the wrong JSON type.
    Type,
    /// A required field is missing; the path is that of the object lacking it.
    Required,
    /// A value of the right type that the schema does not allow (enum, pattern, range, format,
    /// quantity syntax, `anyOf`/`oneOf`/`not`).
    Value,
    /// Not an error of its own: more errors were found than [`MAX_ERRORS_PER_OBJECT`].
    TooMany,
}

/// One schema violation in an object.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaError {
    /// Where in the object: the offending field or value (for a missing field, the object that
    /// lacks it). Empty for the object itself.
    pub path: Vec<PathSegment>,
    /// What kind of problem this is.
    pub kind: SchemaErrorKind,
    /// What is wrong, and how to fix it when that is clear: `unknown field "replica" in
    /// Deployment.apps/v1 spec (did you mean "replicas"?)`, `expected integer, got string "3"`,
    /// `missing required field "name"`.
    pub message: String,
}

impl SchemaError {
    /// The path rendered as in messages (see [`render_path`]).
    pub fn path_string(&self) -> String {
        render_path(&self.path)
    }
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path_string(), self.message)
        }
    }
}

/// A Kubernetes version for which no schemas are shipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "no schemas for Kubernetes version {requested:?}: available versions are {}",
    available.join(", ")
)]
pub struct UnknownVersion {
    /// The version asked for.
    pub requested: String,
    /// The shipped minor versions, newest first.
    pub available: Vec<String>,
}

/// Validates objects of one kind; get one from [`BuiltinSchemas::validator_for`] or
/// [`CrdSchemas::validator_for`]. Cheap to get and to copy; safe to use from many threads.
#[derive(Clone, Copy)]
pub struct Validator<'a> {
    builtin: &'static Loaded,
    arena: &'a Arena,
    root: NodeId,
    group: &'a str,
    version: &'a str,
    kind: &'a str,
    custom: bool,
}

impl std::fmt::Debug for Validator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("group", &self.group)
            .field("version", &self.version)
            .field("kind", &self.kind)
            .field("custom", &self.custom)
            .finish()
    }
}

impl<'a> Validator<'a> {
    /// Validates a whole object (with `apiVersion`, `kind`, `metadata`, …) and returns its
    /// violations, in the order of a depth-first walk (fields by name), at most [`MAX_ERRORS_PER_OBJECT`] (then one more entry
    /// of kind [`SchemaErrorKind::TooMany`]). Empty when the object is valid.
    pub fn validate(&self, object: &Value) -> Vec<SchemaError> {
        let mut errors = self.validate_with_limit(object, MAX_ERRORS_PER_OBJECT + 1);
        if errors.len() > MAX_ERRORS_PER_OBJECT {
            errors.truncate(MAX_ERRORS_PER_OBJECT);
            errors.push(SchemaError {
                path: Vec::new(),
                kind: SchemaErrorKind::TooMany,
                message: format!(
                    "more schema errors in this object are not shown (at most {MAX_ERRORS_PER_OBJECT} are reported)"
                ),
            });
        }
        errors
    }

    /// Like [`Validator::validate`] with another bound, and no [`SchemaErrorKind::TooMany`]
    /// entry: returns at most `max_errors` errors (`1` answers "is it valid?" fastest).
    pub fn validate_with_limit(&self, object: &Value, max_errors: usize) -> Vec<SchemaError> {
        let mut run = validate::Run::new(
            self.builtin,
            (self.group, self.version, self.kind),
            self.custom,
            max_errors,
        );
        run.run(self.arena, self.root, object);
        run.errors
    }

    /// Whether `object` is valid.
    pub fn is_valid(&self, object: &Value) -> bool {
        self.validate_with_limit(object, 1).is_empty()
    }

    /// The API group of the kind (`""` for the core group).
    pub fn group(&self) -> &'a str {
        self.group
    }

    /// The API version of the kind (`v1`).
    pub fn version(&self) -> &'a str {
        self.version
    }

    /// The kind (`Deployment`).
    pub fn kind(&self) -> &'a str {
        self.kind
    }

    /// Whether the schema comes from a CRD rather than from the built-in schemas.
    pub fn is_custom_resource(&self) -> bool {
        self.custom
    }
}

/// Splits an `apiVersion` into group and version: `apps/v1` → (`apps`, `v1`), `v1` → (`""`, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

#[cfg(test)]
mod tests;

//! Glue between the pipeline and [`crate::schema`]: KNV1006 for objects that do not match the
//! schema of their kind (built-in kinds against the Kubernetes OpenAPI schemas of the chosen
//! version, custom resources against their CRD when the repository declares it), and KNV1065
//! for CRDs whose schema cannot be used.

use std::collections::HashMap;

use rayon::prelude::*;
use serde_json::Value;

use crate::diag::{Code, Diagnostic, ResourceRef};
use crate::object::Object;
use crate::read::SourceFile;
use crate::schema::{BuiltinSchemas, CrdSchemas, PathSegment, SchemaError};
use crate::validate::is_ephemeral;
use crate::yaml;

/// Validate every declared object. `files` give the text used to point at the offending line.
pub fn check(
    objects: &[Object],
    files: &[SourceFile],
    k8s_version: &str,
    source_prefix: &str,
) -> Vec<Diagnostic> {
    let Ok(builtin) = BuiltinSchemas::load(k8s_version) else {
        return vec![Diagnostic::new(
            Code::INTERNAL,
            format!("no schemas are shipped for Kubernetes {k8s_version}"),
        )];
    };
    let crd_values: Vec<&Value> = objects
        .iter()
        .filter(|o| o.is("apiextensions.k8s.io", "CustomResourceDefinition"))
        .map(|o| &o.value)
        .collect();
    let crd_objects: Vec<&Object> = objects
        .iter()
        .filter(|o| o.is("apiextensions.k8s.io", "CustomResourceDefinition"))
        .collect();
    let (crds, crd_errors) = CrdSchemas::from_crds(builtin, &crd_values);
    let texts: HashMap<&str, &[u8]> = files
        .iter()
        .map(|f| (f.path.as_str(), f.bytes.as_slice()))
        .collect();
    let locate = |o: &Object, path: &[PathSegment]| {
        let text = texts
            .get(&*o.origin.file)
            .and_then(|b| std::str::from_utf8(b).ok())?;
        let mut full = Vec::with_capacity(path.len() + 2);
        if let Some(i) = o.origin.item {
            full.push(PathSegment::Key("items".into()));
            full.push(PathSegment::Index(i));
        }
        full.extend(path.iter().cloned());
        yaml::locate(text, o.origin.document, &full)
    };
    let mut out: Vec<Diagnostic> = crd_errors
        .iter()
        .filter_map(|e| {
            let o = crd_objects.get(e.index)?;
            let pos = locate(o, &e.path).unwrap_or(o.origin.pos);
            Some(
                Diagnostic::new(
                    Code::MALFORMED_CRD,
                    format!(
                        "{}:{}:{}: malformed CustomResourceDefinition: {e}",
                        o.origin.file, pos.line, pos.column
                    ),
                )
                .with_resource(ResourceRef::of(o, source_prefix).at(pos)),
            )
        })
        .collect();
    let per_object: Vec<Vec<Diagnostic>> = objects
        .par_iter()
        .filter(|o| !is_ephemeral(o))
        .map(|o| {
            let (g, v, k) = (o.group(), o.version(), o.kind());
            let errors: Vec<SchemaError> = if let Some(val) = builtin.validator_for(g, v, k) {
                val.validate(&o.value)
            } else if let Some(val) = crds.validator_for(g, v, k) {
                val.validate(&o.value)
            } else if builtin.has_group(g) && builtin.kinds().any(|(bg, _, bk)| bg == g && bk == k) {
                let served: Vec<String> =
                    builtin.kinds().filter(|(bg, _, bk)| *bg == g && *bk == k).map(|(bg, bv, _)| if bg.is_empty() { bv.to_string() } else { format!("{bg}/{bv}") }).collect();
                return vec![
                    Diagnostic::new(
                        Code::OBJECT_PARSE,
                        format!(
                            "{}:{}:{}: apiVersion {:?} of {k} is not served by Kubernetes {}; use {}",
                            o.origin.file,
                            o.origin.pos.line,
                            o.origin.pos.column,
                            o.api_version(),
                            builtin.version(),
                            served.join(" or ")
                        ),
                    )
                    .with_resource(ResourceRef::of(o, source_prefix)),
                ];
            } else {
                return Vec::new();
            };
            errors
                .into_iter()
                .map(|e| {
                    let pos = locate(o, &e.path).unwrap_or(o.origin.pos);
                    let path = e.path_string();
                    let at = if path.is_empty() { String::new() } else { format!("{path}: ") };
                    Diagnostic::new(
                        Code::OBJECT_PARSE,
                        format!("{}:{}:{}: {at}{}", o.origin.file, pos.line, pos.column, e.message),
                    )
                    .with_resource(ResourceRef::of(o, source_prefix).at(pos))
                })
                .collect()
        })
        .collect();
    out.extend(per_object.into_iter().flatten());
    out
}

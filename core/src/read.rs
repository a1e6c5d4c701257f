//! Turning policy files into objects: discovery rules, YAML/JSON decoding, `List` flattening,
//! `local-config` filtering, and the checks Config Sync makes while reading (KNV2001, KNV2010,
//! KNV1054, KNV1045 for `status`).

use std::sync::Arc;

use rayon::prelude::*;
use serde_json::Value;

use crate::SourceFormat;
use crate::diag::{Code, Diagnostic, ResourceRef, join_source};
use crate::object::{Object, Origin};
use crate::yaml::{self, Limits, Pos};

/// One file of a policy directory, as the caller read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to the policy directory, `/`-separated (e.g. `namespaces/prod/rb.yaml`).
    pub path: String,
    /// The file's content (UTF-8 expected; anything else is reported as KNV2001).
    pub bytes: Vec<u8>,
}

impl SourceFile {
    /// A file at `path` (relative, `/`-separated) with `content`.
    pub fn new(path: impl Into<String>, content: impl Into<Vec<u8>>) -> SourceFile {
        SourceFile {
            path: path.into(),
            bytes: content.into(),
        }
    }
}

/// The top-level directories a hierarchical repository reads.
pub const HIERARCHY_TOP_DIRS: [&str; 4] = ["system", "cluster", "clusterregistry", "namespaces"];

/// Whether Config Sync reads the file at `path` (relative, `/`-separated) for `format`:
/// `.yaml`, `.yml` or `.json`, not under `.github`/`.gitlab`/`.gitlab-ci.yml`, and in
/// hierarchical mode under one of [`HIERARCHY_TOP_DIRS`].
///
/// ```
/// use nomos_core::{read::wants_file, SourceFormat};
/// assert!(wants_file("namespaces/prod/rb.yaml", SourceFormat::Hierarchy));
/// assert!(!wants_file("docs/rb.yaml", SourceFormat::Hierarchy));
/// assert!(wants_file("docs/rb.yaml", SourceFormat::Unstructured));
/// assert!(!wants_file("README.md", SourceFormat::Unstructured));
/// assert!(!wants_file(".github/workflows/ci.yml", SourceFormat::Unstructured));
/// ```
pub fn wants_file(path: &str, format: SourceFormat) -> bool {
    let ext_ok = [".yaml", ".yml", ".json"].iter().any(|e| path.ends_with(e));
    if !ext_ok {
        return false;
    }
    let mut segments = path.split('/');
    if path
        .split('/')
        .any(|s| s == ".github" || s == ".gitlab" || s == ".gitlab-ci.yml")
    {
        return false;
    }
    match format {
        SourceFormat::Unstructured => true,
        SourceFormat::Hierarchy => {
            let first = segments.next().unwrap_or("");
            path.contains('/') && HIERARCHY_TOP_DIRS.contains(&first)
        }
    }
}

/// What reading produced: objects, errors and warnings.
#[derive(Debug, Default, Clone)]
pub struct ReadOutput {
    pub objects: Vec<Object>,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

/// Read every wanted file (in parallel), in path order.
pub fn read_files(
    files: &[SourceFile],
    format: SourceFormat,
    limits: &Limits,
    source_prefix: &str,
) -> ReadOutput {
    let mut sorted: Vec<&SourceFile> = files
        .iter()
        .filter(|f| wants_file(&f.path, format))
        .collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let parts: Vec<ReadOutput> = sorted
        .par_iter()
        .map(|f| read_file(f, limits, source_prefix))
        .collect();
    let mut out = ReadOutput::default();
    for p in parts {
        out.objects.extend(p.objects);
        out.errors.extend(p.errors);
        out.warnings.extend(p.warnings);
    }
    out
}

fn path_error(file: &str, source_prefix: &str, msg: String, pos: Option<Pos>) -> Diagnostic {
    let mut d = Diagnostic::path(Code::PATH, msg, &join_source(source_prefix, file), pos);
    d.file = Some(file.to_string());
    d
}

/// Read one file into objects.
pub fn read_file(file: &SourceFile, limits: &Limits, source_prefix: &str) -> ReadOutput {
    let mut out = ReadOutput::default();
    let text = match std::str::from_utf8(&file.bytes) {
        Ok(t) => t,
        Err(e) => {
            out.errors.push(path_error(
                &file.path,
                source_prefix,
                format!("{} is not valid UTF-8 text (invalid byte at offset {}); Kubernetes manifests must be UTF-8", file.path, e.valid_up_to()),
                None,
            ));
            return out;
        }
    };
    let parsed = if file.path.ends_with(".json") {
        yaml::parse_json(text, limits)
    } else {
        yaml::parse(text, limits)
    };
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => {
            let pos = e.pos;
            let at = match pos {
                Some(p) => format!("{}:{}:{}", file.path, p.line, p.column),
                None => file.path.clone(),
            };
            out.errors.push(path_error(
                &file.path,
                source_prefix,
                format!("{at}: cannot be parsed: {}", e.message),
                pos,
            ));
            return out;
        }
    };
    let fname: Arc<str> = Arc::from(file.path.as_str());
    for w in parsed.warnings {
        let mut d = Diagnostic::path(
            Code::PATH,
            format!(
                "{}:{}:{}: {}",
                file.path, w.pos.line, w.pos.column, w.message
            ),
            &join_source(source_prefix, &file.path),
            Some(w.pos),
        )
        .warning();
        d.file = Some(file.path.clone());
        out.warnings.push(d);
    }
    for doc in parsed.documents {
        let origin = Origin {
            file: fname.clone(),
            document: doc.index,
            pos: doc.pos,
            item: None,
        };
        match doc.value {
            Value::Object(_) => {}
            other => {
                out.errors.push(path_error(
                    &file.path,
                    source_prefix,
                    format!(
                        "{}:{}: the document is a {} rather than a Kubernetes object (a mapping with apiVersion, kind and metadata); fix or remove it",
                        file.path,
                        doc.pos.line,
                        type_name(&other)
                    ),
                    Some(doc.pos),
                ));
                continue;
            }
        }
        let obj = Object::new(doc.value, origin);
        if is_list(&obj) {
            let items = obj
                .value
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (i, item) in items.into_iter().enumerate() {
                if !item.is_object() {
                    out.errors.push(path_error(
                        &file.path,
                        source_prefix,
                        format!(
                            "{}:{}: items[{i}] of the {} is not an object; fix or remove it",
                            file.path,
                            doc.pos.line,
                            obj.kind()
                        ),
                        Some(doc.pos),
                    ));
                    continue;
                }
                let pos = yaml::locate(
                    text,
                    doc.index,
                    &[
                        yaml::PathSegment::Key("items".into()),
                        yaml::PathSegment::Index(i),
                    ],
                )
                .unwrap_or(doc.pos);
                let origin = Origin {
                    file: fname.clone(),
                    document: doc.index,
                    pos,
                    item: Some(i),
                };
                accept(Object::new(item, origin), source_prefix, &mut out);
            }
        } else {
            accept(obj, source_prefix, &mut out);
        }
    }
    out
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "plain string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

/// `kind: List`, or any kind ending in `List` that carries `items`.
fn is_list(o: &Object) -> bool {
    let kind = o.kind();
    kind.ends_with("List") && o.value.get("items").is_some_and(Value::is_array)
}

/// Checks made on each object as it is read, then keep it (unless it is local config).
fn accept(obj: Object, source_prefix: &str, out: &mut ReadOutput) {
    if obj
        .annotation("config.kubernetes.io/local-config")
        .is_some_and(|v| v != "false")
        || obj
            .metadata()
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get("config.kubernetes.io/local-config"))
            .is_some_and(|v| !v.is_string())
    {
        return;
    }
    let missing: Vec<&str> = [("apiVersion", obj.api_version()), ("kind", obj.kind())]
        .iter()
        .filter(|(_, v)| v.is_empty())
        .map(|(k, _)| *k)
        .collect();
    if !missing.is_empty() {
        let fields = missing;
        let list = fields
            .iter()
            .map(|f| format!("{f:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.errors.push(
            Diagnostic::new(
                Code::RESOURCE,
                format!(
                    "{}:{}: the object has no {list}. Every Kubernetes object declares apiVersion and kind; add the missing field(s):",
                    obj.origin.file, obj.origin.pos.line
                ),
            )
            .with_resource(ResourceRef::of(&obj, source_prefix)),
        );
        return;
    }
    let mut bad = Vec::new();
    if let Some(md) = obj.metadata() {
        for field in ["annotations", "labels"] {
            if let Some(map) = md.get(field).and_then(Value::as_object) {
                for (k, v) in map {
                    if !v.is_string() {
                        bad.push(format!("metadata.{field}.{k}"));
                    }
                }
            } else if md.get(field).is_some_and(|v| !v.is_null()) {
                bad.push(format!("metadata.{field}"));
            }
        }
    }
    if !bad.is_empty() {
        out.errors.push(
            Diagnostic::new(
                Code::INVALID_ANNOTATION_VALUE,
                format!(
                    "Values in metadata.annotations and metadata.labels MUST be strings. To fix, add quotes around the values. Non-string values for: {}",
                    bad.join(", ")
                ),
            )
            .with_resource(ResourceRef::of(&obj, source_prefix)),
        );
        return;
    }
    if obj.value.get("status").is_some() && obj.group() != "configmanagement.gke.io" {
        out.errors.push(
            Diagnostic::new(
                Code::ILLEGAL_FIELDS,
                "Configs with \"status\" specified are not allowed. To fix, either remove the config or remove the \"status\" field in the config:",
            )
            .with_resource(ResourceRef::of(&obj, source_prefix)),
        );
        return;
    }
    out.objects.push(obj);
}

//! The resource verbs: get, list, create, replace, patch (four media types), delete and
//! deletecollection, with the metadata rules of the API server.

mod delete;
mod write;

use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::cluster::Shared;
use crate::managed::{self, UpdateRequest};
use crate::meta::{FieldSelector, LabelSelector, meta_str, metadata_mut, validate_name};
use crate::resources::ResourceInfo;
use crate::status::{ApiError, Cause, Subject};
use crate::store::{Obj, ns_resource};
use crate::watch::{render, selected};

pub(crate) use delete::{DeleteOpts, delete, delete_collection};
pub(crate) use write::{PatchType, create, patch, replace};

/// The resource (and object) a request addresses.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub info: Arc<ResourceInfo>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

impl Target {
    fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or_default()
    }

    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    fn subject(&self) -> Subject<'_> {
        Subject {
            group: &self.info.group,
            resource: &self.info.plural,
            name: self.name(),
        }
    }

    fn status_sub(&self) -> bool {
        self.sub.as_deref() == Some("status")
    }
}

/// A successful answer: HTTP code and JSON body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub code: u16,
    pub body: Bytes,
}

pub(super) type R = Result<Reply, ApiError>;

pub(super) fn reply(code: u16, body: Bytes) -> R {
    Ok(Reply { code, body })
}

pub(super) fn reply_value(code: u16, v: &Value) -> R {
    reply(code, Bytes::from(serde_json::to_vec(v).unwrap_or_default()))
}

/// Request options shared by the write verbs.
#[derive(Debug, Clone)]
pub(crate) struct WriteOpts {
    pub manager: String,
    pub dry_run: bool,
    pub force: bool,
    pub manager_given: bool,
}

pub(super) fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the request body could not be decoded as JSON: {e}"
        ))
    })
}

pub(super) fn check_kind(info: &ResourceInfo, v: &Value) -> Result<(), ApiError> {
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    if let Some(k) = v.get("kind").and_then(Value::as_str)
        && !k.is_empty()
        && k != info.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({})",
            info.kind
        )));
    }
    if let Some(av) = v.get("apiVersion").and_then(Value::as_str)
        && !av.is_empty()
    {
        let (g, _) = crate::cluster::split_api_version(av);
        if g != info.group {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({})",
                info.api_version()
            )));
        }
    }
    Ok(())
}

pub(super) fn finalizers(v: &Value) -> Vec<Value> {
    v.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

pub(super) fn deleting(v: &Value) -> bool {
    meta_str(v, "deletionTimestamp").is_some()
}

/// Server-side defaults of the few kinds whose behaviour clients rely on.
pub(super) fn server_defaults(info: &ResourceInfo, v: &mut Value, creating: bool) {
    if info.group.is_empty() && info.plural == "namespaces" {
        let name = meta_str(v, "name").unwrap_or_default().to_string();
        let meta = metadata_mut(v);
        let labels = meta
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(l) = labels.as_object_mut() {
            l.insert("kubernetes.io/metadata.name".into(), json!(name));
        }
        if creating && v["spec"]["finalizers"].is_null() {
            v["spec"] = json!({"finalizers": ["kubernetes"]});
        }
        let phase = if deleting(v) { "Terminating" } else { "Active" };
        v["status"] = json!({"phase": phase});
    } else if info.group == "apiextensions.k8s.io" && info.plural == "customresourcedefinitions" {
        let created = meta_str(v, "creationTimestamp")
            .unwrap_or_default()
            .to_string();
        let mut names = v["spec"]["names"].clone();
        if names.is_object() {
            let kind = names["kind"].as_str().unwrap_or_default().to_string();
            if names["singular"].as_str().is_none_or(str::is_empty) {
                names["singular"] = json!(kind.to_ascii_lowercase());
            }
            if names["listKind"].as_str().is_none_or(str::is_empty) {
                names["listKind"] = json!(format!("{kind}List"));
            }
        }
        let stored: Vec<Value> = v["spec"]["versions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|x| x["storage"].as_bool() == Some(true))
                    .map(|x| x["name"].clone())
                    .collect()
            })
            .unwrap_or_default();
        v["status"] = json!({
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": created},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": created}
            ],
            "acceptedNames": names,
            "storedVersions": stored,
        });
    }
}

pub(super) fn check_namespace(shared: &Shared, ns: &str) -> Result<(), ApiError> {
    match shared.store.get(&ns_resource(), "", ns) {
        None => Err(ApiError::not_found(Subject {
            group: "",
            resource: "namespaces",
            name: ns,
        })),
        Some(o) if o.deleting => Err(ApiError::forbidden(format!(
            "unable to create new content in namespace {ns} because it is being terminated"
        ))),
        Some(_) => Ok(()),
    }
}

pub(super) fn name_cause(info: &ResourceInfo, name: &str) -> Option<Cause> {
    validate_name(name, info.name_rule)
}

/// Sets everything the server owns on a new object.
pub(super) fn finalize_create(
    shared: &Shared,
    info: &ResourceInfo,
    ns: &str,
    mut v: Value,
    manager: Option<&str>,
) -> Result<Value, ApiError> {
    let now = shared.now();
    v["apiVersion"] = json!(info.api_version());
    v["kind"] = json!(info.kind);
    let uid = shared.uid();
    let meta = metadata_mut(&mut v);
    if info.namespaced {
        meta.insert("namespace".into(), json!(ns));
    } else {
        meta.remove("namespace");
    }
    for k in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        meta.remove(k);
    }
    meta.insert("uid".into(), json!(uid));
    meta.insert("creationTimestamp".into(), json!(now));
    meta.insert("generation".into(), json!(1));
    if info.status_subresource
        && let Some(o) = v.as_object_mut()
    {
        o.remove("status");
    }
    if info.group == "apiextensions.k8s.io" && info.plural == "customresourcedefinitions" {
        let name = meta_str(&v, "name").unwrap_or_default();
        let want = format!(
            "{}.{}",
            v["spec"]["names"]["plural"].as_str().unwrap_or_default(),
            v["spec"]["group"].as_str().unwrap_or_default()
        );
        if name != want {
            return Err(ApiError::invalid(
                &info.kind,
                Subject {
                    group: &info.group,
                    resource: &info.plural,
                    name,
                },
                vec![Cause {
                    reason: "FieldValueInvalid".into(),
                    message: format!(
                        "Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"
                    ),
                    field: "metadata.name".into(),
                }],
            ));
        }
    }
    if let Some(m) = manager {
        managed::track_update(
            None,
            &mut v,
            &UpdateRequest {
                manager: m,
                api_version: &info.api_version(),
                now: &now,
                subresource: "",
                skip_status: info.status_subresource,
            },
        );
    }
    server_defaults(info, &mut v, true);
    Ok(v)
}

/// `GET …/{name}` (and `…/{name}/status`).
pub(crate) fn get(shared: &Shared, t: &Target) -> R {
    let obj = shared
        .store
        .get(&t.info.key(), t.ns(), t.name())
        .ok_or_else(|| ApiError::not_found(t.subject()))?;
    reply(200, render(&obj, &t.info))
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

pub(super) fn selectors(
    q: &crate::router::Query,
) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(q.get("labelSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    let fields = FieldSelector::parse(q.get("fieldSelector").unwrap_or_default())
        .map_err(ApiError::bad_request)?;
    Ok((labels, fields))
}

/// `GET …/{plural}`: label and field selectors, `limit` and `continue`.
pub(crate) fn list(shared: &Shared, t: &Target, q: &crate::router::Query) -> R {
    let (labels, fields) = selectors(q)?;
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(0);
    let after = match q.get("continue").filter(|c| !c.is_empty()) {
        Some(tok) => {
            let s = unhex(tok).ok_or_else(|| ApiError::bad_request("invalid continue token"))?;
            let (ns, name) = s
                .split_once('/')
                .ok_or_else(|| ApiError::bad_request("invalid continue token"))?;
            Some((ns.to_string(), name.to_string()))
        }
        None => None,
    };
    let ns = t.namespace.as_deref();
    let (rv, objs): (u64, Vec<Arc<Obj>>) = match (fields.required_name(), ns, &after) {
        (Some(name), Some(ns), None) => {
            let o = shared.store.get(&t.info.key(), ns, name);
            (shared.store.resource_version(), o.into_iter().collect())
        }
        _ => shared.store.list(&t.info.key(), ns, after.as_ref()),
    };
    let mut items: Vec<Bytes> = Vec::new();
    let mut cont = None;
    let mut last: Option<&Obj> = None;
    for o in &objs {
        if !selected(o, ns, &labels, &fields) {
            continue;
        }
        if limit > 0 && items.len() == limit {
            cont = last.map(|l| hex(&format!("{}/{}", l.namespace, l.name)));
            break;
        }
        items.push(render(o, &t.info));
        last = Some(o);
    }
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    let head = json!({"kind": format!("{}List", t.info.kind), "apiVersion": t.info.api_version(), "metadata": meta});
    let mut out = serde_json::to_vec(&head).unwrap_or_default();
    out.pop(); // the closing brace
    out.extend_from_slice(b",\"items\":[");
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(it);
    }
    out.extend_from_slice(b"]}");
    reply(200, Bytes::from(out))
}

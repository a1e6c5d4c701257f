//! Deletes: finalizers, namespaces that take their contents along, CRDs that take their
//! custom resources along.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::json;

use super::write::MAX_RETRIES;
use super::{
    R, Target, deleting, finalizers, parse_json, reply, reply_value, selectors, server_defaults,
};
use crate::cluster::Shared;
use crate::meta::{meta_str, metadata_mut};
use crate::resources::GroupResource;
use crate::status::ApiError;
use crate::store::{Obj, crd_resource, ns_resource};
use crate::watch::{render, selected};

/// Delete options from the body and query.
#[derive(Debug, Default)]
pub(crate) struct DeleteOpts {
    pub dry_run: bool,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

impl DeleteOpts {
    pub(crate) fn parse(body: &[u8], dry_run_query: bool) -> Result<Self, ApiError> {
        let mut o = DeleteOpts {
            dry_run: dry_run_query,
            ..Default::default()
        };
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(o);
        }
        let v = parse_json(body)?;
        if v["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "All"))
        {
            o.dry_run = true;
        }
        o.uid = v["preconditions"]["uid"].as_str().map(str::to_string);
        o.resource_version = v["preconditions"]["resourceVersion"]
            .as_str()
            .map(str::to_string);
        Ok(o)
    }
}

enum Deleted {
    /// Gone; the last state.
    Gone(Arc<Obj>),
    /// Held by finalizers; the current state.
    Pending(Bytes),
}

/// Deletes one object (honouring finalizers).
fn delete_one(shared: &Shared, t: &Target, opts: &DeleteOpts) -> Result<Deleted, ApiError> {
    let gr = t.info.key();
    for _ in 0..MAX_RETRIES {
        let obj = shared
            .store
            .get(&gr, t.ns(), t.name())
            .ok_or_else(|| ApiError::not_found(t.subject()))?;
        let mut cur = obj.value();
        if let Some(uid) = &opts.uid
            && Some(uid.as_str()) != meta_str(&cur, "uid")
        {
            return Err(ApiError::conflict_msg(
                t.subject(),
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    meta_str(&cur, "uid").unwrap_or_default()
                ),
            ));
        }
        if let Some(rv) = &opts.resource_version
            && *rv != obj.rv.to_string()
        {
            return Err(ApiError::conflict_msg(
                t.subject(),
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                    obj.rv
                ),
            ));
        }
        let is_ns = gr == ns_resource();
        if !finalizers(&cur).is_empty() || (is_ns && !deleting(&cur)) {
            if deleting(&cur) {
                return Ok(Deleted::Pending(render(&obj, &t.info)));
            }
            let meta = metadata_mut(&mut cur);
            meta.insert("deletionTimestamp".into(), json!(shared.now()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            server_defaults(&t.info, &mut cur, false);
            if opts.dry_run {
                return Ok(Deleted::Pending(Bytes::from(
                    serde_json::to_vec(&cur).unwrap_or_default(),
                )));
            }
            match shared
                .store
                .commit(&gr, t.ns(), t.name(), Some(obj.rv), cur, false)
            {
                Ok(o) => {
                    if is_ns {
                        empty_namespace(shared, t.name());
                        if let Some(gone) = finish_namespace(shared, t.name()) {
                            return Ok(Deleted::Gone(gone));
                        }
                    }
                    return Ok(Deleted::Pending(render(&o, &t.info)));
                }
                Err(_) => continue,
            }
        }
        if opts.dry_run {
            return Ok(Deleted::Gone(obj));
        }
        match shared
            .store
            .commit(&gr, t.ns(), t.name(), Some(obj.rv), cur, true)
        {
            Ok(o) => {
                after_delete(shared, &gr, &o);
                return Ok(Deleted::Gone(o));
            }
            Err(_) => continue,
        }
    }
    Err(ApiError::conflict(t.subject()))
}

/// `DELETE …/{name}`: 200 with the last state, or 202 while finalizers hold the object.
pub(crate) fn delete(shared: &Shared, t: &Target, opts: &DeleteOpts) -> R {
    match delete_one(shared, t, opts)? {
        Deleted::Gone(o) => reply(200, render(&o, &t.info)),
        Deleted::Pending(b) => reply(202, b),
    }
}

/// `DELETE …/{plural}`: deletes what the selectors select; returns the list of them.
pub(crate) fn delete_collection(
    shared: &Shared,
    t: &Target,
    q: &crate::router::Query,
    opts: &DeleteOpts,
) -> R {
    let (labels, fields) = selectors(q)?;
    let ns = t.namespace.as_deref();
    let (rv, objs) = shared.store.list(&t.info.key(), ns, None);
    let mut items = Vec::new();
    for o in objs.iter().filter(|o| selected(o, ns, &labels, &fields)) {
        let one = Target {
            namespace: Some(o.namespace.clone()).filter(|n| !n.is_empty()),
            name: Some(o.name.clone()),
            ..t.clone()
        };
        match delete_one(shared, &one, opts) {
            Ok(Deleted::Gone(o)) => items.push(o.value()),
            Ok(Deleted::Pending(b)) => items.push(serde_json::from_slice(&b).unwrap_or_default()),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    reply_value(
        200,
        &json!({"kind": format!("{}List", t.info.kind), "apiVersion": t.info.api_version(),
                "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
    )
}

/// Deletes everything in a terminating namespace (finalizers are honoured).
fn empty_namespace(shared: &Shared, ns: &str) {
    let reg = shared.store.registry();
    for (gr, o) in shared.store.namespace_contents(ns) {
        let Some(info) = reg.preferred(&gr.group, &gr.resource) else {
            continue;
        };
        let t = Target {
            info,
            namespace: Some(ns.to_string()),
            name: Some(o.name.clone()),
            sub: None,
        };
        let _ = delete_one(shared, &t, &DeleteOpts::default());
    }
}

/// Removes a terminating namespace once it is empty; returns its last state.
fn finish_namespace(shared: &Shared, ns: &str) -> Option<Arc<Obj>> {
    let obj = shared.store.get(&ns_resource(), "", ns)?;
    let v = obj.value();
    if !deleting(&v) || !shared.store.namespace_contents(ns).is_empty() {
        return None;
    }
    shared
        .store
        .commit(&ns_resource(), "", ns, Some(obj.rv), v, true)
        .ok()
}

/// What follows a deletion: CRDs take their custom resources along; the last object of a
/// terminating namespace lets it go.
pub(super) fn after_delete(shared: &Shared, gr: &GroupResource, obj: &Obj) {
    if *gr == crd_resource() {
        let v = obj.value();
        let crs = GroupResource::new(
            v["spec"]["group"].as_str().unwrap_or_default(),
            v["spec"]["names"]["plural"].as_str().unwrap_or_default(),
        );
        let (_, objs) = shared.store.list(&crs, None, None);
        for o in objs {
            let _ = shared
                .store
                .commit(&crs, &o.namespace, &o.name, Some(o.rv), o.value(), true);
        }
    } else if !obj.namespace.is_empty() {
        finish_namespace(shared, &obj.namespace);
    }
}

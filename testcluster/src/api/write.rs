//! Writes: create, replace, patch and server-side apply, and the update rules they share.

use serde_json::{Value, json};

use super::delete::after_delete;
use super::{
    R, Target, WriteOpts, check_kind, check_namespace, deleting, finalize_create, finalizers,
    name_cause, parse_json, reply, reply_value, server_defaults,
};
use crate::cluster::Shared;
use crate::managed::{self, ApplyRequest, UpdateRequest};
use crate::meta::{meta_str, metadata_mut, spec_changed};
use crate::patch;
use crate::resources::ResourceInfo;
use crate::status::{ApiError, Cause, Subject};
use crate::watch::render;

/// What an update turns into.
enum Outcome {
    NoOp,
    Put(Value),
    Delete(Value),
}

/// Store a prepared update made against version `rv` (or only render it, for a dry run).
/// `None` means a concurrent write won the race: the caller retries on the new stored version.
fn commit_update(
    shared: &Shared,
    t: &Target,
    dry_run: bool,
    rv: u64,
    v: Value,
    delete: bool,
) -> Option<R> {
    if dry_run {
        return Some(reply_value(200, &v));
    }
    let gr = t.info.key();
    let o = shared
        .store
        .commit(&gr, t.ns(), t.name(), Some(rv), v, delete)
        .ok()?;
    if delete {
        after_delete(shared, &gr, &o);
    }
    Some(reply(200, render(&o, &t.info)))
}

struct UpdateCtx<'a> {
    manager: &'a str,
    sub: &'a str,
    track: bool,
}

fn prepare_update(
    shared: &Shared,
    info: &ResourceInfo,
    cur: &Value,
    cur_rv: u64,
    mut new: Value,
    ctx: &UpdateCtx<'_>,
) -> Result<Outcome, ApiError> {
    let name = meta_str(cur, "name").unwrap_or_default().to_string();
    let ns = meta_str(cur, "namespace").unwrap_or_default().to_string();
    let subject = Subject {
        group: &info.group,
        resource: &info.plural,
        name: &name,
    };
    check_kind(info, &new)?;
    if let Some(n) = meta_str(&new, "name")
        && n != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    if info.namespaced
        && let Some(n) = meta_str(&new, "namespace")
        && !n.is_empty()
        && n != ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    if let Some(rv) = meta_str(&new, "resourceVersion")
        && !rv.is_empty()
        && rv != cur_rv.to_string()
    {
        return Err(ApiError::conflict(subject));
    }
    if let Some(uid) = meta_str(&new, "uid")
        && !uid.is_empty()
        && Some(uid) != meta_str(cur, "uid")
    {
        return Err(ApiError::conflict_msg(
            subject,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta_str(cur, "uid").unwrap_or_default()
            ),
        ));
    }
    new["apiVersion"] = json!(info.api_version());
    new["kind"] = json!(info.kind);
    {
        let cur_meta = cur.get("metadata").and_then(Value::as_object);
        let meta = metadata_mut(&mut new);
        for k in [
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ] {
            match cur_meta.and_then(|m| m.get(k)) {
                Some(v) => {
                    meta.insert(k.into(), v.clone());
                }
                None => {
                    meta.remove(k);
                }
            }
        }
    }
    if ctx.sub == "status" {
        let status = new.get("status").cloned();
        let mf = new
            .get("metadata")
            .and_then(|m| m.get("managedFields"))
            .cloned();
        new = cur.clone();
        if let Some(o) = new.as_object_mut() {
            match status {
                Some(s) => o.insert("status".into(), s),
                None => o.remove("status"),
            };
        }
        if let Some(mf) = mf {
            metadata_mut(&mut new).insert("managedFields".into(), mf);
        }
    } else if info.status_subresource
        && let Some(o) = new.as_object_mut()
    {
        match cur.get("status") {
            Some(s) => o.insert("status".into(), s.clone()),
            None => o.remove("status"),
        };
    }
    if deleting(cur) {
        let before = finalizers(cur);
        if finalizers(&new).iter().any(|f| !before.contains(f)) {
            return Err(ApiError::invalid(
                &info.kind,
                subject,
                vec![Cause {
                    reason: "FieldValueForbidden".into(),
                    message:
                        "Forbidden: no new finalizers can be added if the object is being deleted"
                            .into(),
                    field: "metadata.finalizers".into(),
                }],
            ));
        }
    }
    if ctx.track {
        let now = shared.now();
        managed::track_update(
            Some(cur),
            &mut new,
            &UpdateRequest {
                manager: ctx.manager,
                api_version: &info.api_version(),
                now: &now,
                subresource: ctx.sub,
                skip_status: info.status_subresource && ctx.sub != "status",
            },
        );
    }
    let generation = cur["metadata"]["generation"].as_i64().unwrap_or(1);
    let generation = if spec_changed(cur, &new) {
        generation + 1
    } else {
        generation
    };
    metadata_mut(&mut new).insert("generation".into(), json!(generation));
    server_defaults(info, &mut new, false);
    if deleting(&new) && finalizers(&new).is_empty() {
        return Ok(Outcome::Delete(new));
    }
    if new == *cur {
        return Ok(Outcome::NoOp);
    }
    Ok(Outcome::Put(new))
}

pub(super) const MAX_RETRIES: usize = 64;

fn update_loop(
    shared: &Shared,
    t: &Target,
    opts: &WriteOpts,
    track: bool,
    mut f: impl FnMut(&Value) -> Result<Value, ApiError>,
) -> R {
    let gr = t.info.key();
    let sub = if t.status_sub() { "status" } else { "" };
    for _ in 0..MAX_RETRIES {
        let obj = shared
            .store
            .get(&gr, t.ns(), t.name())
            .ok_or_else(|| ApiError::not_found(t.subject()))?;
        let cur = obj.value();
        let new = f(&cur)?;
        let ctx = UpdateCtx {
            manager: &opts.manager,
            sub,
            track,
        };
        let (v, delete) = match prepare_update(shared, &t.info, &cur, obj.rv, new, &ctx)? {
            Outcome::NoOp => return reply(200, render(&obj, &t.info)),
            Outcome::Put(v) => (v, false),
            Outcome::Delete(v) => (v, true),
        };
        if let Some(r) = commit_update(shared, t, opts.dry_run, obj.rv, v, delete) {
            return r;
        }
    }
    Err(ApiError::conflict(t.subject()))
}

/// `POST …/{plural}`.
pub(crate) fn create(shared: &Shared, t: &Target, opts: &WriteOpts, body: &[u8]) -> R {
    let v = parse_json(body)?;
    check_kind(&t.info, &v)?;
    let ns = t.ns();
    if t.info.namespaced
        && let Some(bns) = meta_str(&v, "namespace")
        && !bns.is_empty()
        && bns != ns
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let mut v = v;
    let name = match meta_str(&v, "name").filter(|n| !n.is_empty()) {
        Some(n) => n.to_string(),
        None => match meta_str(&v, "generateName").filter(|n| !n.is_empty()) {
            Some(g) => {
                let n = format!("{g}{}", shared.name_suffix());
                metadata_mut(&mut v).insert("name".into(), json!(n));
                n
            }
            None => {
                return Err(ApiError::invalid(
                    &t.info.kind,
                    Subject {
                        group: &t.info.group,
                        resource: &t.info.plural,
                        name: "",
                    },
                    vec![Cause {
                        reason: "FieldValueRequired".into(),
                        message: "Required value: name or generateName is required".into(),
                        field: "metadata.name".into(),
                    }],
                ));
            }
        },
    };
    let subject = Subject {
        group: &t.info.group,
        resource: &t.info.plural,
        name: &name,
    };
    if let Some(c) = name_cause(&t.info, &name) {
        return Err(ApiError::invalid(&t.info.kind, subject, vec![c]));
    }
    if t.info.namespaced {
        check_namespace(shared, ns)?;
    }
    let v = finalize_create(shared, &t.info, ns, v, Some(&opts.manager))?;
    if shared.store.get(&t.info.key(), ns, &name).is_some() {
        return Err(ApiError::already_exists(subject));
    }
    if opts.dry_run {
        return reply_value(201, &v);
    }
    match shared
        .store
        .commit(&t.info.key(), ns, &name, None, v, false)
    {
        Ok(o) => reply(201, render(&o, &t.info)),
        Err(_) => Err(ApiError::already_exists(subject)),
    }
}

/// `PUT …/{name}` (and `…/{name}/status`).
pub(crate) fn replace(shared: &Shared, t: &Target, opts: &WriteOpts, body: &[u8]) -> R {
    let v = parse_json(body)?;
    check_kind(&t.info, &v)?;
    update_loop(shared, t, opts, true, |_| Ok(v.clone()))
}

/// The patch media types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchType {
    pub(crate) fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        Some(match base {
            "application/merge-patch+json" => Self::Merge,
            "application/json-patch+json" => Self::Json,
            "application/strategic-merge-patch+json" => Self::Strategic,
            "application/apply-patch+yaml" => Self::Apply,
            _ => return None,
        })
    }
}

fn patch_error(t: &Target, e: patch::PatchError) -> ApiError {
    ApiError {
        code: 422,
        reason: "Invalid",
        message: e.0,
        details: Some(json!({"name": t.name(), "kind": t.info.plural})),
    }
}

/// `PATCH …/{name}` with a merge, JSON or strategic merge patch.
pub(crate) fn patch(
    shared: &Shared,
    t: &Target,
    opts: &WriteOpts,
    kind: PatchType,
    body: &[u8],
) -> R {
    if kind == PatchType::Apply {
        return apply(shared, t, opts, body);
    }
    if kind == PatchType::Strategic && t.info.custom {
        return Err(ApiError {
            message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml".into(),
            ..ApiError::unsupported_media_type("application/strategic-merge-patch+json")
        });
    }
    let p = parse_json(body)?;
    update_loop(shared, t, opts, true, |cur| {
        let mut v = cur.clone();
        match kind {
            PatchType::Merge => patch::merge_patch(&mut v, &p),
            PatchType::Json => patch::json_patch(&mut v, &p).map_err(|e| patch_error(t, e))?,
            PatchType::Strategic => {
                patch::strategic_merge(&mut v, &p).map_err(|e| patch_error(t, e))?
            }
            PatchType::Apply => unreachable!(),
        }
        Ok(v)
    })
}

/// Server-side apply (`application/apply-patch+yaml`; the body must be JSON).
fn apply(shared: &Shared, t: &Target, opts: &WriteOpts, body: &[u8]) -> R {
    if !opts.manager_given {
        return Err(ApiError::invalid(
            "PatchOptions",
            Subject {
                group: "meta.k8s.io",
                resource: "patchoptions",
                name: "",
            },
            vec![Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value: is required for apply patch".into(),
                field: "fieldManager".into(),
            }],
        ));
    }
    let applied: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "error decoding apply patch (this server accepts JSON apply patches only): {e}"
        ))
    })?;
    check_kind(&t.info, &applied)?;
    if applied["apiVersion"].as_str().is_none_or(str::is_empty)
        || applied["kind"].as_str().is_none_or(str::is_empty)
    {
        return Err(ApiError::bad_request(
            "invalid object type: apiVersion and kind must be set in an apply patch",
        ));
    }
    if let Some(n) = meta_str(&applied, "name")
        && n != t.name()
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({})",
            t.name()
        )));
    }
    if t.info.namespaced
        && let Some(n) = meta_str(&applied, "namespace")
        && !n.is_empty()
        && n != t.ns()
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    let mut applied = applied;
    let sub = if t.status_sub() { "status" } else { "" };
    if t.info.status_subresource
        && sub.is_empty()
        && let Some(o) = applied.as_object_mut()
    {
        o.remove("status");
    }
    let gr = t.info.key();
    let api_version = t.info.api_version();
    for _ in 0..MAX_RETRIES {
        let now = shared.now();
        let req = ApplyRequest {
            manager: &opts.manager,
            force: opts.force,
            api_version: &api_version,
            now: &now,
            subresource: sub,
            skip_status: t.info.status_subresource && sub.is_empty(),
        };
        let conflicts = |causes| ApiError::apply_conflicts(t.subject(), causes);
        match shared.store.get(&gr, t.ns(), t.name()) {
            None => {
                if t.status_sub() {
                    return Err(ApiError::not_found(t.subject()));
                }
                if let Some(c) = name_cause(&t.info, t.name()) {
                    return Err(ApiError::invalid(&t.info.kind, t.subject(), vec![c]));
                }
                if t.info.namespaced {
                    check_namespace(shared, t.ns())?;
                }
                let mut v = managed::apply(None, &applied, &req).map_err(conflicts)?;
                metadata_mut(&mut v).insert("name".into(), json!(t.name()));
                let v = finalize_create(shared, &t.info, t.ns(), v, None)?;
                if opts.dry_run {
                    return reply_value(201, &v);
                }
                match shared.store.commit(&gr, t.ns(), t.name(), None, v, false) {
                    Ok(o) => return reply(201, render(&o, &t.info)),
                    Err(_) => continue,
                }
            }
            Some(obj) => {
                let cur = obj.value();
                if let Some(rv) = meta_str(&applied, "resourceVersion")
                    && !rv.is_empty()
                    && rv != obj.rv.to_string()
                {
                    return Err(ApiError::conflict(t.subject()));
                }
                let new = managed::apply(Some(&cur), &applied, &req).map_err(conflicts)?;
                let ctx = UpdateCtx {
                    manager: &opts.manager,
                    sub,
                    track: false,
                };
                let (v, delete) = match prepare_update(shared, &t.info, &cur, obj.rv, new, &ctx)? {
                    Outcome::NoOp => return reply(200, render(&obj, &t.info)),
                    Outcome::Put(v) => (v, false),
                    Outcome::Delete(v) => (v, true),
                };
                if let Some(r) = commit_update(shared, t, opts.dry_run, obj.rv, v, delete) {
                    return r;
                }
            }
        }
    }
    Err(ApiError::conflict(t.subject()))
}

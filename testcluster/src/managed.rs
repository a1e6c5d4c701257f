//! Field ownership (`metadata.managedFields`) and server-side apply.
//!
//! Fields are tracked as leaf paths: a leaf is a scalar, a list (lists are atomic: the whole
//! list is one field) or an empty map. Ownership is stored in `FieldsV1` form
//! (`{"f:data":{"f:a":{}}}`).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::status::Cause;

/// A field path (names of nested map keys).
pub type Path = Vec<String>;

/// `metadata` fields owned by the server, never tracked.
const SYSTEM_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// The tracked leaf paths of an object (excluding apiVersion, kind, system metadata and,
/// when `skip_status`, status).
pub fn leaves(obj: &Value, skip_status: bool) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    let Some(o) = obj.as_object() else {
        return out;
    };
    for (k, v) in o {
        match k.as_str() {
            "apiVersion" | "kind" => {}
            "status" if skip_status => {}
            "metadata" => {
                if let Some(m) = v.as_object() {
                    for (mk, mv) in m {
                        if !SYSTEM_META.contains(&mk.as_str()) {
                            collect(mv, &mut vec!["metadata".into(), mk.clone()], &mut out);
                        }
                    }
                }
            }
            _ => collect(v, &mut vec![k.clone()], &mut out),
        }
    }
    out
}

fn collect(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                path.push(k.clone());
                collect(child, path, out);
                path.pop();
            }
        }
        _ => {
            out.insert(path.clone());
        }
    }
}

/// The value at a path.
pub fn get_path<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

fn set_path(v: &mut Value, path: &[String], value: Value) {
    let mut cur = v;
    for p in &path[..path.len() - 1] {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        cur = cur
            .as_object_mut()
            .unwrap_or_else(|| unreachable!())
            .entry(p.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !cur.is_object() {
        *cur = Value::Object(Map::new());
    }
    let m = cur.as_object_mut().unwrap_or_else(|| unreachable!());
    let last = &path[path.len() - 1];
    // An applied empty map only ensures the map exists; it never wipes what others set.
    if value.as_object().is_some_and(Map::is_empty) && m.get(last).is_some_and(Value::is_object) {
        return;
    }
    m.insert(last.clone(), value);
}

fn remove_path(v: &mut Value, path: &[String]) {
    let mut cur = v;
    for p in &path[..path.len() - 1] {
        match cur.as_object_mut().and_then(|m| m.get_mut(p)) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(m) = cur.as_object_mut() {
        m.remove(&path[path.len() - 1]);
    }
}

/// `FieldsV1` JSON from leaf paths.
pub fn to_fields_v1(paths: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for p in paths {
        let mut cur = &mut root;
        for seg in p {
            cur = cur
                .entry(format!("f:{seg}"))
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .unwrap_or_else(|| unreachable!());
        }
    }
    Value::Object(root)
}

/// Leaf paths from `FieldsV1` JSON (only `f:` keys are understood; `.` marks are ignored).
pub fn from_fields_v1(v: &Value) -> BTreeSet<Path> {
    fn walk(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
        let children: Vec<(&String, &Value)> = v
            .as_object()
            .map(|m| m.iter().filter(|(k, _)| k.starts_with("f:")).collect())
            .unwrap_or_default();
        if children.is_empty() {
            if !path.is_empty() {
                out.insert(path.clone());
            }
            return;
        }
        for (k, child) in children {
            path.push(k[2..].to_string());
            walk(child, path, out);
            path.pop();
        }
    }
    let mut out = BTreeSet::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    subresource: String,
    fields: BTreeSet<Path>,
    /// The entry as stored; rewritten only when its fields change.
    raw: Value,
    dirty: bool,
}

impl Entry {
    fn parse(raw: &Value) -> Option<Self> {
        let o = raw.as_object()?;
        if o.is_empty() {
            return None;
        }
        Some(Self {
            manager: o.get("manager")?.as_str().unwrap_or_default().to_string(),
            operation: o
                .get("operation")
                .and_then(Value::as_str)
                .unwrap_or("Update")
                .to_string(),
            subresource: o
                .get("subresource")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            fields: o.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
            raw: raw.clone(),
            dirty: false,
        })
    }

    fn new(manager: &str, operation: &str, subresource: &str) -> Self {
        Self {
            manager: manager.into(),
            operation: operation.into(),
            subresource: subresource.into(),
            fields: BTreeSet::new(),
            raw: Value::Null,
            dirty: true,
        }
    }

    fn render(&self, api_version: &str, now: &str) -> Value {
        if !self.dirty {
            return self.raw.clone();
        }
        let mut v = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": api_version,
            "time": now,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(&self.fields),
        });
        if !self.subresource.is_empty() {
            v["subresource"] = json!(self.subresource);
        }
        v
    }
}

fn entries_of(obj: Option<&Value>) -> Vec<Entry> {
    obj.and_then(|o| get_path(o, &["metadata".into(), "managedFields".into()]))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Entry::parse).collect())
        .unwrap_or_default()
}

fn write_entries(obj: &mut Value, entries: &[Entry], api_version: &str, now: &str) {
    let rendered: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| e.render(api_version, now))
        .collect();
    let meta = crate::meta::metadata_mut(obj);
    if rendered.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(rendered));
    }
}

fn overlaps(a: &[String], b: &[String]) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn is_map(v: Option<&Value>) -> bool {
    v.is_some_and(Value::is_object)
}

/// Whether owning leaf `owned` (in `obj`) touches the field `field` (in `obj`): the same field,
/// something inside it, or a non-map ancestor of it (an empty-map leaf only marks the map).
fn touches(obj: &Value, owned: &[String], field: &[String]) -> bool {
    owned == field
        || owned.starts_with(field)
        || (field.starts_with(owned) && !is_map(get_path(obj, owned)))
}

/// The field path as Kubernetes prints it in conflicts: `.data.a`.
pub fn dotted(path: &[String]) -> String {
    path.iter().map(|p| format!(".{p}")).collect()
}

/// What a server-side apply needs to know.
#[derive(Debug, Clone, Copy)]
pub struct ApplyRequest<'a> {
    /// The field manager.
    pub manager: &'a str,
    /// `force=true`: take ownership instead of failing on conflicts.
    pub force: bool,
    /// The request's apiVersion (recorded in the entry).
    pub api_version: &'a str,
    /// The current time, RFC 3339.
    pub now: &'a str,
    /// `status` when applying to the status subresource, else empty.
    pub subresource: &'a str,
    /// Whether status is not part of this endpoint's fields.
    pub skip_status: bool,
}

/// Server-side apply: merges `applied` into `current` (or into a new object) with field
/// ownership. Returns the new object, or the FieldManagerConflict causes.
pub fn apply(
    current: Option<&Value>,
    applied: &Value,
    req: &ApplyRequest<'_>,
) -> Result<Value, Vec<Cause>> {
    let mut entries = entries_of(current);
    let applied_paths = leaves(applied, req.skip_status);
    let empty = Value::Object(Map::new());
    let cur = current.unwrap_or(&empty);
    let is_me = |e: &Entry| {
        e.manager == req.manager && e.operation == "Apply" && e.subresource == req.subresource
    };

    let mut causes = Vec::new();
    let mut steal: Vec<(usize, Path)> = Vec::new();
    for p in &applied_paths {
        let new_v = get_path(applied, p);
        let old_v = get_path(cur, p);
        if new_v == old_v {
            continue;
        }
        // Applying an empty map over an existing map only claims the map, not its contents.
        if new_v.is_some_and(|v| v.as_object().is_some_and(Map::is_empty)) && is_map(old_v) {
            continue;
        }
        for (i, e) in entries.iter().enumerate() {
            if is_me(e) || e.subresource != req.subresource {
                continue;
            }
            for q in e
                .fields
                .iter()
                .filter(|q| touches(cur, q, p) || touches(cur, p, q))
            {
                steal.push((i, q.clone()));
                let using = if e.operation == "Update" {
                    format!(
                        " using {}",
                        e.raw
                            .get("apiVersion")
                            .and_then(Value::as_str)
                            .unwrap_or("v1")
                    )
                } else {
                    String::new()
                };
                causes.push(Cause {
                    reason: "FieldManagerConflict".into(),
                    message: format!("conflict with \"{}\"{using}", e.manager),
                    field: dotted(q),
                });
            }
        }
    }
    if !causes.is_empty() && !req.force {
        causes.sort_by(|a, b| a.field.cmp(&b.field).then(a.message.cmp(&b.message)));
        causes.dedup();
        return Err(causes);
    }
    for (i, q) in steal {
        if entries[i].fields.remove(&q) {
            entries[i].dirty = true;
        }
    }

    let mut result = current.cloned().unwrap_or_else(|| {
        json!({"apiVersion": applied.get("apiVersion").cloned().unwrap_or(Value::Null),
               "kind": applied.get("kind").cloned().unwrap_or(Value::Null),
               "metadata": {}})
    });
    // Remove what this manager applied before and no longer applies, unless someone else owns it.
    let mine = entries.iter().position(is_me);
    if let Some(i) = mine {
        let dropped: Vec<Path> = entries[i]
            .fields
            .difference(&applied_paths)
            .cloned()
            .collect();
        for q in dropped {
            let owned_elsewhere = entries
                .iter()
                .enumerate()
                .any(|(j, e)| j != i && e.fields.iter().any(|f| touches(cur, f, &q)));
            let reapplied = applied_paths
                .iter()
                .any(|p| p.starts_with(&q) || touches(applied, p, &q));
            if !owned_elsewhere && !reapplied {
                remove_path(&mut result, &q);
            }
        }
    }
    for p in &applied_paths {
        if let Some(v) = get_path(applied, p) {
            set_path(&mut result, p, v.clone());
        }
    }
    if let Some(k) = applied.get("kind") {
        result["kind"] = k.clone();
    }
    if let Some(av) = applied.get("apiVersion") {
        result["apiVersion"] = av.clone();
    }
    match mine {
        Some(i) => {
            if entries[i].fields != applied_paths {
                entries[i].fields = applied_paths;
                entries[i].dirty = true;
            }
        }
        None => {
            let mut e = Entry::new(req.manager, "Apply", req.subresource);
            e.fields = applied_paths;
            entries.push(e);
        }
    }
    write_entries(&mut result, &entries, req.api_version, req.now);
    Ok(result)
}

/// What an ordinary write (create, update, patch) records.
#[derive(Debug, Clone, Copy)]
pub struct UpdateRequest<'a> {
    /// The field manager.
    pub manager: &'a str,
    /// The request's apiVersion.
    pub api_version: &'a str,
    /// The current time, RFC 3339.
    pub now: &'a str,
    /// `status` for writes to the status subresource, else empty.
    pub subresource: &'a str,
    /// Whether status is not tracked on this endpoint.
    pub skip_status: bool,
}

/// Records an `Update` by `req.manager` that turned `old` into `new` (in place). If the
/// client changed `managedFields` itself, its value is kept (an entry list of `[{}]` clears
/// them), as the API server does.
pub fn track_update(old: Option<&Value>, new: &mut Value, req: &UpdateRequest<'_>) {
    let mf = ["metadata".to_string(), "managedFields".to_string()];
    let old_mf = old.and_then(|o| get_path(o, &mf)).cloned();
    let new_mf = get_path(new, &mf).cloned();
    if new_mf.is_some() && new_mf != old_mf {
        let kept: Vec<Value> = new_mf
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.as_object().is_some_and(|o| !o.is_empty()))
            .collect();
        let meta = crate::meta::metadata_mut(new);
        if kept.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(kept));
        }
        return;
    }
    let mut entries = entries_of(old);
    let new_leaves = leaves(new, req.skip_status);
    let empty = Value::Object(Map::new());
    let old_v = old.unwrap_or(&empty);
    let changed: BTreeSet<Path> = new_leaves
        .iter()
        .filter(|p| get_path(old_v, p) != get_path(new, p))
        .cloned()
        .collect();
    for e in entries.iter_mut() {
        let before = e.fields.len();
        // Fields that no longer exist are owned by nobody; changed fields move to the updater.
        e.fields
            .retain(|f| get_path(new, f).is_some() && !changed.iter().any(|c| overlaps(c, f)));
        if e.fields.len() != before {
            e.dirty = true;
        }
    }
    if !changed.is_empty() {
        let pos = entries.iter().position(|e| {
            e.manager == req.manager && e.operation == "Update" && e.subresource == req.subresource
        });
        let e = match pos {
            Some(i) => &mut entries[i],
            None => {
                entries.push(Entry::new(req.manager, "Update", req.subresource));
                entries.last_mut().unwrap_or_else(|| unreachable!())
            }
        };
        e.fields.extend(changed);
        e.dirty = true;
    }
    write_entries(new, &entries, req.api_version, req.now);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(manager: &'a str, force: bool) -> ApplyRequest<'a> {
        ApplyRequest {
            manager,
            force,
            api_version: "v1",
            now: "2024-01-01T00:00:00Z",
            subresource: "",
            skip_status: false,
        }
    }

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data})
    }

    #[test]
    fn fields_v1_round_trip() {
        let obj =
            json!({"metadata": {"name": "x", "labels": {"a": "1"}}, "data": {"k": "v"}, "l": [1]});
        let paths = leaves(&obj, false);
        let f = to_fields_v1(&paths);
        assert_eq!(
            f,
            json!({"f:data": {"f:k": {}}, "f:l": {}, "f:metadata": {"f:labels": {"f:a": {}}}})
        );
        assert_eq!(from_fields_v1(&f), paths);
        assert_eq!(
            from_fields_v1(&json!({"f:data": {".": {}, "f:k": {}}})),
            [vec!["data".to_string(), "k".to_string()]]
                .into_iter()
                .collect()
        );
    }

    #[test]
    fn apply_create_then_noop() {
        let a = cm(json!({"a": "1"}));
        let o1 = apply(None, &a, &req("m1", false)).unwrap();
        assert_eq!(o1["data"], json!({"a": "1"}));
        assert_eq!(o1["metadata"]["managedFields"][0]["manager"], "m1");
        assert_eq!(o1["metadata"]["managedFields"][0]["operation"], "Apply");
        let mut r2 = req("m1", false);
        r2.now = "2030-01-01T00:00:00Z";
        let o2 = apply(Some(&o1), &a, &r2).unwrap();
        assert_eq!(o1, o2, "re-applying the same configuration changes nothing");
    }

    #[test]
    fn apply_conflicts_and_force() {
        let o1 = apply(None, &cm(json!({"a": "1"})), &req("m1", false)).unwrap();
        // Same value: shared ownership, no conflict.
        let o2 = apply(
            Some(&o1),
            &cm(json!({"a": "1", "b": "2"})),
            &req("m2", false),
        )
        .unwrap();
        // Different value: conflict.
        let err = apply(Some(&o2), &cm(json!({"a": "9"})), &req("m2", false)).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].field, ".data.a");
        assert_eq!(err[0].message, "conflict with \"m1\"");
        // Force moves ownership.
        let o3 = apply(Some(&o2), &cm(json!({"a": "9"})), &req("m2", true)).unwrap();
        assert_eq!(
            o3["data"],
            json!({"a": "9"}),
            "m2 dropped b, nobody else owned it"
        );
        let mf = o3["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(mf.len(), 1, "m1 lost its only field: {mf:?}");
        assert_eq!(mf[0]["manager"], "m2");
    }

    #[test]
    fn apply_removes_omitted_fields_unless_shared() {
        let o1 = apply(None, &cm(json!({"a": "1", "b": "2"})), &req("m1", false)).unwrap();
        let o2 = apply(Some(&o1), &cm(json!({"b": "2"})), &req("m2", false)).unwrap();
        let o3 = apply(Some(&o2), &cm(json!({"x": "3"})), &req("m1", false)).unwrap();
        assert_eq!(o3["data"], json!({"b": "2", "x": "3"}));
    }

    #[test]
    fn empty_map_claims_only_the_map() {
        let o1 = apply(None, &cm(json!({"a": "1"})), &req("m1", false)).unwrap();
        let o2 = apply(Some(&o1), &cm(json!({})), &req("m2", false)).unwrap();
        assert_eq!(o2["data"], json!({"a": "1"}));
        let o3 = apply(Some(&o2), &cm(json!({"b": "2"})), &req("m2", false)).unwrap();
        let o4 = apply(Some(&o3), &cm(json!({})), &req("m2", false)).unwrap();
        assert_eq!(o4["data"], json!({"a": "1"}), "m2 dropped b");
    }

    #[test]
    fn update_takes_changed_fields() {
        let o1 = apply(None, &cm(json!({"a": "1"})), &req("m1", false)).unwrap();
        let mut o2 = o1.clone();
        o2["data"]["a"] = json!("2");
        o2["data"]["b"] = json!("3");
        let u = UpdateRequest {
            manager: "kubectl-edit",
            api_version: "v1",
            now: "t",
            subresource: "",
            skip_status: false,
        };
        track_update(Some(&o1), &mut o2, &u);
        let mf = o2["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(mf.len(), 1);
        assert_eq!(mf[0]["manager"], "kubectl-edit");
        assert_eq!(mf[0]["operation"], "Update");
        // Client-written managedFields win; [{}] clears.
        let mut o3 = o2.clone();
        o3["metadata"]["managedFields"] = json!([{}]);
        track_update(Some(&o2), &mut o3, &u);
        assert!(o3["metadata"].get("managedFields").is_none());
    }
}

//! Patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch
//! (merge patch plus the `$patch`/`$retainKeys`/`$setElementOrder`/`$deleteFromPrimitiveList`
//! directives, with list merging by key where the key is known).

use serde_json::{Map, Value};

/// A patch that could not be applied (rendered as 422 or 400 by the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatchError(pub String);

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().unwrap_or_else(|| unreachable!());
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn parse_pointer(path: &str) -> Result<Vec<String>, PatchError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| PatchError(format!("invalid JSON pointer {path:?}")))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn pointer_get<'a>(doc: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    let mut cur = doc;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m.get(t)?,
            Value::Array(a) => a.get(t.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn pointer_parent<'a>(
    doc: &'a mut Value,
    tokens: &[String],
    path: &str,
) -> Result<&'a mut Value, PatchError> {
    let mut cur = doc;
    for t in &tokens[..tokens.len() - 1] {
        cur = match cur {
            Value::Object(m) => m.get_mut(t),
            Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| PatchError(format!("path {path:?} does not exist")))?;
    }
    Ok(cur)
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), PatchError> {
    let tokens = parse_pointer(path)?;
    let Some(last) = tokens.last() else {
        *doc = value;
        return Ok(());
    };
    match pointer_parent(doc, &tokens, path)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last
                    .parse()
                    .map_err(|_| PatchError(format!("invalid array index in {path:?}")))?;
                if i > a.len() {
                    return Err(PatchError(format!("array index out of bounds in {path:?}")));
                }
                a.insert(i, value);
            }
        }
        _ => return Err(PatchError(format!("cannot add at {path:?}"))),
    }
    Ok(())
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, PatchError> {
    let tokens = parse_pointer(path)?;
    let Some(last) = tokens.last() else {
        return Err(PatchError("cannot remove the whole document".into()));
    };
    let missing = || PatchError(format!("unable to remove nonexistent key: {path}"));
    match pointer_parent(doc, &tokens, path)? {
        Value::Object(m) => m.remove(last).ok_or_else(missing),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing())?;
            if i >= a.len() {
                return Err(missing());
            }
            Ok(a.remove(i))
        }
        _ => Err(missing()),
    }
}

/// RFC 6902 JSON patch: add, remove, replace, move, copy, test.
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), PatchError> {
    let ops = ops
        .as_array()
        .ok_or_else(|| PatchError("a JSON patch must be an array of operations".into()))?;
    for op in ops {
        let name = op["op"]
            .as_str()
            .ok_or_else(|| PatchError("operation without \"op\"".into()))?;
        let path = op["path"]
            .as_str()
            .ok_or_else(|| PatchError(format!("operation {name:?} without \"path\"")))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| PatchError(format!("operation {name:?} without \"value\"")))
        };
        let from = || {
            op["from"]
                .as_str()
                .ok_or_else(|| PatchError(format!("operation {name:?} without \"from\"")))
        };
        match name {
            "add" => add(doc, path, value()?)?,
            "remove" => {
                remove(doc, path)?;
            }
            "replace" => {
                let tokens = parse_pointer(path)?;
                if pointer_get(doc, &tokens).is_none() {
                    return Err(PatchError(format!(
                        "replace operation does not apply: doc is missing key: {path}"
                    )));
                }
                remove(doc, path).ok();
                add(doc, path, value()?)?;
            }
            "move" => {
                let v = remove(doc, from()?)?;
                add(doc, path, v)?;
            }
            "copy" => {
                let v = pointer_get(doc, &parse_pointer(from()?)?)
                    .cloned()
                    .ok_or_else(|| PatchError(format!("copy from missing path {:?}", from())))?;
                add(doc, path, v)?;
            }
            "test" => {
                let actual = pointer_get(doc, &parse_pointer(path)?);
                if actual != Some(&value()?) {
                    return Err(PatchError(format!(
                        "testing value {path} failed: test failed"
                    )));
                }
            }
            other => return Err(PatchError(format!("unexpected kind: {other}"))),
        }
    }
    Ok(())
}

/// Merge keys of well-known built-in lists (by field name), used when a strategic patch does not
/// carry a `$setElementOrder` directive that reveals the key.
fn known_merge_key(field: &str) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "hostAliases" => {
            if field == "hostAliases" {
                "ip"
            } else {
                "name"
            }
        }
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "ownerReferences" => "uid",
        "conditions" => "type",
        "topologySpreadConstraints" => "topologyKey",
        _ => return None,
    })
}

/// Primitive lists that strategic merge treats as sets (`patchStrategy: merge`).
fn is_primitive_merge_list(field: &str) -> bool {
    matches!(field, "finalizers")
}

/// Strategic merge patch. Lists are merged by key when the key is known (from
/// `$setElementOrder/<field>` or a small built-in table), else replaced like a merge patch.
pub fn strategic_merge(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    if let Some(directive) = p.get("$patch").and_then(Value::as_str) {
        match directive {
            "replace" => {
                let mut clean = patch.clone();
                strip_directives(&mut clean);
                *target = clean;
                return Ok(());
            }
            "delete" => {
                *target = Value::Null;
                return Ok(());
            }
            "merge" => {}
            other => return Err(PatchError(format!("unknown patch type: {other}"))),
        }
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().unwrap_or_else(|| unreachable!());
    if let Some(keep) = p.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        t.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match v {
            Value::Object(_) => {
                let slot = t.entry(k.clone()).or_insert(Value::Null);
                strategic_merge(slot, v)?;
                if slot.is_null() {
                    t.remove(k);
                }
            }
            Value::Array(items) => {
                let order = p
                    .get(&format!("$setElementOrder/{k}"))
                    .and_then(Value::as_array);
                let key = order
                    .and_then(|o| o.first())
                    .and_then(Value::as_object)
                    .and_then(|m| m.keys().next().cloned())
                    .or_else(|| {
                        known_merge_key(k)
                            .filter(|key| items.iter().all(|i| i.get(*key).is_some()))
                            .map(str::to_string)
                    });
                let current = t.remove(k).unwrap_or(Value::Array(Vec::new()));
                let merged = if let Some(key) = key {
                    merge_list_by_key(current, items, &key, order)?
                } else if is_primitive_merge_list(k)
                    || order.is_some_and(|o| o.iter().all(|x| !x.is_object()))
                {
                    merge_primitive_list(current, items, order)
                } else {
                    let mut clean = v.clone();
                    strip_directives(&mut clean);
                    clean
                };
                t.insert(k.clone(), merged);
            }
            other => {
                t.insert(k.clone(), other.clone());
            }
        }
    }
    // Directives that name fields without a sibling value.
    for (k, v) in p {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            let drop: Vec<&Value> = v.as_array().map(|a| a.iter().collect()).unwrap_or_default();
            if let Some(Value::Array(a)) = t.get_mut(field) {
                a.retain(|x| !drop.contains(&x));
            }
        } else if let Some(field) = k.strip_prefix("$setElementOrder/")
            && !p.contains_key(field)
            && let Some(Value::Array(a)) = t.get_mut(field)
            && let Some(order) = v.as_array()
        {
            reorder(a, order);
        }
    }
    Ok(())
}

fn merge_primitive_list(current: Value, items: &[Value], order: Option<&Vec<Value>>) -> Value {
    let mut out = match current {
        Value::Array(a) => a,
        _ => Vec::new(),
    };
    for i in items {
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    if let Some(order) = order {
        reorder(&mut out, order);
    }
    Value::Array(out)
}

fn merge_list_by_key(
    current: Value,
    items: &[Value],
    key: &str,
    order: Option<&Vec<Value>>,
) -> Result<Value, PatchError> {
    let mut out = match current {
        Value::Array(a) => a,
        _ => Vec::new(),
    };
    for item in items {
        let Some(k) = item.get(key) else {
            // Not keyed: behave like a replace of the element set.
            out.push(item.clone());
            continue;
        };
        let pos = out.iter().position(|x| x.get(key) == Some(k));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                out.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut out[i], item)?,
            (None, false) => {
                let mut v = Value::Null;
                strategic_merge(&mut v, item)?;
                out.push(v);
            }
        }
    }
    if let Some(order) = order {
        reorder(&mut out, order);
    }
    Ok(Value::Array(out))
}

/// Orders `list` like `order` (elements or key-only maps); unlisted elements keep their place
/// after the listed ones.
fn reorder(list: &mut Vec<Value>, order: &[Value]) {
    let matches = |x: &Value, o: &Value| -> bool {
        match o {
            Value::Object(m) => m.iter().all(|(k, v)| x.get(k) == Some(v)),
            other => x == other,
        }
    };
    let mut rest = std::mem::take(list);
    for o in order {
        if let Some(i) = rest.iter().position(|x| matches(x, o)) {
            list.push(rest.remove(i));
        }
    }
    list.extend(rest);
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_rfc7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
        let mut t = json!({"a": [1, 2]});
        merge_patch(&mut t, &json!({"a": [3]}));
        assert_eq!(t, json!({"a": [3]}));
    }

    #[test]
    fn json_patch_ops() {
        let mut d = json!({"data": {"a": "1"}, "l": [1, 2]});
        json_patch(
            &mut d,
            &json!([
                {"op": "add", "path": "/data/j", "value": "2"},
                {"op": "replace", "path": "/data/a", "value": "x"},
                {"op": "remove", "path": "/l/0"},
                {"op": "add", "path": "/l/-", "value": 9},
                {"op": "copy", "from": "/data/j", "path": "/data/k"},
                {"op": "move", "from": "/data/k", "path": "/m"},
                {"op": "test", "path": "/m", "value": "2"},
                {"op": "add", "path": "/data/a~1b", "value": "s"}
            ]),
        )
        .unwrap();
        assert_eq!(
            d,
            json!({"data": {"a": "x", "j": "2", "a/b": "s"}, "l": [2, 9], "m": "2"})
        );
        assert!(json_patch(&mut d, &json!([{"op": "test", "path": "/m", "value": "3"}])).is_err());
        assert!(json_patch(&mut d, &json!([{"op": "remove", "path": "/nope"}])).is_err());
        assert!(
            json_patch(
                &mut d,
                &json!([{"op": "replace", "path": "/nope", "value": 1}])
            )
            .is_err()
        );
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let mut d = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        strategic_merge(
            &mut d,
            &json!({"spec": {
                "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                "containers": [{"name": "a", "image": "x2"}]}}),
        )
        .unwrap();
        assert_eq!(
            d,
            json!({"spec": {"containers": [{"name": "b", "image": "y"}, {"name": "a", "image": "x2"}]}})
        );
        strategic_merge(
            &mut d,
            &json!({"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}),
        )
        .unwrap();
        assert_eq!(
            d,
            json!({"spec": {"containers": [{"name": "a", "image": "x2"}]}})
        );
    }

    #[test]
    fn strategic_directives() {
        let mut d = json!({"metadata": {"finalizers": ["a"]}, "data": {"x": "1", "y": "2"}, "s": {"a": 1, "b": 2}});
        strategic_merge(
            &mut d,
            &json!({"metadata": {"finalizers": ["b"]}, "data": {"y": null, "z": "3"},
                    "s": {"$retainKeys": ["b", "c"], "c": 3}}),
        )
        .unwrap();
        assert_eq!(
            d,
            json!({"metadata": {"finalizers": ["a", "b"]}, "data": {"x": "1", "z": "3"}, "s": {"b": 2, "c": 3}})
        );
        strategic_merge(
            &mut d,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}, "s": {"$patch": "replace", "q": 1}}),
        )
        .unwrap();
        assert_eq!(d["metadata"]["finalizers"], json!(["b"]));
        assert_eq!(d["s"], json!({"q": 1}));
    }
}

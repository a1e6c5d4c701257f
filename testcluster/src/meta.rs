//! Object metadata helpers: name validation, label and field selectors.

use serde_json::{Map, Value};

use crate::resources::NameRule;
use crate::status::Cause;

/// Validates an object name; returns the 422 cause if it is invalid.
pub fn validate_name(name: &str, rule: NameRule) -> Option<Cause> {
    let invalid = |msg: &str| Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: \"{name}\": {msg}"),
        field: "metadata.name".into(),
    };
    match rule {
        NameRule::PathSegment => {
            if name == "." || name == ".." {
                return Some(invalid("may not be '.' or '..'"));
            }
            if name.contains('/') || name.contains('%') {
                return Some(invalid("may not contain '/' or '%'"));
            }
            None
        }
        NameRule::Label => {
            if name.len() > 63 || !is_dns_label(name) {
                return Some(invalid(
                    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
                ));
            }
            None
        }
        NameRule::Subdomain => {
            if name.len() > 253 || !name.split('.').all(is_dns_label) {
                return Some(invalid(
                    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
                ));
            }
            None
        }
    }
}

fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector (`a=b,c!=d,e in (f,g),!h`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector(Vec<Req>);

impl LabelSelector {
    /// Parses a selector; an empty string selects everything.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for term in split_terms(s) {
            let t = term.trim();
            if t.is_empty() {
                continue;
            }
            let req = if let Some(k) = t.strip_prefix('!') {
                Req::NotExists(k.trim().to_string())
            } else if let Some((k, v)) = t.split_once("!=") {
                Req::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once("==") {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once('=') {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some((k, set)) = split_set_op(t, " notin ") {
                Req::NotIn(k, set?)
            } else if let Some((k, set)) = split_set_op(t, " in ") {
                Req::In(k, set?)
            } else if t
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
            {
                Req::Exists(t.to_string())
            } else {
                return Err(format!("unable to parse requirement: {t:?}"));
            };
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether labels (sorted key-value pairs or any lookup) match.
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.0.iter().all(|r| match r {
            Req::Eq(k, v) => get(k).as_deref() == Some(v),
            Req::NotEq(k, v) => get(k).as_deref() != Some(v),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
        })
    }
}

fn split_terms(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn split_set_op(t: &str, op: &str) -> Option<(String, Result<Vec<String>, String>)> {
    let (k, rest) = t.split_once(op)?;
    let rest = rest.trim();
    let set = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .map(|inner| {
            inner
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .ok_or_else(|| format!("expected a parenthesized set in {t:?}"));
    Some((k.trim().to_string(), set))
}

/// A parsed field selector: `path=value`, `path==value`, `path!=value`, comma-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses a field selector.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for t in s.split(',') {
            let t = t.trim();
            if t.is_empty() {
                continue;
            }
            let (k, eq, v) = if let Some((k, v)) = t.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = t.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = t.split_once('=') {
                (k, true, v)
            } else {
                return Err(format!("invalid field selector: {t:?}"));
            };
            out.push((k.trim().to_string(), eq, v.trim().to_string()));
        }
        Ok(Self(out))
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The exact name required by `metadata.name=X`, if any.
    pub fn required_name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, eq, _)| k == "metadata.name" && *eq)
            .map(|(_, _, v)| v.as_str())
    }

    /// Whether the selector needs more than name and namespace.
    pub fn needs_object(&self) -> bool {
        self.0
            .iter()
            .any(|(k, _, _)| k != "metadata.name" && k != "metadata.namespace")
    }

    /// Whether an object matches; `get` resolves a dotted path to its string value.
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.0.iter().all(|(k, eq, v)| {
            let actual = get(k).unwrap_or_default();
            (actual == *v) == *eq
        })
    }
}

/// Resolves a dotted field path (`spec.nodeName`) to a string, as field selectors compare.
pub fn field_string(obj: &Value, path: &str) -> Option<String> {
    let mut cur = obj;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

/// `obj.metadata`, created if missing.
pub fn metadata_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = Value::Object(Map::new());
    }
    let o = obj.as_object_mut().unwrap_or_else(|| unreachable!());
    let m = o
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if !m.is_object() {
        *m = Value::Object(Map::new());
    }
    m.as_object_mut().unwrap_or_else(|| unreachable!())
}

/// A string field of `metadata`.
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// Whether two objects differ outside `metadata` and `status` (what bumps `generation`).
pub fn spec_changed(old: &Value, new: &Value) -> bool {
    let empty = Map::new();
    let a = old.as_object().unwrap_or(&empty);
    let b = new.as_object().unwrap_or(&empty);
    let outside = |k: &String| !matches!(k.as_str(), "metadata" | "status");
    a.iter()
        .filter(|(k, _)| outside(k))
        .any(|(k, v)| b.get(k) != Some(v))
        || b.keys().filter(|k| outside(k)).any(|k| !a.contains_key(k))
}

/// Sorted label pairs of an object.
pub fn labels_of(obj: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = obj
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|l| {
            l.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names() {
        assert!(validate_name("a-b.c", NameRule::Subdomain).is_none());
        assert!(validate_name("Bad_Name", NameRule::Subdomain).is_some());
        assert!(validate_name("a.b", NameRule::Label).is_some());
        assert!(validate_name("system:foo", NameRule::PathSegment).is_none());
        assert!(validate_name("", NameRule::Subdomain).is_some());
    }

    #[test]
    fn label_selectors() {
        let labels = [("app", "web"), ("tier", "fe")];
        let get = |k: &str| {
            labels
                .iter()
                .find(|(a, _)| *a == k)
                .map(|(_, v)| v.to_string())
        };
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web,tier=fe", true),
            ("app!=web", false),
            ("app in (web, db)", true),
            ("tier notin (fe)", false),
            ("app", true),
            ("!app", false),
            ("!missing,app in (x,web)", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).unwrap().matches(get),
                want,
                "{sel}"
            );
        }
    }

    #[test]
    fn field_selectors() {
        let obj = json!({"metadata": {"name": "a", "namespace": "n"}, "spec": {"x": 1}});
        let f = FieldSelector::parse("metadata.name=a,spec.x!=2").unwrap();
        assert!(f.matches(|p| field_string(&obj, p)));
        assert_eq!(f.required_name(), Some("a"));
        assert!(f.needs_object());
    }

    #[test]
    fn generation_ignores_metadata_and_status() {
        let a = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"x": 1}, "status": {"y": 1}});
        let b = json!({"metadata": {"labels": {"a": "2"}}, "spec": {"x": 1}, "status": {"y": 2}});
        assert!(!spec_changed(&a, &b));
        let c = json!({"metadata": {}, "spec": {"x": 2}});
        assert!(spec_changed(&a, &c));
    }
}

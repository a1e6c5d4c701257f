//! Kubernetes label selectors (`matchLabels` and `matchExpressions`).

use std::collections::BTreeMap;

use serde_json::Value;

/// A parsed label selector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

impl LabelSelector {
    /// Parse a `LabelSelector` JSON value. Errors describe what is wrong.
    pub fn parse(value: &Value) -> Result<LabelSelector, String> {
        let Some(obj) = value.as_object() else {
            return Err(
                "selector must be an object with matchLabels and/or matchExpressions".into(),
            );
        };
        let mut requirements = Vec::new();
        for key in obj.keys() {
            if key != "matchLabels" && key != "matchExpressions" {
                return Err(format!(
                    "unknown field {key:?} in selector (expected matchLabels or matchExpressions)"
                ));
            }
        }
        if let Some(ml) = obj.get("matchLabels") {
            let Some(ml) = ml.as_object() else {
                return Err("matchLabels must be a map of strings".into());
            };
            for (k, v) in ml {
                let Some(v) = v.as_str() else {
                    return Err(format!(
                        "matchLabels[{k:?}] must be a string; quote the value"
                    ));
                };
                validate_key(k)?;
                validate_value(v)?;
                requirements.push(Requirement {
                    key: k.clone(),
                    op: Op::In,
                    values: vec![v.to_string()],
                });
            }
        }
        if let Some(me) = obj.get("matchExpressions") {
            let Some(me) = me.as_array() else {
                return Err("matchExpressions must be a list".into());
            };
            for (i, e) in me.iter().enumerate() {
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("matchExpressions[{i}].key is required"))?;
                validate_key(key)?;
                let op = match e.get("operator").and_then(Value::as_str) {
                    Some("In") => Op::In,
                    Some("NotIn") => Op::NotIn,
                    Some("Exists") => Op::Exists,
                    Some("DoesNotExist") => Op::DoesNotExist,
                    Some(other) => {
                        return Err(format!(
                            "matchExpressions[{i}].operator {other:?} is not one of In, NotIn, Exists, DoesNotExist"
                        ));
                    }
                    None => return Err(format!("matchExpressions[{i}].operator is required")),
                };
                let mut values = Vec::new();
                if let Some(vs) = e.get("values") {
                    let Some(vs) = vs.as_array() else {
                        return Err(format!("matchExpressions[{i}].values must be a list"));
                    };
                    for v in vs {
                        let Some(v) = v.as_str() else {
                            return Err(format!(
                                "matchExpressions[{i}].values must be strings; quote them"
                            ));
                        };
                        validate_value(v)?;
                        values.push(v.to_string());
                    }
                }
                match op {
                    Op::In | Op::NotIn if values.is_empty() => {
                        return Err(format!(
                            "matchExpressions[{i}]: values must be non-empty for operator In or NotIn"
                        ));
                    }
                    Op::Exists | Op::DoesNotExist if !values.is_empty() => {
                        return Err(format!(
                            "matchExpressions[{i}]: values must be empty for operator Exists or DoesNotExist"
                        ));
                    }
                    _ => {}
                }
                requirements.push(Requirement {
                    key: key.to_string(),
                    op,
                    values,
                });
            }
        }
        Ok(LabelSelector { requirements })
    }

    /// The valid `spec.selector` of a ClusterSelector or NamespaceSelector object, if any
    /// (invalid selectors are reported by validation and select nothing).
    pub fn of_selector_object(o: &crate::object::Object) -> Option<LabelSelector> {
        o.value
            .get("spec")
            .and_then(|s| s.get("selector"))
            .and_then(|s| LabelSelector::parse(s).ok())
    }

    /// True when the selector has no requirement (it matches everything).
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| {
            let v = labels.get(&r.key);
            match r.op {
                Op::In => v.is_some_and(|v| r.values.contains(v)),
                Op::NotIn => v.is_none_or(|v| !r.values.contains(v)),
                Op::Exists => v.is_some(),
                Op::DoesNotExist => v.is_none(),
            }
        })
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'
}

fn validate_name_part(s: &str, what: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 63 {
        return Err(format!("{what} {s:?} must be 1 to 63 characters"));
    }
    let first = s.chars().next().unwrap_or(' ');
    let last = s.chars().last().unwrap_or(' ');
    if !first.is_ascii_alphanumeric()
        || !last.is_ascii_alphanumeric()
        || !s.chars().all(is_name_char)
    {
        return Err(format!(
            "{what} {s:?} must consist of alphanumerics, '-', '_' or '.', and start and end with an alphanumeric"
        ));
    }
    Ok(())
}

/// Validate a label key (`[prefix/]name`).
pub fn validate_key(key: &str) -> Result<(), String> {
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            if !crate::names::is_dns1123_subdomain(prefix) {
                return Err(format!(
                    "label key prefix {prefix:?} must be a DNS-1123 subdomain"
                ));
            }
            name
        }
        None => key,
    };
    validate_name_part(name, "label key name")
}

/// Validate a label value (may be empty).
pub fn validate_value(v: &str) -> Result<(), String> {
    if v.is_empty() {
        Ok(())
    } else {
        validate_name_part(v, "label value")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn match_labels_and_expressions() {
        let s = LabelSelector::parse(&json!({
            "matchLabels": {"env": "prod"},
            "matchExpressions": [{"key": "cloud", "operator": "NotIn", "values": ["azure"]}, {"key": "tier", "operator": "Exists"}]
        }))
        .unwrap();
        assert!(s.matches(&labels(&[("env", "prod"), ("cloud", "aws"), ("tier", "1")])));
        assert!(!s.matches(&labels(&[
            ("env", "prod"),
            ("cloud", "azure"),
            ("tier", "1")
        ])));
        assert!(!s.matches(&labels(&[("env", "prod")])));
        assert!(!s.matches(&labels(&[])));
    }

    #[test]
    fn invalid_selectors() {
        assert!(
            LabelSelector::parse(&json!({"matchExpressions": [{"key": "a", "operator": "In"}]}))
                .is_err()
        );
        assert!(
            LabelSelector::parse(
                &json!({"matchExpressions": [{"key": "a", "operator": "Has", "values": ["x"]}]})
            )
            .is_err()
        );
        assert!(LabelSelector::parse(&json!({"matchLabels": {"a": 1}})).is_err());
        assert!(LabelSelector::parse(&json!({"matchLabels": {"-bad": "x"}})).is_err());
        assert!(LabelSelector::parse(&json!({})).unwrap().is_empty());
    }
}

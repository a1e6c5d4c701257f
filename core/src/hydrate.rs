//! `nomos hydrate` output: what each cluster gets, as files.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::object::Object;
use crate::{ann, yaml};

/// Output format of hydrated files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Yaml,
    Json,
}

impl OutputFormat {
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Yaml => "yaml",
            OutputFormat::Json => "json",
        }
    }
}

/// The object as `hydrate` writes it: Config Sync's own annotations and labels removed, except
/// `configmanagement.gke.io/managed`.
pub fn clean(o: &Object) -> Value {
    let mut v = o.value.clone();
    if let Some(md) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in ["annotations", "labels"] {
            if let Some(map) = md.get_mut(field).and_then(Value::as_object_mut) {
                map.retain(|k, _| {
                    k == ann::MANAGED
                        || !(k.starts_with("configmanagement.gke.io/")
                            || k.starts_with("configsync.gke.io/"))
                });
                if map.is_empty() {
                    md.remove(field);
                }
            }
        }
    }
    v
}

/// Relative file paths for `objects`, Config Sync style: `<namespace>/<kind>_<name>.<ext>`
/// (lower case; cluster-scoped objects at the top), or `<kind>.<group>_<name>` when two objects
/// of different groups would share a file name.
pub fn file_names(objects: &[Object], format: OutputFormat) -> Vec<String> {
    let base = |o: &Object, with_group: bool| {
        let kind = o.kind().to_lowercase();
        let stem = if with_group && !o.group().is_empty() {
            format!("{kind}.{}_{}", o.group(), o.name())
        } else {
            format!("{kind}_{}", o.name())
        };
        let stem = stem.to_lowercase();
        let ns = o.namespace();
        if ns.is_empty() {
            format!("{stem}.{}", format.extension())
        } else {
            format!("{ns}/{stem}.{}", format.extension())
        }
    };
    let mut counts: HashMap<String, usize> = HashMap::new();
    for o in objects {
        *counts.entry(base(o, false)).or_default() += 1;
    }
    objects
        .iter()
        .map(|o| {
            if counts[&base(o, false)] > 1 {
                base(o, true)
            } else {
                base(o, false)
            }
        })
        .collect()
}

/// Render one cluster's objects as files (path → content). YAML files hold one document each,
/// JSON files a `List` of one item, as `nomos hydrate` writes them.
pub fn render_files(objects: &[Object], format: OutputFormat) -> BTreeMap<String, String> {
    let names = file_names(objects, format);
    let mut files: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (o, name) in objects.iter().zip(names) {
        files.entry(name).or_default().push(clean(o));
    }
    files
        .into_iter()
        .map(|(name, values)| (name, render(&values, format)))
        .collect()
}

/// Render all objects into one stream (`--flat`).
pub fn render_flat(objects: &[Object], format: OutputFormat) -> String {
    let values: Vec<Value> = objects.iter().map(clean).collect();
    render(&values, format)
}

fn render(values: &[Value], format: OutputFormat) -> String {
    match format {
        OutputFormat::Yaml => {
            let mut s = String::new();
            for v in values {
                s.push_str("---\n");
                s.push_str(&yaml::to_yaml(v));
            }
            s
        }
        OutputFormat::Json => {
            let list = json!({"apiVersion": "v1", "kind": "List", "items": values});
            let mut s = serde_json::to_string_pretty(&list).unwrap_or_default();
            s.push('\n');
            s
        }
    }
}

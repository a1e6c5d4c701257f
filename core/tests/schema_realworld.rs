//! Every object of the kube-prometheus manifests validates clean: custom resources against the
//! CRDs of `setup/`, built-in kinds against the shipped schemas of every Kubernetes version.

use std::path::{Path, PathBuf};

use nomos_core::schema::{BuiltinSchemas, CrdSchemas, SchemaError, split_api_version};
use nomos_core::yaml::{self, Limits};
use serde_json::Value;

struct Obj {
    file: String,
    text_index: usize,
    doc_index: usize,
    /// Path of the item when the document is a `List`.
    item: Option<usize>,
    value: Value,
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(p);
        }
    }
}

fn load(dir: &Path) -> (Vec<String>, Vec<Obj>) {
    let mut files = Vec::new();
    yaml_files(dir, &mut files);
    let mut texts = Vec::new();
    let mut objects = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let parsed = yaml::parse(&text, &Limits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let file = f.strip_prefix(dir).unwrap().display().to_string();
        for doc in parsed.documents {
            let kind = doc.value["kind"].as_str().unwrap_or_default().to_owned();
            if kind.ends_with("List") {
                for (i, item) in doc.value["items"].as_array().unwrap().iter().enumerate() {
                    objects.push(Obj {
                        file: file.clone(),
                        text_index: texts.len(),
                        doc_index: doc.index,
                        item: Some(i),
                        value: item.clone(),
                    });
                }
            } else {
                objects.push(Obj {
                    file: file.clone(),
                    text_index: texts.len(),
                    doc_index: doc.index,
                    item: None,
                    value: doc.value,
                });
            }
        }
        texts.push(text);
    }
    (texts, objects)
}

fn describe(texts: &[String], o: &Obj, e: &SchemaError) -> String {
    let mut path = Vec::new();
    if let Some(i) = o.item {
        path.push(yaml::PathSegment::Key("items".into()));
        path.push(yaml::PathSegment::Index(i));
    }
    path.extend(e.path.iter().cloned());
    let line = yaml::locate(&texts[o.text_index], o.doc_index, &path).map_or(0, |p| p.line);
    format!("{}:{line}: {e}", o.file)
}

#[test]
fn kube_prometheus_validates_clean() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/realworld/kube-prometheus/manifests");
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    }
    let (texts, objects) = load(&dir);
    assert!(objects.len() > 100, "only {} objects", objects.len());
    let crds: Vec<&Value> = objects
        .iter()
        .map(|o| &o.value)
        .filter(|v| v["kind"] == "CustomResourceDefinition")
        .collect();
    assert_eq!(crds.len(), 10);

    for version in nomos_schemas::versions() {
        let builtin = BuiltinSchemas::load(version).unwrap();
        let (custom, crd_errors) = CrdSchemas::from_crds(builtin, &crds);
        assert_eq!(crd_errors, vec![], "{version}");
        let mut problems = Vec::new();
        let (mut as_custom, mut as_builtin) = (0, 0);
        for o in &objects {
            let (group, v) = split_api_version(o.value["apiVersion"].as_str().unwrap());
            let kind = o.value["kind"].as_str().unwrap();
            let validator = match custom.validator_for(group, v, kind) {
                Some(val) => {
                    as_custom += 1;
                    val
                }
                None => {
                    as_builtin += 1;
                    builtin
                        .validator_for(group, v, kind)
                        .unwrap_or_else(|| panic!("{}: no schema for {group}/{v} {kind}", o.file))
                }
            };
            problems.extend(
                validator
                    .validate(&o.value)
                    .iter()
                    .map(|e| describe(&texts, o, e)),
            );
        }
        assert_eq!(problems, Vec::<String>::new(), "Kubernetes {version}");
        assert!(as_custom >= 23, "{as_custom} custom resources");
        assert!(as_builtin >= 100, "{as_builtin} built-in objects");
    }
}

#[test]
fn kube_prometheus_mistakes_are_found_with_their_line() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/realworld/kube-prometheus/manifests");
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    }
    let crd_text =
        std::fs::read_to_string(dir.join("setup/0prometheusCustomResourceDefinition.yaml"))
            .unwrap();
    let crd = yaml::parse(&crd_text, &Limits::default())
        .unwrap()
        .documents
        .remove(0)
        .value;
    let builtin = BuiltinSchemas::load_default();
    let (custom, _) = CrdSchemas::from_crds(builtin, &[&crd]);
    let text = std::fs::read_to_string(dir.join("prometheus-prometheus.yaml"))
        .unwrap()
        .replace("  replicas: 2\n", "  replica: 2\n")
        .replace("memory: 400Mi", "memory: 400 Mi");
    let doc = yaml::parse(&text, &Limits::default())
        .unwrap()
        .documents
        .remove(0);
    let validator = custom
        .validator_for("monitoring.coreos.com", "v1", "Prometheus")
        .unwrap();
    let found: Vec<(u32, String)> = validator
        .validate(&doc.value)
        .iter()
        .map(|e| {
            (
                yaml::locate(&text, doc.index, &e.path).unwrap().line,
                e.to_string(),
            )
        })
        .collect();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() as u32 + 1;
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0].0, line_of("replica: 2"));
    assert_eq!(
        found[0].1,
        "spec.replica: unknown field \"replica\" in Prometheus.monitoring.coreos.com/v1 spec (did you mean \"replicas\"?)"
    );
    assert_eq!(found[1].0, line_of("400 Mi"));
    assert!(
        found[1]
            .1
            .starts_with("spec.resources.requests.memory: \"400 Mi\" does not match the pattern"),
        "{}",
        found[1].1
    );
}

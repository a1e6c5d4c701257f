//! Conformance with Config Sync: every case of `shared/conformance/expectations.yaml`, run
//! through the real `nomos` binary (vet verdicts and code sets, per-cluster verdicts, hydrate
//! output compared object by object).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

fn nomos() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nomos"))
}

fn parse_yaml(text: &str) -> Vec<Value> {
    nomos_core::yaml::parse(text, &Default::default())
        .expect("valid YAML")
        .documents
        .into_iter()
        .map(|d| d.value)
        .collect()
}

fn split_args(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

struct Case {
    path: PathBuf,
    format: String,
    args: Vec<String>,
    vet: Value,
    per_cluster: Option<Value>,
    hydrate: Vec<Value>,
}

fn cases() -> Vec<Case> {
    let file = shared().join("conformance/expectations.yaml");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the conformance data lives in ../shared beside the checkout)",
            file.display()
        )
    });
    let doc = parse_yaml(&text).remove(0);
    doc["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| Case {
            path: shared()
                .join("conformance")
                .join(c["path"].as_str().unwrap()),
            format: c["format"].as_str().unwrap().to_string(),
            args: c
                .get("args")
                .and_then(Value::as_str)
                .map(split_args)
                .unwrap_or_default(),
            vet: c["vet"].clone(),
            per_cluster: c.get("per_cluster").cloned(),
            hydrate: c
                .get("hydrate")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        })
        .collect()
}

/// Run vet and return (exit ok, distinct codes, total error count, report).
fn run_vet(case: &Case, extra: &[String]) -> (bool, BTreeSet<String>, usize, Value) {
    let out = nomos()
        .arg("vet")
        .arg("--path")
        .arg(&case.path)
        .arg(format!("--source-format={}", case.format))
        .args(&case.args)
        .args(extra)
        .arg("--diagnostics=json")
        .output()
        .expect("run nomos vet");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: bad JSON report: {e}\n{}",
            case.path.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let errors = report["errors"].as_array().cloned().unwrap_or_default();
    let codes = errors
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_string())
        .collect();
    (out.status.success(), codes, errors.len(), report)
}

fn check_verdict(
    label: &str,
    expected: &Value,
    got: (bool, BTreeSet<String>, usize, Value),
    failures: &mut Vec<String>,
) {
    let (ok, codes, count, report) = got;
    if expected.as_str() == Some("ok") {
        if !ok || !codes.is_empty() {
            failures.push(format!(
                "{label}: expected ok, got {codes:?}\n{}",
                serde_json::to_string_pretty(&report["errors"]).unwrap()
            ));
        }
        return;
    }
    let want: BTreeSet<String> = expected["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    if ok {
        failures.push(format!(
            "{label}: expected failure with {want:?}, but vet passed"
        ));
    }
    if codes != want {
        failures.push(format!(
            "{label}: expected codes {want:?}, got {codes:?}\n{}",
            serde_json::to_string_pretty(&report["errors"]).unwrap()
        ));
    }
    if let Some(n) = expected.get("count").and_then(Value::as_u64)
        && n as usize != count
    {
        failures.push(format!("{label}: expected {n} errors, got {count}"));
    }
}

/// All files under `dir`, relative, mapped to the objects they hold.
fn objects_by_file(dir: &Path) -> BTreeMap<String, Vec<Value>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.unwrap();
        if !e.file_type().is_file() {
            continue;
        }
        let rel = e
            .path()
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(e.path()).unwrap();
        let mut objs = Vec::new();
        for v in parse_yaml(&text) {
            if v["kind"] == "List" {
                objs.extend(v["items"].as_array().cloned().unwrap_or_default());
            } else {
                objs.push(v);
            }
        }
        out.insert(rel, objs);
    }
    out
}

fn check_hydrate(case: &Case, h: &Value, failures: &mut Vec<String>) {
    let args = split_args(h["args"].as_str().unwrap_or(""));
    let expect = shared()
        .join("conformance")
        .join(h["expect"].as_str().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let outdir = tmp.path().join("compiled");
    let out = nomos()
        .arg("hydrate")
        .arg("--path")
        .arg(&case.path)
        .arg(format!("--source-format={}", case.format))
        .args(&case.args)
        .args(&args)
        .arg("--output")
        .arg(&outdir)
        .output()
        .expect("run nomos hydrate");
    let label = format!("hydrate {} {}", case.path.display(), args.join(" "));
    if !out.status.success() {
        failures.push(format!(
            "{label}: failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
        return;
    }
    let got = objects_by_file(&outdir);
    let want = objects_by_file(&expect);
    let got_files: BTreeSet<_> = got.keys().collect();
    let want_files: BTreeSet<_> = want.keys().collect();
    if got_files != want_files {
        failures.push(format!(
            "{label}: file sets differ\n  missing: {:?}\n  unexpected: {:?}",
            want_files.difference(&got_files).collect::<Vec<_>>(),
            got_files.difference(&want_files).collect::<Vec<_>>()
        ));
        return;
    }
    for (f, objs) in &want {
        if &got[f] != objs {
            failures.push(format!(
                "{label}: {f} differs\n  want: {}\n  got:  {}",
                serde_json::to_string(objs).unwrap(),
                serde_json::to_string(&got[f]).unwrap()
            ));
        }
    }
}

#[test]
fn every_conformance_case_passes() {
    let mut failures = Vec::new();
    let all = cases();
    assert!(
        all.len() >= 30,
        "expected the full conformance file, found {} cases",
        all.len()
    );
    for case in &all {
        let label = format!(
            "vet {} ({})",
            case.path
                .strip_prefix(shared())
                .unwrap_or(&case.path)
                .display(),
            case.format
        );
        check_verdict(&label, &case.vet, run_vet(case, &[]), &mut failures);
        if let Some(pc) = &case.per_cluster {
            for (cluster, expected) in pc.as_object().unwrap() {
                let got = run_vet(case, &[format!("--clusters={cluster}")]);
                check_verdict(
                    &format!("{label} --clusters={cluster}"),
                    expected,
                    got,
                    &mut failures,
                );
            }
        }
        for h in &case.hydrate {
            check_hydrate(case, h, &mut failures);
        }
    }
    assert!(
        failures.is_empty(),
        "{} conformance failure(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

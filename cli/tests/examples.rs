//! Snapshots of `nomos vet` and `nomos hydrate` over `policy-examples/`: the output people read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../policy-examples")
        .canonicalize()
        .unwrap()
}

fn nomos(args: &[&str], path: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nomos"))
        .args(args)
        .arg("--path")
        .arg(path)
        .output()
        .unwrap();
    let root = path.to_string_lossy().to_string();
    let clean = |b: &[u8]| String::from_utf8_lossy(b).replace(&root, "<ROOT>");
    (out.status.success(), clean(&out.stdout), clean(&out.stderr))
}

fn hydrate_snapshot(path: &Path, format: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let st = Command::new(env!("CARGO_BIN_EXE_nomos"))
        .args(["hydrate", &format!("--source-format={format}"), "--path"])
        .arg(path)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "hydrate failed: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let mut s = String::new();
    for e in walkdir::WalkDir::new(&out).sort_by_file_name() {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e
                .path()
                .strip_prefix(&out)
                .unwrap()
                .to_string_lossy()
                .to_string();
            s.push_str(&format!(
                "### {rel}\n{}",
                std::fs::read_to_string(e.path()).unwrap()
            ));
        }
    }
    s
}

#[test]
fn hierarchical_example_is_valid() {
    let (ok, stdout, stderr) = nomos(&["vet"], &examples().join("hierarchical"));
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "✅ No validation issues found.");
}

#[test]
fn unstructured_example_is_valid() {
    let (ok, stdout, stderr) = nomos(
        &["vet", "--source-format=unstructured"],
        &examples().join("unstructured"),
    );
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "✅ No validation issues found.");
}

#[test]
fn hierarchical_hydrate_snapshot() {
    insta::assert_snapshot!(hydrate_snapshot(
        &examples().join("hierarchical"),
        "hierarchy"
    ));
}

#[test]
fn unstructured_hydrate_snapshot() {
    insta::assert_snapshot!(hydrate_snapshot(
        &examples().join("unstructured"),
        "unstructured"
    ));
}

/// Each invalid example fails with exactly its documented codes; the messages are snapshotted.
#[test]
fn invalid_examples_fail_with_their_codes() {
    let dir = examples().join("invalid");
    let text = std::fs::read_to_string(dir.join("expected.yaml")).unwrap();
    let doc = nomos_core::yaml::parse(&text, &Default::default())
        .unwrap()
        .documents
        .remove(0)
        .value;
    let cases = doc
        .get("cases")
        .unwrap_or(&doc)
        .as_array()
        .cloned()
        .expect("a list of cases");
    assert!(cases.len() >= 10);
    let mut all = String::new();
    let mut failures = Vec::new();
    for c in cases {
        let name = c["dir"].as_str().unwrap();
        let format = c["format"].as_str().unwrap_or("hierarchy");
        let want: BTreeSet<String> = c["codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let path = dir.join(name);
        let (ok, _, stderr) = nomos(&["vet", &format!("--source-format={format}")], &path);
        let out = Command::new(env!("CARGO_BIN_EXE_nomos"))
            .args([
                "vet",
                &format!("--source-format={format}"),
                "--diagnostics=json",
                "--path",
            ])
            .arg(&path)
            .output()
            .unwrap();
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let got: BTreeSet<String> = report["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["code"].as_str().unwrap().to_string())
            .collect();
        if ok || got != want {
            failures.push(format!("{name}: want {want:?}, got {got:?}\n{stderr}"));
        }
        all.push_str(&format!("######## {name} ({format})\n{stderr}\n"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    insta::assert_snapshot!(all);
}

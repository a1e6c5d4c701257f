//! Real manifests (kube-prometheus, from the shared corpus): parse → write →
//! parse gives the same documents. Skipped with a message when the corpus
//! is absent.

use nomos_core::yaml::{Limits, parse, to_yaml};
use std::path::Path;

#[test]
fn yaml_kube_prometheus_manifests_round_trip() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/realworld/kube-prometheus/manifests");
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    }
    let mut files = 0;
    let mut documents = 0;
    // manifests/ and manifests/setup/ (the CRDs).
    let mut paths = Vec::new();
    let mut dirs = vec![dir.clone()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d)
            .expect("read_dir")
            .filter_map(Result::ok)
        {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path)
            } else {
                paths.push(path)
            }
        }
    }
    paths.sort();
    for path in paths {
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let first =
            parse(&text, &Limits::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for doc in &first.documents {
            let written = to_yaml(&doc.value);
            let again = parse(&written, &Limits::default())
                .unwrap_or_else(|e| panic!("{}: re-reading: {e}\n{written}", path.display()));
            assert_eq!(again.documents.len(), 1, "{}", path.display());
            assert_eq!(again.documents[0].value, doc.value, "{}", path.display());
            // Writing is stable.
            assert_eq!(
                to_yaml(&again.documents[0].value),
                written,
                "{}",
                path.display()
            );
            documents += 1;
        }
        files += 1;
    }
    assert!(files > 0, "no manifests in {}", dir.display());
    eprintln!("{files} files, {documents} documents round-tripped");
}
